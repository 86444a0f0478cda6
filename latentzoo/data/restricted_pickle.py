r"""A restricted unpickler for untrusted files that should hold only plain data.

``pickle.load`` runs code: a pickle names any importable callable (``os.system``,
``builtins.exec``) and the unpickler calls it. The CIFAR-10/100 "python version"
batches are pickles, so reading them with ``pickle.load`` would let a downloaded file
run code. :func:`load_plain_pickle` reads them with an unpickler that

* resolves only the globals a pickled numpy array needs — ``numpy.ndarray``,
  ``numpy.dtype``, ``numpy.core.multiarray._reconstruct`` (also under ``numpy._core``),
  ``numpy.core.numeric._frombuffer``, ``numpy.core.multiarray.scalar`` and
  ``_codecs.encode`` (latin-1 only) — and refuses every other global by name;
* never hands attacker-chosen state to numpy's own ``__setstate__``: those globals are
  replaced by small stand-ins that accept only plain numeric dtypes (bool, integers,
  floats; no object, structured or string dtypes) and build each array with
  ``np.frombuffer`` after checking that the data length equals prod(shape) × itemsize;
* scans the opcode stream first (with ``pickletools``' opcode table) so that every length
  field is backed by real bytes and every memo index is small — C pickle pre-allocates both, so
  a 10-byte pickle could otherwise ask for gigabytes;
* follows, in that scan, the stack the opcodes would build and how deeply each object would be
  nested, and refuses containers nested more than :data:`MAX_NESTING` levels (or in a cycle)
  before anything is built: hashing a dict key that is a tuple nested a few hundred thousand
  levels deep overflows the C stack and kills the interpreter (SIGSEGV), and 5,000 levels
  already raise ``RecursionError`` in ``repr``.

Everything else a pickle can hold — dicts, lists, tuples, bytes, str, numbers, None,
booleans — is built by the unpickler as usual.
"""

from __future__ import annotations

import io
import pickle
import pickletools

import numpy as np

from latentzoo.data.file_checks import bad, describe_exception


class RefusedGlobal(pickle.UnpicklingError):
    r"""A pickle asked for a global that is not on the allow-list."""

    def __init__(self, module: str, name: str):
        super().__init__(f"{module}.{name}")
        self.module, self.name = module, name


class _Refuse(pickle.UnpicklingError):
    r"""A pickle whose numpy parts are not plain numeric arrays."""


class _Malformed(pickle.UnpicklingError):
    r"""Bytes that are not a well-formed pickle (found by the opcode scan)."""


_PLAIN_KINDS = "biuf"  # bool, signed and unsigned integers, floats
_OPCODES_REFUSED = {"PERSID", "BINPERSID", "EXT1", "EXT2", "EXT4", "NEXT_BUFFER", "READONLY_BUFFER"}


class _Sealed:
    r"""Base of the stand-ins: the pickle BUILD opcode cannot alter them after creation."""

    __slots__ = ()

    def __setstate__(self, state):
        raise _Refuse(f"BUILD applied to {type(self).__name__}")


class _Callable(_Sealed):
    __slots__ = ("_fn",)

    def __init__(self, fn):
        object.__setattr__(self, "_fn", fn)

    def __call__(self, *args):
        return self._fn(*args)


class _NdarrayType(_Sealed):
    r"""Stands for ``numpy.ndarray`` as the first argument of ``_reconstruct``."""

    __slots__ = ()


class _DtypeProxy:
    r"""A plain numeric dtype; its BUILD state may set only the byte order."""

    __slots__ = ("_built", "dtype")

    def __init__(self, dtype: np.dtype):
        self.dtype, self._built = dtype, False

    def __setstate__(self, state):
        # numpy's dtype state: (version, endian, subarray, names, fields, elsize, alignment, flags[, metadata])
        if self._built or not isinstance(state, tuple) or len(state) < 5:
            raise _Refuse("unexpected dtype state")
        self._built = True
        endian = state[1].decode("ascii") if isinstance(state[1], bytes) else state[1]
        if any(part is not None for part in state[2:5]):
            raise _Refuse("structured or sub-array dtypes are not allowed")
        if endian not in ("<", ">", "|", "="):
            raise _Refuse(f"unknown byte order {endian!r}")
        if endian in "<>":
            self.dtype = self.dtype.newbyteorder(endian)


class _ArrayProxy:
    r"""An array rebuilt by ``np.frombuffer`` from its checked state; ``array`` holds it."""

    __slots__ = ("array",)

    def __init__(self, array=None):
        self.array = array

    def __setstate__(self, state):
        # numpy's ndarray state: (version, shape, dtype, is_fortran, rawdata)
        if self.array is not None or not isinstance(state, tuple) or len(state) not in (4, 5):
            raise _Refuse("unexpected array state")
        shape, dtype, fortran, raw = state[-4:]
        self.array = _from_bytes(raw, dtype, shape, "F" if fortran else "C")


def _from_bytes(raw, dtype, shape, order) -> np.ndarray:
    if not isinstance(dtype, _DtypeProxy):
        raise _Refuse("array without a plain dtype")
    if isinstance(raw, str):
        raw = raw.encode("latin-1")  # Python 2 pickles read with encoding="latin1"
    if isinstance(raw, pickle.PickleBuffer):
        raw = bytes(raw)
    if not isinstance(raw, (bytes, bytearray)):
        raise _Refuse("array data is not bytes (object arrays are not allowed)")
    if not isinstance(shape, tuple) or not all(isinstance(d, int) and d >= 0 for d in shape):
        raise _Refuse("array shape is not a tuple of non-negative integers")
    count = 1
    for d in shape:
        count *= d
    if count * dtype.dtype.itemsize != len(raw):  # checked before anything is allocated
        raise _Refuse(f"array data has {len(raw)} bytes but shape {shape} of {dtype.dtype} needs "
                      f"{count * dtype.dtype.itemsize}")
    if order not in ("C", "F"):
        raise _Refuse(f"unknown array order {order!r}")
    return np.frombuffer(raw, dtype=dtype.dtype).reshape(shape, order=order)


def _dtype(spec, align=False, copy=False):
    if isinstance(spec, bytes):
        spec = spec.decode("ascii", errors="replace")
    if not isinstance(spec, str) or len(spec) > 8:
        raise _Refuse(f"dtype {spec!r} is not a plain type code")
    try:
        dtype = np.dtype(spec)
    except (TypeError, ValueError):
        raise _Refuse(f"unknown dtype {spec!r}") from None
    if dtype.kind not in _PLAIN_KINDS or dtype.fields is not None or dtype.subdtype is not None:
        what = "object arrays are" if dtype.kind == "O" else f"dtype {dtype} is"
        raise _Refuse(f"{what} not allowed (only bool, integer and float arrays)")
    return _DtypeProxy(dtype)


def _reconstruct(subtype, shape, typecode):
    # numpy pickles an array as _reconstruct(ndarray, (0,), b'b') followed by BUILD(state).
    if not isinstance(subtype, _NdarrayType):
        raise _Refuse("_reconstruct of something other than numpy.ndarray")
    return _ArrayProxy()


def _frombuffer(buffer, dtype, shape, order):
    # Protocol-5 pickles of numpy arrays: _frombuffer(buffer, dtype, shape, order).
    return _ArrayProxy(_from_bytes(buffer, dtype, shape, order))


def _scalar(dtype, data=None):
    if not isinstance(dtype, _DtypeProxy):
        raise _Refuse("scalar without a plain dtype")
    if isinstance(data, str):
        data = data.encode("latin-1")
    if not isinstance(data, bytes) or len(data) != dtype.dtype.itemsize:
        raise _Refuse("scalar data does not match its dtype")
    return np.frombuffer(data, dtype=dtype.dtype)[0].item()


def _latin1_encode(text, encoding="utf-8", errors="strict"):
    # Python 3 writes bytes into protocol-2 pickles as _codecs.encode(str, "latin1").
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise _Refuse("_codecs.encode is allowed only to turn str into bytes with latin-1")
    return text.encode("latin-1")


_ALLOWED = {
    ("numpy", "ndarray"): _NdarrayType(),
    ("numpy", "dtype"): _Callable(_dtype),
    ("numpy.core.multiarray", "_reconstruct"): _Callable(_reconstruct),
    ("numpy._core.multiarray", "_reconstruct"): _Callable(_reconstruct),
    ("numpy.core.numeric", "_frombuffer"): _Callable(_frombuffer),
    ("numpy._core.numeric", "_frombuffer"): _Callable(_frombuffer),
    ("numpy.core.multiarray", "scalar"): _Callable(_scalar),
    ("numpy._core.multiarray", "scalar"): _Callable(_scalar),
    ("_codecs", "encode"): _Callable(_latin1_encode),
}

#: The globals a plain-data pickle may name, for error messages and docs.
ALLOWED_GLOBALS = tuple(f"{m}.{n}" for m, n in _ALLOWED)


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        try:
            return _ALLOWED[(module, name)]
        except (KeyError, TypeError):
            raise RefusedGlobal(str(module), str(name)) from None

    def persistent_load(self, pid):
        raise _Refuse("persistent ids are not allowed")


#: Deepest nesting of containers (tuples, lists, dicts, sets, built objects) a pickle may build.
#: A CIFAR batch nests 5 levels (dict → array state → dtype → its state tuple → a value).
MAX_NESTING = 32

_MARK = object()  # stands for a MARK on the simulated stack
_MUTATORS = frozenset({"APPEND", "APPENDS", "SETITEM", "SETITEMS", "ADDITEMS", "BUILD"})
_MEMO_PUTS = frozenset({"PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE"})
_MEMO_GETS = frozenset({"GET", "BINGET", "LONG_BINGET"})
#: Opcodes that push one value holding no other (numbers, strings, None, booleans, a global).
_LEAVES = frozenset({op.name for op in pickletools.opcodes if not op.stack_before and len(op.stack_after) == 1 and (
    op.stack_after[0].name in ("int_or_bool", "int", "bytes_or_str", "bytes", "bytearray", "None", "bool", "str",
                               "float") or op.name == "GLOBAL")})


class _Node:
    r"""One object the pickle would build: its nesting depth and the containers holding it."""

    __slots__ = ("depth", "parents")

    def __init__(self, depth: int):
        self.depth, self.parents = depth, []


_LEAF = _Node(1)  # shared by every leaf: it never holds anything, so its parents are not recorded


class _Nesting:
    r"""The unpickler's stack and memo, simulated with :class:`_Node`\ s instead of objects.

    An object built from others (a tuple, a list, a reduced call) is one level deeper than
    the deepest of them; adding to a container later (APPEND, SETITEM, BUILD, ...) deepens it
    and, through the recorded parents, every container already holding it — so an object
    reached through the memo cannot hide its depth, and a cycle deepens without end and is
    refused. Each depth only grows and is bounded, so the work stays linear in the pickle.
    """

    def __init__(self):
        self.stack: list = []
        self.memo: dict = {}

    def step(self, name: str, opcode, arg) -> None:
        stack = self.stack
        if name == "MARK":
            stack.append(_MARK)
        elif name == "POP" and stack and stack[-1] is _MARK:
            stack.pop()  # C pickle: POP right after a MARK drops the mark
        elif name in _MEMO_PUTS:
            self.memo[len(self.memo) if name == "MEMOIZE" else arg] = self._top()
        elif name in _MEMO_GETS:
            if arg not in self.memo:
                raise _Malformed(f"memo index {arg} read before it is written")
            stack.append(self.memo[arg])
        elif name == "DUP":
            stack.append(self._top())
        else:
            popped = self._pop(opcode.stack_before)
            if name in _MUTATORS:
                target = popped[0] if popped[0] is not _LEAF else _Node(1)
                for item in popped[1:]:
                    if item is not _LEAF:
                        item.parents.append(target)
                    self._deepen(target, item.depth + 1)
                stack.append(target)
            elif opcode.stack_after:
                node = _Node(_checked(1 + max((item.depth for item in popped), default=0)))
                for item in popped:
                    if item is not _LEAF:
                        item.parents.append(node)
                stack.append(node)

    def _top(self) -> _Node:
        if not self.stack or self.stack[-1] is _MARK:
            raise _Malformed("pickle stack underflow")
        return self.stack[-1]

    def _pop(self, before) -> list:
        r"""Pop what an opcode with ``stack_before`` takes: up to and including a MARK when it names one."""
        stack, above = self.stack, []
        if pickletools.markobject in before:
            while stack and stack[-1] is not _MARK:
                above.append(stack.pop())
            if not stack:
                raise _Malformed("an opcode needs a MARK that is not there")
            stack.pop()
            above.reverse()
            count = before.index(pickletools.markobject)
        else:
            count = len(before)
        below = []
        for _ in range(count):
            below.append(self._top())
            stack.pop()
        return below[::-1] + above

    @staticmethod
    def _deepen(node: _Node, depth: int) -> None:
        r"""Raise ``node`` to at least ``depth`` and every container holding it one level more."""
        work = [(node, depth)]
        while work:
            node, depth = work.pop()
            if depth > node.depth:
                node.depth = _checked(depth)
                work.extend((parent, depth + 1) for parent in node.parents)


def _checked(depth: int) -> int:
    if depth > MAX_NESTING:
        raise _Refuse(f"containers nested more than {MAX_NESTING} levels deep (or in a cycle)")
    return depth


# Arguments that are a length prefix then that many bytes: (prefix width, signed).
_COUNTED = {
    pickletools.TAKEN_FROM_ARGUMENT1: (1, False),
    pickletools.TAKEN_FROM_ARGUMENT4: (4, True),
    pickletools.TAKEN_FROM_ARGUMENT4U: (4, False),
    pickletools.TAKEN_FROM_ARGUMENT8U: (8, False),
}


def _scan(data: bytes) -> None:
    r"""Walk the opcodes without building anything; raise on an opcode or argument we refuse.

    Like ``pickletools.genops`` but a counted argument (BINBYTES8, BINUNICODE, ...) is only
    checked — its length must not reach past the end of the data — and skipped, not read.
    C pickle allocates such a length before reading it, and sizes its memo table from the
    largest PUT index, so both are bounded here first: memo indices must be at most the
    number of opcodes seen so far (real pickles number them 0, 1, 2, ...). The stack is
    simulated by :class:`_Nesting`, which refuses nesting deeper than :data:`MAX_NESTING`.
    """
    stream, size = io.BytesIO(data), len(data)
    n_ops, nesting = 0, _Nesting()
    while True:
        code = stream.read(1)
        if not code:
            raise _Malformed("the pickle ends without a STOP opcode")
        opcode = pickletools.code2op.get(code.decode("latin-1"))
        if opcode is None:
            raise _Malformed(f"unknown pickle opcode {code!r} at byte {stream.tell() - 1}")
        n_ops += 1
        if opcode.name in _OPCODES_REFUSED:
            raise _Refuse(f"pickle opcode {opcode.name} is not allowed")
        arg = None
        if opcode.arg is not None and opcode.arg.n in _COUNTED:
            width, signed = _COUNTED[opcode.arg.n]
            prefix = stream.read(width)
            length = int.from_bytes(prefix, "little", signed=signed)
            if len(prefix) < width or length < 0 or stream.tell() + length > size:
                raise _Malformed(f"{opcode.name} at byte {stream.tell()} claims more bytes than the file holds")
            stream.seek(length, io.SEEK_CUR)
        elif opcode.arg is not None:
            arg = opcode.arg.reader(stream)  # small fixed-size or newline-terminated arguments
        if opcode.name in ("PUT", "BINPUT", "LONG_BINPUT") and not (0 <= arg <= n_ops):
            raise _Malformed(f"memo index {arg} out of range")
        if opcode.name == "FRAME" and arg > size:
            raise _Malformed(f"frame of {arg} bytes in a {size}-byte file")
        if opcode.name in _LEAVES:  # the common case, kept out of a method call
            nesting.stack.append(_LEAF)
        else:
            nesting.step(opcode.name, opcode, arg)
        if opcode.name == "STOP":
            return


def load_plain_pickle(data: bytes, path) -> object:
    r"""Unpickle ``data`` (read from ``path``) allowing plain data and numeric numpy arrays only.

    Returns the unpickled object with every numpy array still wrapped; pass values
    through :func:`plain_array` to get the arrays. Raises ``UserError`` naming the
    refused global and the file, or saying why the pickle is malformed.
    """
    try:
        _scan(data)
        return _RestrictedUnpickler(io.BytesIO(data), encoding="bytes").load()
    except RefusedGlobal as error:
        raise bad(path, f"refused to unpickle {error.module}.{error.name}: only plain data "
                        f"(arrays, lists, dicts, numbers, strings) is allowed in this file") from None
    except _Refuse as error:
        raise bad(path, f"refused to unpickle: {error}") from None
    except _Malformed as error:
        raise bad(path, f"is not a valid pickle ({error})") from None
    except Exception as error:  # noqa: BLE001 - any failure of an untrusted parse is the file's fault
        raise bad(path, f"is not a valid pickle ({describe_exception(error)})") from None


def plain_array(value, path, what: str) -> np.ndarray:
    r"""The numpy array inside an unpickled value; a user error when it is not an array."""
    if isinstance(value, _ArrayProxy) and value.array is not None:
        return value.array
    raise bad(path, f"{what} is not a numeric array (got {type(value).__name__})")
