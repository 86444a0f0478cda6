"""Untrusted files: planted pickles run no code, lying headers allocate nothing.

The planted pickles really do run code under plain ``pickle`` (the control tests prove
it by creating their marker), so their refusal by the CIFAR reader and by
``torch.load(weights_only=True)`` is what keeps the marker from appearing.
"""

from __future__ import annotations

import gzip
import os
import pickle
import struct
import time
import tracemalloc
import zipfile

import numpy as np
import pytest
import torch

from latentzoo.data import load_dataset
from latentzoo.data.restricted_pickle import load_plain_pickle
from latentzoo.errors import UserError


class _RunsShell:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch '{self.marker}'",))


class _RunsPython:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({str(self.marker)!r}, 'w').close()",))


def _planted_batches(marker):
    """(name, pickle bytes) of CIFAR batches that would create ``marker`` if unpickled freely."""
    good = np.zeros((1, 3072), dtype=np.uint8)
    code = f"open({str(marker)!r}, 'w').close()"
    return [
        ("exec, protocol 2", pickle.dumps({"data": _RunsPython(marker), "labels": [0]}, protocol=2)),
        ("exec, protocol 5", pickle.dumps({"data": _RunsPython(marker), "labels": [0]}, protocol=5)),
        ("os.system, protocol 0", pickle.dumps({"data": _RunsShell(marker), "labels": [0]}, protocol=0)),
        # A valid batch whose file names hide the payload: every value is unpickled, used or not.
        ("hidden in filenames", pickle.dumps({"data": good, "labels": [0],
                                              "filenames": [_RunsPython(marker)]}, protocol=2)),
        # The INST opcode (protocol 0): MARK, argument, then 'i' module name.
        ("INST opcode", b"(S" + repr(code).encode() + b"\nibuiltins\nexec\n."),
        # An object array whose element is the payload.
        ("object array", pickle.dumps({"data": np.array([_RunsPython(marker)], dtype=object),
                                       "labels": [0]}, protocol=2)),
        # numpy.memmap as the array class of _reconstruct (opens files) is not on the list.
        ("memmap subtype", pickle.dumps({"data": good.view(np.memmap), "labels": [0]}, protocol=2)),
    ]


def test_control_the_planted_pickles_do_run_code_under_plain_pickle(tmp_path):
    for name, raw in _planted_batches(tmp_path / "control")[:3]:
        marker = tmp_path / "control"
        pickle.loads(raw)
        assert marker.exists(), name
        marker.unlink()


def test_cifar_reader_refuses_planted_pickles_and_runs_nothing(tmp_path):
    marker = tmp_path / "marker"
    for i, (name, raw) in enumerate(_planted_batches(marker)):
        folder = tmp_path / f"cifar{i}"
        folder.mkdir()
        (folder / "data_batch_1").write_bytes(raw)
        with pytest.raises(UserError, match="refused to unpickle") as caught:
            load_dataset(str(folder))
        assert "data_batch_1" in str(caught.value), name
        assert not marker.exists(), f"{name}: the payload ran"


def test_refusal_names_the_global(tmp_path):
    raw = pickle.dumps({"data": _RunsShell(tmp_path / "m"), "labels": [0]}, protocol=4)
    with pytest.raises(UserError, match=r"refused to unpickle (posix|os|nt)\.system"):
        load_plain_pickle(raw, "batch")
    assert not (tmp_path / "m").exists()


def test_allowed_callables_cannot_be_tampered_with_or_misused():
    # BUILD on an allowed global would set attributes on it for every later load.
    tamper = b"\x80\x02cnumpy\ndtype\n}U\x08__call__K\x01sb."
    with pytest.raises(UserError, match="refused"):
        load_plain_pickle(tamper, "f")
    # _codecs.encode is allowed for latin-1 only (other codecs compress, transform, ...).
    other_codec = b"\x80\x02c_codecs\nencode\nX\x01\x00\x00\x00aX\x0a\x00\x00\x00zlib_codec\x86R."
    with pytest.raises(UserError, match="latin-1"):
        load_plain_pickle(other_codec, "f")
    latin1 = b"\x80\x02c_codecs\nencode\nX\x01\x00\x00\x00aX\x06\x00\x00\x00latin1\x86R."
    assert load_plain_pickle(latin1, "f") == b"a"


def test_torch_load_weights_only_refuses_the_planted_pickle(tmp_path):
    marker = tmp_path / "marker"
    checkpoint = tmp_path / "evil.ckpt"
    torch.save({"weight": torch.zeros(2), "payload": _RunsPython(marker)}, checkpoint)
    raw = tmp_path / "evil_raw.pt"
    raw.write_bytes(pickle.dumps({"payload": _RunsPython(marker)}, protocol=2))
    for path in (checkpoint, raw):
        with pytest.raises(pickle.UnpicklingError):
            torch.load(path, weights_only=True)
        assert not marker.exists()
    # Control: without weights_only the same file runs its payload.
    torch.load(checkpoint, weights_only=False)
    assert marker.exists()


def check_refused_cheaply(target, match):
    """Load ``target``; it must fail with UserError within 2 s, tracing under 20 MiB at peak."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(UserError, match=match):
            load_dataset(str(target))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20 * 2**20, f"peak traced allocation {peak / 2**20:.1f} MiB"
    assert time.perf_counter() - start < 2.0


TERA = struct.pack(">III", 10**6, 10**3, 10**3)  # 10^12 items


def test_idx_header_claiming_1e12_items_refused_before_allocating(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "train-images-idx3-ubyte").write_bytes(bytes([0, 0, 8, 3]) + TERA + bytes(1000))
    check_refused_cheaply(raw, "10000000000")
    gz = tmp_path / "gz"
    gz.mkdir()
    # A small gzip file that really does decompress to a lot of zeros after the lying header.
    (gz / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(bytes([0, 0, 8, 3]) + TERA + bytes(10**6)))
    check_refused_cheaply(gz, "may inflate to")


def test_gzip_that_inflates_past_its_claim_is_cut_at_claim_plus_one(tmp_path):
    # Header claims 4×8×8 bytes; the stream holds 8 MiB more. Reading stops one byte past the claim.
    folder = tmp_path / "bomb"
    folder.mkdir()
    body = bytes([0, 0, 8, 3]) + struct.pack(">III", 4, 8, 8) + bytes(256 + 8 * 2**20)
    (folder / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(body))
    check_refused_cheaply(folder, "extra bytes")


def test_npy_and_npz_headers_claiming_1e12_items_refused_before_allocating(tmp_path):
    import io

    header = np.lib.format.header_data_from_array_1_0(np.zeros((2, 2), dtype=np.float32))
    header["shape"] = (10**12, 1)
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, header)
    (tmp_path / "huge.npy").write_bytes(buffer.getvalue() + bytes(4096))
    check_refused_cheaply(tmp_path / "huge.npy", "10000000000")
    with zipfile.ZipFile(tmp_path / "huge.npz", "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("x.npy", buffer.getvalue() + bytes(10**6))
    check_refused_cheaply(tmp_path / "huge.npz", "10000000000")


def test_npz_member_declaring_more_than_deflate_can_expand_is_refused(tmp_path):
    path = tmp_path / "liar.npz"
    np.savez_compressed(path, x=np.zeros((4, 4)))
    raw = bytearray(path.read_bytes())
    # Patch the declared uncompressed size (local header offset 22, central directory offset 24).
    local = raw.index(b"PK\x03\x04")
    central = raw.index(b"PK\x01\x02")
    raw[local + 22:local + 26] = struct.pack("<I", 2**32 - 2)
    raw[central + 24:central + 28] = struct.pack("<I", 2**32 - 2)
    path.write_bytes(bytes(raw))
    check_refused_cheaply(path, "claims 4294967294 bytes")


def test_pickles_with_lying_sizes_refused_before_allocating(tmp_path):
    class LyingArray:
        def __reduce__(self):
            rebuild = np.zeros(1).__reduce__()[0]
            return (rebuild, (np.ndarray, (0,), b"b"), (1, (10**12,), np.dtype(np.uint8), False, b"abc"))

    cases = {
        "array": pickle.dumps({"data": LyingArray(), "labels": [0]}, protocol=2),
        # BINBYTES8 whose length field says 1 TiB.
        "bytes8": b"\x80\x04\x8e" + struct.pack("<Q", 2**40) + b"abc.",
        # LONG_BINPUT 2^31 - 1: C pickle would size its memo table to 2^32 pointers and zero it.
        "memo": b"\x80\x02Nr\xff\xff\xff\x7f.",
        # A frame longer than the file.
        "frame": b"\x80\x04\x95" + struct.pack("<Q", 2**40) + b"N.",
    }
    for name, raw in cases.items():
        folder = tmp_path / name
        folder.mkdir()
        (folder / "data_batch_1").write_bytes(raw)
        check_refused_cheaply(folder, "data_batch_1")


# ---------------------------------------------------------------- nesting (issue 14, item 1)

def _chain_then_deepen(links: int, deepen_by: int) -> bytes:
    """Lists L1 = [A], L2 = [L1], ... (each kept in the memo), then A made ``deepen_by`` levels deeper."""
    out = b"\x80\x02]q\x00"  # A = [], memo 0
    for i in range(1, links + 1):
        out += b"]" + b"h" + bytes([i - 1]) + b"a" + b"q" + bytes([i]) + b"0"  # Li = [L(i-1)], memo i, pop
    if deepen_by:
        out += b"]" * deepen_by + b"a" * (deepen_by - 1) + b"a"  # A.append([[...]]) through A on the stack
    return out + b"h" + bytes([links]) + b"."  # return the outermost list


def test_nesting_limit_is_exact_and_holds_through_the_memo():
    from latentzoo.data.restricted_pickle import MAX_NESTING

    def depth(value):
        return 1 + max((depth(v) for v in value), default=0) if isinstance(value, list) else 0

    # A chain of 31 lists nests 32 levels with A's leaf slot: allowed, and built exactly as pickle builds it.
    links = MAX_NESTING - 1
    assert load_plain_pickle(_chain_then_deepen(links, 0), "f") == pickle.loads(_chain_then_deepen(links, 0))
    assert depth(pickle.loads(_chain_then_deepen(links, 0))) == MAX_NESTING
    # Deepening A after the chain holds it (reached through the memo) deepens the whole chain: refused.
    assert depth(pickle.loads(_chain_then_deepen(links, 3))) == MAX_NESTING + 3
    with pytest.raises(UserError, match=f"nested more than {MAX_NESTING}"):
        load_plain_pickle(_chain_then_deepen(links, 3), "f")


@pytest.mark.parametrize("protocol", range(6))
def test_plain_nested_data_round_trips_under_every_protocol(protocol):
    shared = [1.5, None, "é"]
    value = {"a": [shared, shared, (1, (2, (3, b"x")))], "b": {"c": {"d": [True, -(2**70)]}}, "e": (), "f": []}
    if protocol >= 4:
        value["s"] = {frozenset({1, 2}), (3, 4)}
    assert load_plain_pickle(pickle.dumps(value, protocol=protocol), "f") == value


def test_deep_keys_and_cycles_are_refused_before_being_built(tmp_path):
    # The opcode scan refuses them: hashing such a key overflowed the C stack (SIGSEGV).
    for raw in (b"\x80\x02}N" + b"\x85" * 100_000 + b"K\x01s.",  # {((...(None,)...),): 1}
                b"\x80\x02]q\x00h\x00a.",                          # a list holding itself
                b"\x80\x02" + b"(" * 50_000 + b"t" * 50_000 + b"."):  # 50,000 nested MARK-tuples
        start = time.perf_counter()
        with pytest.raises(UserError, match="nested more than"):
            load_plain_pickle(raw, "f")
        assert time.perf_counter() - start < 2.0


def test_running_out_of_memory_is_a_user_error_naming_the_size(tmp_path, monkeypatch):
    # The checks pass (a small file), then the allocation itself fails, as on a machine short of memory.
    np.save(tmp_path / "ok.npy", np.ones((64, 32), dtype=np.float32))

    def no_memory(*args, **kwargs):
        raise MemoryError()

    monkeypatch.setattr(np, "empty", no_memory)
    with pytest.raises(UserError, match=r"ok\.npy: ran out of memory while loading it \(0\.0 GiB for 8192 bytes"):
        load_dataset(str(tmp_path / "ok.npy"))
