"""Reading request bodies: JSON objects, run values and Last-Event-ID, or a clear 4xx."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

from .errors import RequestError

MAX_BODY = 8 * 1024 * 1024  # bytes; a chat history is far smaller


async def json_object(request: Request, example: str) -> dict[str, Any]:
    """The body as a JSON object, or a RequestError (400/413) showing `example`."""
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise RequestError(
            f"The request body has {len(raw)} bytes; this server reads at most {MAX_BODY}.\n"
            "How to fix: send less (large inputs belong in files the graph reads).",
            status=413,
        )
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise RequestError(
            f"The request body is not JSON: {exc}.\n"
            f"How to fix: send a JSON object such as {example} "
            "with Content-Type: application/json."
        ) from None
    if not isinstance(body, dict):
        raise RequestError(
            f"The request body must be a JSON object, got a JSON {type(body).__name__}.\n"
            f"How to fix: send {example}."
        )
    return body


def run_values(body: dict[str, Any]) -> dict[str, Any]:
    """The `values` of a `/runs` request."""
    values = body.get("values", {})
    unknown = sorted(set(body) - {"values"})
    if unknown:
        inside = ", ".join(f"{json.dumps(k)}: ..." for k in unknown)
        raise RequestError(
            f"Unknown field(s) {', '.join(repr(k) for k in unknown)} in the request body; "
            "graph inputs go inside 'values'.\n"
            f'How to fix: {{"values": {{{inside}}}}}.',
            fields=unknown,
        )
    if not isinstance(values, dict):
        raise RequestError(
            f"'values' must be a JSON object of graph inputs, got {type(values).__name__}.\n"
            'How to fix: {"values": {"question": "..."}}.'
        )
    return values


def last_event_id(request: Request) -> int | None:
    """The Last-Event-ID header (or `?last_event_id=`, for EventSource's first connect)."""
    raw = request.headers.get("last-event-id") or request.query_params.get("last_event_id")
    if raw is None or raw == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 0:
        raise RequestError(
            f"Last-Event-ID {raw!r} is not an event id of this server (ids are 0, 1, 2, ...).\n"
            "How to fix: send the `id:` of the last event the client received."
        )
    return value
