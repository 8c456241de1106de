"""Cache keys: type-tagged fingerprints of values and digests of function definitions.

`fingerprint(value)` feeds an unambiguous, type-tagged encoding of a value into
BLAKE2b: every atom is a one-byte tag, a length and its bytes, every container a tag
and a count, so `1`, `1.0`, `True`, `"1"`, `b"1"`, `(1,)` and `[1]` never meet, and
arrays of other dtypes never collide (LangGraph #8009). Dicts and sets do not depend
on insertion order. It never calls `hash()` (salted per process) or uses `repr()` or
`id()`: a value without a stable value raises `Unfingerprintable` instead, because a
wrong cache hit is worse than a miss.

`definition_key(func)` digests what a function *is*: its bytecode and constants
(nested functions included), its module and qualified name, and the values it can
see (defaults, closure cells, the module globals it names), so that editing its body
or a prompt constant it uses changes the key (decision 0016).
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import hashlib
import math
import os
import struct
import sys
import types
from collections.abc import Callable, Mapping
from typing import Any

from .errors import Unfingerprintable

# Bump when the encoding changes, so a cache file never matches keys of another scheme.
_SCHEME = b"hypergraph-fingerprint-1\x00"
_DEFINITION = _SCHEME + b"definition\x00" + (sys.implementation.cache_tag or "").encode() + b"\x00"
_NAN = struct.pack(">d", math.nan)
_HEAP_TYPE = 1 << 9  # Py_TPFLAGS_HEAPTYPE: classes defined in Python (or from a type spec)


def fingerprint(value: object, *, root: str = "value") -> str:
    """A hex digest of `value` that is equal only for equal values of the same types.

    Stable across processes and runs. `root` names the value in errors.

    >>> fingerprint(1) == fingerprint(1.0)
    False
    >>> fingerprint({"a": 1, "b": 2}) == fingerprint({"b": 2, "a": 1})
    True
    """
    encoder = _Encoder()
    encoder.h.update(_SCHEME)
    _run(encoder, encoder.feed, value, root)
    return encoder.h.hexdigest()


def definition_key(func: Callable[..., Any]) -> str:
    """A hex digest of a callable's definition: changes when its code or what it reads changes.

    Covers the bytecode and constants (nested code included, line numbers and
    comments excluded), module and qualified name, and the fingerprints of its
    defaults, closure cells and the module globals its code names. A default, cell or
    global that cannot be fingerprinted (a client, a lock) counts by its type only.
    A bound method, `functools.partial` or callable object adds the fingerprint of
    its instance or arguments, and is refused (`Unfingerprintable`) if they have none.

    >>> def double(x):
    ...     return 2 * x
    >>> definition_key(double) == definition_key(lambda x: 2 * x)
    False
    """
    encoder = _Encoder()
    encoder.h.update(_DEFINITION)
    _run(encoder, encoder.callable, func, _callable_name(func))
    return encoder.h.hexdigest()


def call_key(definition: str, inputs: Mapping[str, object]) -> str:
    """The cache key of one call: a definition key plus its inputs by name (order-free).

    Raises `Unfingerprintable` whose `path` starts with the input's name
    (`messages[2]['client']`).

    >>> call_key("d1", {"x": 1, "y": "a"}) == call_key("d1", {"y": "a", "x": 1})
    True
    """
    encoder = _Encoder()
    encoder.h.update(_SCHEME + b"call\x00")
    encoder.text(definition)
    encoder.count(len(inputs))
    for name in sorted(inputs):
        encoder.text(name)
        _run(encoder, encoder.feed, inputs[name], name)
    return encoder.h.hexdigest()


class _Refused(Exception):  # an internal signal, turned into Unfingerprintable at the top
    """Raised deep inside a value; each container on the way up adds its path segment."""

    def __init__(self, type_name: str, reason: str) -> None:
        self.type_name = type_name
        self.reason = reason
        self.segments: list[str] = []

    def error(self, root: str) -> Unfingerprintable:
        path = root + "".join(reversed(self.segments))
        return Unfingerprintable(
            f"Cannot build a cache key from '{path}', a '{self.type_name}': {self.reason}. "
            "A cache key is built from the value itself, never from repr() or id(), which "
            "could collide or change between runs. How to fix: pass plain data here (str, "
            "numbers, lists, dicts, dataclasses, enums, objects with model_dump(), arrays), "
            "keep the object out of the node's inputs (a module-level client), or leave "
            "caching off for this node.",
            path=path,
            type_name=self.type_name,
        )


def _run(encoder: _Encoder, step: Callable[[Any], None], value: object, root: str) -> None:
    try:
        step(value)
    except _Refused as refusal:
        raise refusal.error(root) from None
    except RecursionError:
        raise Unfingerprintable(
            f"Cannot build a cache key from '{root}': it is nested too deeply to walk. "
            "How to fix: flatten the value, or leave caching off for this node.",
            path=root,
            type_name=_type_name(type(value)),
        ) from None


def _type_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _callable_name(func: object) -> str:
    name = getattr(func, "__qualname__", None)
    return name if isinstance(name, str) else _type_name(type(func)) + "()"


_u64 = struct.Struct(">Q").pack
_ONLY_STR = {str}


_GENERIC_REASON = (
    "only plain data, enums, dataclasses, objects with model_dump(), arrays (dtype, shape, "
    "tobytes) and functions have a value hypergraph can read"
)


class _Encoder:
    """One BLAKE2b stream; `active` maps containers being walked to their depth (cycles)."""

    __slots__ = ("active", "depth", "h")

    def __init__(self, active: dict[int, int] | None = None, depth: int = 0) -> None:
        self.h = hashlib.blake2b(digest_size=32)
        self.active: dict[int, int] = {} if active is None else active
        self.depth = depth

    # -- framing ----------------------------------------------------------------------

    def blob(self, tag: bytes, data: bytes) -> None:
        if len(data) < 4096:  # one update: cheaper than two for the usual short values
            self.h.update(tag + _u64(len(data)) + data)
        else:
            self.h.update(tag + _u64(len(data)))
            self.h.update(data)

    def text(self, s: str) -> None:
        data = s.encode("utf-8", "surrogatepass")
        self.h.update(b"S" + _u64(len(data)) + data)  # the hot path: one call

    def count(self, n: int) -> None:
        self.h.update(_u64(n))

    def sub(self, value: object) -> bytes:
        """The digest of `value` alone, for order-free containers (sorted by digest)."""
        child = _Encoder(self.active, self.depth)
        child.feed(value)
        return child.h.digest()

    def env(self, value: object) -> None:
        """A value a definition can see: its fingerprint, or its type when it has none."""
        try:
            digest = self.sub(value)
        except _Refused:
            self.h.update(b"?")
            self.text(_type_name(value if isinstance(value, type) else type(value)))
        else:
            self.h.update(b"v" + digest)

    # -- values -----------------------------------------------------------------------

    def feed(self, value: object) -> None:
        cls = type(value)
        if cls is str:  # most leaves of LLM inputs: skip the dispatch
            data = value.encode("utf-8", "surrogatepass")  # type: ignore[attr-defined]
            self.h.update(b"S" + _u64(len(data)) + data)
            return
        encode = _EXACT.get(cls)
        if encode is not None:
            encode(self, value)
        else:
            self.other(value)

    def enter(self, value: object) -> bool:
        """Mark a mutable container as being walked; False (and a back-reference) if it is."""
        seen = self.active.get(id(value))
        if seen is not None:
            self.h.update(b"R" + _u64(self.depth - seen))
            return False
        self.active[id(value)] = self.depth
        self.depth += 1
        return True

    def leave(self, value: object) -> None:
        self.depth -= 1
        del self.active[id(value)]

    def items(self, tag: bytes, values: Any, guard: bool) -> None:
        if guard and not self.enter(values):
            return
        try:
            self.h.update(tag + _u64(len(values)))
            for i, item in enumerate(values):
                try:
                    self.feed(item)
                except _Refused as refusal:
                    refusal.segments.append(f"[{i}]")
                    raise
        finally:
            if guard:
                self.leave(values)

    def unordered(self, tag: bytes, values: Any) -> None:
        digests = []
        for item in values:
            try:
                digests.append(self.sub(item))
            except _Refused as refusal:
                refusal.segments.append(".<element>")
                raise
        digests.sort()
        self.h.update(tag + _u64(len(digests)))
        for digest in digests:
            self.h.update(digest)

    def mapping(self, value: dict[Any, Any]) -> None:
        if not self.enter(value):
            return
        try:
            if not value or set(map(type, value)) == _ONLY_STR:
                # The common case streams in key order; other keys sort by digest.
                self.h.update(b"d" + _u64(len(value)))
                for key in sorted(value):
                    self.text(key)
                    try:
                        self.feed(value[key])
                    except _Refused as refusal:
                        refusal.segments.append(f"[{key!r}]")
                        raise
            else:
                pairs = []
                for key, item in value.items():
                    label = f"[{key!r}]" if type(key) in (int, bool) else "[<key>]"
                    pairs.append((self.labelled(".<key>", key), self.labelled(label, item)))
                pairs.sort()
                self.h.update(b"D" + _u64(len(pairs)))
                for key_digest, item_digest in pairs:
                    self.h.update(key_digest + item_digest)
        finally:
            self.leave(value)

    def labelled(self, segment: str, value: object) -> bytes:
        try:
            return self.sub(value)
        except _Refused as refusal:
            refusal.segments.append(segment)
            raise

    def field(self, segment: str, value: object) -> None:
        try:
            self.feed(value)
        except _Refused as refusal:
            refusal.segments.append(segment)
            raise

    def fields(self, tag: bytes, value: object, named: list[tuple[str, object]]) -> None:
        """An object that is its named fields: type, then each field (cycle-guarded)."""
        if not self.enter(value):
            return
        try:
            self.h.update(tag)
            self.text(_type_name(type(value)))
            self.count(len(named))
            for name, item in named:
                self.text(name)
                self.field(f".{name}", item)
        finally:
            self.leave(value)

    def other(self, value: object) -> None:
        cls = type(value)
        if isinstance(value, enum.Enum):
            self.h.update(b"e")
            self.text(_type_name(cls))
            self.text(value.name)
            self.field(".value", value.value)
            return
        if isinstance(value, type):
            if value.__module__ == "builtins":  # fixed by the Python version, like len
                self.h.update(b"T")
                self.text(value.__qualname__)
                return
            raise _Refused(
                _type_name(value),
                "a class: its name says nothing of its body, so an edit would not show",
            )
        if _is_array(value):
            self.array(value)
            return
        if dataclasses.is_dataclass(value):
            named = [(f.name, getattr(value, f.name)) for f in dataclasses.fields(value)]
            self.fields(b"c", value, named)
            return
        if callable(getattr(cls, "model_dump", None)):
            self.model(value)
            return
        base = _builtin_base(cls)
        if base is not None:
            self.builtin_subclass(value, base)
            return
        if _stdlib_value(self, value):
            return
        raise _Refused(_type_name(cls), _GENERIC_REASON)

    def model(self, value: Any) -> None:
        try:
            dumped = value.model_dump()
        except Exception as exc:
            raise _Refused(
                _type_name(type(value)), f"model_dump() failed ({type(exc).__name__}: {exc})"
            ) from None
        if not self.enter(value):
            return
        try:
            self.h.update(b"m")
            self.text(_type_name(type(value)))
            self.field(".model_dump()", dumped)
        finally:
            self.leave(value)

    def array(self, value: Any) -> None:
        """Duck-typed arrays (numpy and kin): type, dtype, shape and raw bytes."""
        try:
            self.array_parts(value)
        except _Refused:
            raise
        except Exception as exc:
            raise _Refused(
                _type_name(type(value)), f"reading it as an array failed ({type(exc).__name__})"
            ) from None

    def array_parts(self, value: Any) -> None:
        dtype = value.dtype
        self.h.update(b"n")
        self.text(_type_name(type(value)))
        self.text(str(dtype))
        self.text(str(getattr(dtype, "str", "")))
        self.field(".shape", tuple(value.shape))
        if getattr(dtype, "hasobject", getattr(dtype, "kind", None) == "O"):
            # Raw bytes of an object array are pointers: walk the elements instead.
            if not callable(getattr(value, "tolist", None)):
                raise _Refused(_type_name(type(value)), "an array of objects without tolist()")
            self.field(".tolist()", value.tolist())
        else:
            self.blob(b"b", bytes(value.tobytes()))

    def builtin_subclass(self, value: Any, base: type) -> None:
        cls = type(value)
        state = dict(getattr(value, "__dict__", {}))
        if hasattr(value, "default_factory"):  # collections.defaultdict keeps it in a C slot
            state["default_factory"] = value.default_factory
        if not self.enter(value):
            return
        try:
            self.h.update(b"u")
            self.text(_type_name(cls))
            # A copy as the exact base type: the same content, and no clash with the guard.
            _EXACT[base](self, value if base in _SCALARS else base(value))
            self.count(len(state))
            for name in sorted(state):
                self.text(name)
                self.field(f".{name}", state[name])
        finally:
            self.leave(value)

    # -- callables --------------------------------------------------------------------

    def callable(self, func: Any) -> None:
        if isinstance(func, staticmethod | classmethod):
            func = func.__func__
        if isinstance(func, types.FunctionType):
            self.function(func)
        elif isinstance(func, types.MethodType):
            self.h.update(b"M")
            self.callable(func.__func__)
            owner = func.__self__
            if isinstance(owner, type):
                self.text(_type_name(owner))
            else:
                try:
                    self.state(owner)
                except _Refused as refusal:
                    refusal.segments.append(".__self__")
                    raise
        elif isinstance(func, functools.partial):
            self.h.update(b"p")
            self.callable(func.func)
            self.field(".args", func.args)
            self.field(".keywords", func.keywords)
        elif isinstance(func, types.BuiltinFunctionType):
            owner = func.__self__
            if owner is not None and not isinstance(owner, types.ModuleType):
                raise _Refused(_type_name(type(owner)), "a built-in method bound to an object")
            self.h.update(b"b")
            self.text(str(getattr(func, "__module__", None)))
            self.text(func.__qualname__)
        elif isinstance(func, _DESCRIPTORS) and func.__objclass__.__module__ == "builtins":
            self.h.update(b"b")
            self.text(_type_name(func.__objclass__))
            self.text(func.__name__)
        elif isinstance(func, type):
            raise _Refused(
                _type_name(func),
                "a class: its name says nothing of its body; wrap it in a function",
            )
        elif isinstance(_inherited_call(func), types.FunctionType):
            self.instance(func)
        elif callable(getattr(func, "__wrapped__", None)):  # functools.lru_cache and kin
            self.h.update(b"w")
            self.text(_type_name(type(func)))
            try:
                self.callable(func.__wrapped__)
            except _Refused as refusal:
                refusal.segments.append(".__wrapped__")
                raise
        else:
            raise _Refused(_type_name(type(func)), "a callable whose definition cannot be read")

    def instance(self, func: Any) -> None:
        """A callable object: its class's `__call__` plus the instance's state, or refuse."""
        self.h.update(b"k")
        self.text(_type_name(type(func)))
        self.function(_inherited_call(func))
        self.state(func)

    def state(self, obj: Any) -> None:
        """What an object behind a call holds: its declared value, else its attributes."""
        cls = type(obj)
        if dataclasses.is_dataclass(obj) or callable(getattr(cls, "model_dump", None)):
            self.feed(obj)
            return
        state: dict[str, object] = dict(getattr(obj, "__dict__", {}))
        for klass in cls.__mro__:
            for slot in _slot_names(klass):
                if slot not in ("__dict__", "__weakref__") and hasattr(obj, slot):
                    state[slot] = getattr(obj, slot)
        self.fields(b"i", obj, sorted(state.items()))

    def function(self, func: types.FunctionType) -> None:
        if id(func) in self.active:  # recursion through globals or cells
            self.h.update(b"r")
            self.text(f"{func.__module__}.{func.__qualname__}")
            return
        self.active[id(func)] = self.depth
        try:
            self.h.update(b"x")
            self.text(str(func.__module__))
            self.text(func.__qualname__)
            code = func.__code__
            self.code(code)
            self.env(func.__defaults__)
            self.env(func.__kwdefaults__)
            cells = func.__closure__ or ()
            self.count(len(cells))
            for name, cell in zip(code.co_freevars, cells, strict=True):
                self.text(name)
                try:
                    contents = cell.cell_contents
                except ValueError:  # a cell not yet assigned
                    self.h.update(b"0")
                else:
                    self.env(contents)
            # Installed libraries are not walked through their module globals: they do
            # not change while a user iterates, and their module-level caches and
            # registries would make the key change from one call to the next.
            scope = {} if _is_library(code.co_filename) else func.__globals__
            seen = [(n, scope[n]) for n in sorted(_global_names(code)) if n in scope]
            self.count(len(seen))
            for name, value in seen:
                self.text(name)
                self.env(value)
        finally:
            del self.active[id(func)]

    def code(self, code: types.CodeType) -> None:
        self.h.update(b"K")
        self.text(code.co_name)
        self.text(code.co_qualname)
        for number in (
            code.co_argcount,
            code.co_posonlyargcount,
            code.co_kwonlyargcount,
            code.co_flags,
        ):
            self.count(number)
        self.blob(b"c", code.co_code)
        self.blob(b"x", code.co_exceptiontable)
        for names in (code.co_names, code.co_varnames, code.co_freevars, code.co_cellvars):
            self.count(len(names))
            for name in names:
                self.text(name)
        self.count(len(code.co_consts))
        for const in code.co_consts:
            if isinstance(const, types.CodeType):
                self.code(const)
            else:
                self.feed(const)


def _inherited_call(func: object) -> Any:
    """The `__call__` a callable object's class defines or inherits (not the metaclass's)."""
    for klass in type(func).__mro__:
        if "__call__" in vars(klass):
            return vars(klass)["__call__"]
    return None


@functools.cache
def _is_library(filename: str) -> bool:
    """True for source files of the standard library and installed (not editable) packages."""
    return os.path.realpath(filename).startswith(_library_roots())


@functools.cache
def _library_roots() -> tuple[str, ...]:
    import site
    import sysconfig

    paths = sysconfig.get_paths()
    roots = {paths[k] for k in ("stdlib", "platstdlib", "purelib", "platlib") if k in paths}
    roots.update(site.getsitepackages() if hasattr(site, "getsitepackages") else ())
    roots.add(site.getusersitepackages())
    return tuple(os.path.join(os.path.realpath(root), "") for root in roots)


def _global_names(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _global_names(const)
    return names


def _slot_names(klass: type) -> tuple[str, ...]:
    slots = klass.__dict__.get("__slots__", ())
    return (slots,) if isinstance(slots, str) else tuple(slots)


def _is_array(value: object) -> bool:
    # tobytes is looked up on the class, so a Mock (every attribute exists) is no array.
    if not callable(getattr(type(value), "tobytes", None)):
        return False
    try:
        return hasattr(value, "dtype") and hasattr(value, "shape")
    except Exception:  # a property that fails: not something we can read
        return False


def _builtin_base(cls: type) -> type | None:
    """The built-in container or scalar a Python-defined subclass extends, if it adds no slots."""
    for klass in cls.__mro__[1:]:
        if klass in _DATA_BASES:
            break
    else:
        return None
    for extra in cls.__mro__[: cls.__mro__.index(klass)]:
        if any(s not in ("__dict__", "__weakref__") for s in _slot_names(extra)):
            return None  # state in slots we would have to guess at
        if not extra.__flags__ & _HEAP_TYPE and extra.__module__ != "collections":
            return None  # a C type may keep state we cannot see
    return klass


def _stdlib_value(encoder: _Encoder, value: object) -> bool:
    """Standard-library value types, found through modules already imported (no import cost)."""
    cls = type(value)
    name = _type_name(cls)
    pathlib = sys.modules.get("pathlib")
    if name in ("datetime.datetime", "datetime.time"):
        tz = value.tzinfo  # type: ignore[attr-defined]
        encoder.h.update(b"V")
        encoder.text(name)
        encoder.text(value.replace(tzinfo=None).isoformat())  # type: ignore[attr-defined]
        encoder.count(value.fold)  # type: ignore[attr-defined]
        _tzinfo(encoder, tz)
    elif name in ("datetime.date", "decimal.Decimal"):
        encoder.h.update(b"V")
        encoder.text(name)
        encoder.text(str(value))
    elif name == "datetime.timedelta":
        encoder.h.update(b"V")
        encoder.text(name)
        for part in (value.days, value.seconds, value.microseconds):  # type: ignore[attr-defined]
            encoder.feed(part)
    elif name == "datetime.timezone":
        encoder.h.update(b"V")
        encoder.text(name)
        _tzinfo(encoder, value)
    elif name == "fractions.Fraction":
        encoder.h.update(b"V")
        encoder.text(name)
        encoder.feed(value.numerator)  # type: ignore[attr-defined]
        encoder.feed(value.denominator)  # type: ignore[attr-defined]
    elif name == "uuid.UUID":
        encoder.h.update(b"V")
        encoder.text(name)
        encoder.blob(b"Y", value.bytes)  # type: ignore[attr-defined]
    elif pathlib is not None and isinstance(value, pathlib.PurePath):
        # A path is its name: the file it names is not read (decision 0016).
        encoder.h.update(b"V")
        encoder.text(name)
        encoder.text(str(value))
    elif name == "collections.deque":
        encoder.h.update(b"V")
        encoder.text(name)
        encoder.feed(value.maxlen)  # type: ignore[attr-defined]
        encoder.items(b"l", value, guard=True)
    else:
        return False
    return True


def _tzinfo(encoder: _Encoder, tz: object) -> None:
    if tz is None:
        encoder.h.update(b"N")
        return
    name = _type_name(type(tz))
    encoder.text(name)
    if name == "datetime.timezone":
        offset = tz.utcoffset(None)  # type: ignore[attr-defined]
        encoder.feed(offset.days * 86400 + offset.seconds)
        encoder.feed(offset.microseconds)
        encoder.text(tz.tzname(None))  # type: ignore[attr-defined]
    elif name == "zoneinfo.ZoneInfo" and isinstance(getattr(tz, "key", None), str):
        encoder.text(tz.key)  # type: ignore[attr-defined]
    else:
        raise _Refused(name, "a tzinfo other than datetime.timezone or zoneinfo.ZoneInfo")


def _int(encoder: _Encoder, value: int) -> None:
    encoder.blob(b"I", value.to_bytes((value.bit_length() + 8) // 8, "big", signed=True))


def _float_bytes(value: float) -> bytes:
    # Every NaN is one value (its payload says how it was made, not what it means);
    # -0.0 and 0.0 stay apart, as their bits do (decision 0016).
    return _NAN if value != value else struct.pack(">d", value)


_EXACT: dict[type, Callable[[_Encoder, Any], None]] = {
    type(None): lambda e, v: e.h.update(b"N"),
    type(Ellipsis): lambda e, v: e.h.update(b"."),
    bool: lambda e, v: e.h.update(b"B1" if v else b"B0"),
    int: _int,
    float: lambda e, v: e.h.update(b"F" + _float_bytes(v)),
    complex: lambda e, v: e.h.update(b"C" + _float_bytes(v.real) + _float_bytes(v.imag)),
    str: lambda e, v: e.text(v),
    bytes: lambda e, v: e.blob(b"Y", v),
    bytearray: lambda e, v: e.blob(b"A", bytes(v)),
    range: lambda e, v: e.items(b"g", (v.start, v.stop, v.step), guard=False),
    tuple: lambda e, v: e.items(b"t", v, guard=False),
    list: lambda e, v: e.items(b"l", v, guard=True),
    dict: lambda e, v: e.mapping(v),
    set: lambda e, v: e.unordered(b"s", v),
    frozenset: lambda e, v: e.unordered(b"f", v),
    types.ModuleType: lambda e, v: e.blob(b"o", v.__name__.encode()),
    types.FunctionType: lambda e, v: e.callable(v),
    types.BuiltinFunctionType: lambda e, v: e.callable(v),
    types.MethodType: lambda e, v: e.callable(v),
    functools.partial: lambda e, v: e.callable(v),
}

_SCALARS = (int, float, complex, str, bytes)
_DATA_BASES = (*_SCALARS, bytearray, tuple, list, dict, set, frozenset)
_DESCRIPTORS = (
    types.MethodDescriptorType,
    types.WrapperDescriptorType,
    types.ClassMethodDescriptorType,
)
