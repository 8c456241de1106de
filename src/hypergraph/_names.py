"""Name helpers shared by error messages: quoting lists and "did you mean" hints."""

from __future__ import annotations

from collections.abc import Iterable


def quoted(names: Iterable[str]) -> str:
    """`'a', 'b', 'c'`, or `(none)` for an empty list."""
    items = [f"'{n}'" for n in names]
    return ", ".join(items) if items else "(none)"


def suggest(name: str, candidates: Iterable[str]) -> str:
    """` Did you mean 'x'?` when a candidate is close to `name`, else an empty string."""
    if not isinstance(name, str):
        return ""
    import difflib  # only error messages need it: keep `import hypergraph` light

    close = difflib.get_close_matches(name, [c for c in candidates if isinstance(c, str)], n=1)
    return f" Did you mean '{close[0]}'?" if close else ""
