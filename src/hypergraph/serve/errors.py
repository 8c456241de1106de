"""The errors the HTTP layer raises: a request it cannot serve, and a missing extra.

Both are `HypergraphError`s with the library's what / why / how-to-fix messages. A
`RequestError` carries the HTTP status it is answered with; the app turns it into a
JSON body `{"error": {"type", "message", ...}}` (see docs/serve.md).
"""

from __future__ import annotations

from typing import Any

from ..errors import HypergraphError


class RequestError(HypergraphError, ValueError):
    """A request the server cannot serve: answered with `status` and this message.

    >>> err = RequestError("Run 'x' is not here.\\nHow to fix: ...", status=404)
    >>> err.status
    404
    """

    def __init__(self, message: str, *, status: int = 400, **details: Any) -> None:
        super().__init__(message)
        self.status = status
        self.details = details


class MissingExtraError(HypergraphError, ImportError):
    """`hypergraph.serve` needs Starlette and uvicorn, which are not installed."""
