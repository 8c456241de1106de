"""Name helpers shared by error messages: quoting lists and "did you mean" hints."""

from __future__ import annotations

from collections.abc import Iterable


def quoted(names: Iterable[str]) -> str:
    """`'a', 'b', 'c'`, or `(none)` for an empty list."""
    items = [f"'{n}'" for n in names]
    return ", ".join(items) if items else "(none)"


def suggest(name: str, candidates: Iterable[str]) -> str:
    """` Did you mean 'x'?` when a candidate is close to `name`, else an empty string."""
    close = closest(name, candidates)
    return f" Did you mean '{close}'?" if close is not None else ""


def closest(name: object, candidates: Iterable[object]) -> str | None:
    """The candidate closest to `name` if one is close enough to be a typo, else None."""
    if not isinstance(name, str):
        return None
    import difflib  # only error messages need it: keep `import hypergraph` light

    close = difflib.get_close_matches(name, [c for c in candidates if isinstance(c, str)], n=1)
    return close[0] if close else None
