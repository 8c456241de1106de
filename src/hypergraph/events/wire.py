"""The wire form of events: plain JSON-ready dicts for servers, logs and other processes.

`event.to_dict()` always gives something `json.dumps` accepts (and strict JSON parsers
too: no NaN). Exceptions become `{"type", "message"}`; a value JSON cannot carry (an
object, bytes, a non-finite float, a dict with non-string keys, nesting deeper than
`_MAX_DEPTH`, a cycle) becomes `{"$repr": repr(value), "$type": type name}`, so a reader
can tell it from a real value. Decision 0021 records the shape.
"""

from __future__ import annotations

import math
from typing import Any

_MAX_DEPTH = 32
_MAX_REPR = 2000


def error_dict(exc: BaseException | None) -> dict[str, str] | None:
    """`{"type": "ValueError", "message": "..."}` for an exception (None stays None)."""
    if exc is None:
        return None
    return {"type": type(exc).__name__, "message": safe_text(str, exc)}


def to_json_value(value: Any, _depth: int = 0, _seen: frozenset[int] = frozenset()) -> Any:
    """`value` as JSON data; what JSON cannot carry becomes a marked repr."""
    if value is None or type(value) in (str, bool, int):
        return value
    if isinstance(value, str):  # a StrEnum (RunStatus), END: their text
        return str.__str__(value)
    if isinstance(value, int) and not isinstance(value, bool):  # an IntEnum: its number
        return int(value)
    if type(value) is float:
        return value if math.isfinite(value) else _marked(value)
    if isinstance(value, BaseException):
        return error_dict(value)
    if _depth >= _MAX_DEPTH or id(value) in _seen:
        return _marked(value)
    if type(value) in (list, tuple):
        seen = _seen | {id(value)}
        return [to_json_value(v, _depth + 1, seen) for v in value]
    if type(value) is dict and all(type(k) is str for k in value):
        seen = _seen | {id(value)}
        return {k: to_json_value(v, _depth + 1, seen) for k, v in value.items()}
    return _marked(value)


def _marked(value: Any) -> dict[str, str]:
    text = safe_text(repr, value)
    if len(text) > _MAX_REPR:
        text = text[:_MAX_REPR] + "…"
    return {"$repr": text, "$type": type(value).__name__}


def safe_text(show: Any, value: Any) -> str:
    """`show(value)`, or a placeholder when the object's own __str__/__repr__ fails."""
    try:
        return str(show(value))
    except Exception:
        return f"<{type(value).__name__} object (its {show.__name__}() failed)>"
