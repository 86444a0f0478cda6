"""The .npz / .npy cases of the bad-input table in ``tests/data/test_bad_inputs.py``.

Each case builds its bad input under ``tmp_path`` and returns (what to load, the file the
message must name, a word the message must contain).
"""

from __future__ import annotations

import io
import zipfile

import numpy as np

RNG = np.random.default_rng(0)


def npz(tmp_path, compressed=False, **arrays):
    path = tmp_path / "data.npz"
    (np.savez_compressed if compressed else np.savez)(path, **arrays)
    return path


def npz_without_x(tmp_path, write):
    p = npz(tmp_path, x_test=np.zeros((3, 2)))
    return p, p, "no array named 'x'"


def npz_positional_arrays(tmp_path, write):
    path = tmp_path / "pos.npz"
    np.savez(path, np.zeros((3, 2)))
    return path, path, "arr_0"


def npz_object_array(tmp_path, write):
    path = tmp_path / "obj.npz"
    np.savez(path, x=np.array([[1, None], [2, None]], dtype=object))  # np.savez pickles object arrays
    return path, path, "object array"


def npy_object_array(tmp_path, write):
    path = tmp_path / "obj.npy"
    np.save(path, np.array([[1, {}], [2, {}]], dtype=object), allow_pickle=True)
    return path, path, "object array"


def npz_complex(tmp_path, write):
    p = npz(tmp_path, x=np.ones((4, 3), dtype=np.complex64))
    return p, p, "complex64"


def npz_strings(tmp_path, write):
    p = npz(tmp_path, x=np.array([["a", "b"], ["c", "d"]]))
    return p, p, "<U1"


def npz_datetimes(tmp_path, write):
    p = npz(tmp_path, x=np.zeros((3, 2), dtype="datetime64[s]"))
    return p, p, "datetime64"


def npz_nan(tmp_path, write):
    x = np.ones((5, 3))
    x[2, 1] = np.nan
    p = npz(tmp_path, x=x)
    return p, p, "NaN"


def npz_inf_in_test(tmp_path, write):
    xt = np.ones((2, 3), dtype=np.float32)
    xt[0, 0] = -np.inf
    p = npz(tmp_path, x=np.ones((5, 3)), x_test=xt)
    return p, p, "infinite"


def npz_labels_wrong_length(tmp_path, write):
    p = npz(tmp_path, x=np.ones((5, 3)), y=np.arange(4))
    return p, p, "4 entries"


def npz_float_labels(tmp_path, write):
    p = npz(tmp_path, x=np.ones((5, 3)), y=np.arange(5.0))
    return p, p, "integer"


def npz_bool_labels(tmp_path, write):
    p = npz(tmp_path, x=np.ones((5, 3)), y=np.ones(5, dtype=bool))
    return p, p, "integer"


def npz_negative_labels(tmp_path, write):
    p = npz(tmp_path, x=np.ones((5, 3)), y=np.array([0, 1, -1, 0, 1]))
    return p, p, "non-negative"


def npz_y_test_without_x_test(tmp_path, write):
    p = npz(tmp_path, x=np.ones((5, 3)), y=np.arange(5), y_test=np.arange(2))
    return p, p, "no 'x_test'"


def npz_labels_for_one_split(tmp_path, write):
    p = npz(tmp_path, x=np.ones((5, 3)), y=np.arange(5), x_test=np.ones((2, 3)))
    return p, p, "only one split"


def npz_test_shape_differs(tmp_path, write):
    p = npz(tmp_path, x=np.ones((5, 3)), x_test=np.ones((2, 4)))
    return p, p, "'x_test'"


def npz_one_dimensional_x(tmp_path, write):
    p = npz(tmp_path, x=np.ones(5))
    return p, p, "(n, features"


def npz_unknown_kind(tmp_path, write):
    p = npz(tmp_path, x=np.ones((2, 5, 5, 5, 5)))
    return p, p, "kind"


def npz_image_out_of_byte_range(tmp_path, write):
    p = npz(tmp_path, x=np.full((3, 4, 4), 1000, dtype=np.uint16))
    return p, p, "0..255"


def npz_float_image_outside_unit_interval(tmp_path, write):
    p = npz(tmp_path, x=np.full((3, 1, 4, 4), 2.5, dtype=np.float32))
    return p, p, "[0, 1]"


def npz_single_example(tmp_path, write):
    p = npz(tmp_path, x=np.ones((1, 3)))
    return p, p, "at least 2"


def npz_truncated_zip(tmp_path, write):
    p = npz(tmp_path, compressed=True, x=RNG.random((50, 5)))
    p.write_bytes(p.read_bytes()[:-40])
    return p, p, "not a valid .npz"


def npz_member_claims_1e12_items(tmp_path, write):
    path = tmp_path / "huge.npz"
    header = np.lib.format.header_data_from_array_1_0(np.zeros((2, 2)))
    header["shape"] = (10**12, 1)
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, header)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("x.npy", buffer.getvalue() + bytes(64))
    return path, path, "truncated"


def npy_truncated(tmp_path, write):
    path = tmp_path / "t.npy"
    np.save(path, RNG.random((10, 3)))
    path.write_bytes(path.read_bytes()[:-7])
    return path, path, "truncated"


def npy_garbage(tmp_path, write):
    path = tmp_path / "g.npy"
    path.write_bytes(b"not numpy" * 10)
    return path, path, "not a valid .npy"


ARRAY_CASES = [
    npz_without_x, npz_positional_arrays, npz_object_array, npy_object_array, npz_complex, npz_strings,
    npz_datetimes, npz_nan, npz_inf_in_test, npz_labels_wrong_length, npz_float_labels, npz_bool_labels,
    npz_negative_labels, npz_y_test_without_x_test, npz_labels_for_one_split, npz_test_shape_differs,
    npz_one_dimensional_x, npz_unknown_kind, npz_image_out_of_byte_range,
    npz_float_image_outside_unit_interval, npz_single_example, npz_truncated_zip,
    npz_member_claims_1e12_items, npy_truncated, npy_garbage,
]
