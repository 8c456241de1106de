"""The `serve` extra: Starlette and uvicorn are imported only when a server is made."""

from __future__ import annotations

import importlib.util

from .errors import MissingExtraError

_NEEDED = ("starlette", "uvicorn")


def require_serve_extra() -> None:
    """Raise MissingExtraError, saying how to install, if Starlette or uvicorn is missing."""
    missing = [name for name in _NEEDED if importlib.util.find_spec(name) is None]
    if missing:
        raise MissingExtraError(
            f"Serving a graph needs {' and '.join(missing)}, which "
            f"{'is' if len(missing) == 1 else 'are'} not installed.\n"
            "hypergraph's core uses only the standard library; the HTTP server is an extra.\n"
            'How to fix: pip install "hypergraph[serve]"'
        )
