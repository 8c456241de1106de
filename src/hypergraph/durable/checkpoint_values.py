"""Values as content-addressed blobs, so that storage grows with what changes.

A value is pickled and stored once under the hash of its bytes (`ref`); steps refer
to it by that ref. A list or tuple whose pickle is large is stored as pages of its
items (each page about `PAGE` bytes, cut greedily from the start), so a list that grows
by appending — a chat history — shares every full page with its previous version:
each step adds its new page and a short list of refs, not a copy of the history. Full
runs of `BOOK` pages are grouped into a book (a blob of page refs), so the list of refs
a step stores stays short too: about `n / BOOK + BOOK` refs for `n` pages.
"""

from __future__ import annotations

import hashlib
import pickle
import struct
from collections.abc import Callable
from typing import Any

from .checkpoint import CheckpointError

PAGE = 2048
BOOK = 32
_VALUE, _PAGED, _PAGE, _BOOK = b"V", b"S", b"P", b"B"
_LEN = struct.Struct(">I")
REF_SIZE = 16


def ref_of(blob: bytes) -> bytes:
    return hashlib.blake2b(blob, digest_size=REF_SIZE).digest()


def dump(value: Any, what: str) -> bytes:
    """`value` pickled; a `CheckpointError` naming `what` if it cannot be."""
    try:
        return pickle.dumps(value, protocol=5)
    except Exception as exc:
        raise CheckpointError(
            f"{what} cannot be checkpointed: {type(value).__name__} cannot be pickled "
            f"({type(exc).__name__}: {exc}).\nHow to fix: return plain data (str, numbers, "
            "lists, dicts, dataclasses), or run this graph without a checkpointer."
        ) from exc


def encode(value: Any, blobs: dict[bytes, bytes], what: str, data: bytes | None = None) -> bytes:
    """Store `value` into `blobs` (ref -> bytes); its ref. `data`: `value` already pickled."""
    if data is None:
        data = dump(value, what)
    kind = type(value)
    if len(data) <= 2 * PAGE or kind not in (list, tuple):
        blob = _VALUE + data
        ref = ref_of(blob)
        blobs[ref] = blob
        return ref
    refs: list[bytes] = []
    page: list[bytes] = []
    size = 0
    for item in value:
        item_data = dump(item, what)
        page.append(_LEN.pack(len(item_data)) + item_data)
        size += len(item_data)
        if size >= PAGE:
            refs.append(_store_page(page, blobs))
            page, size = [], 0
    if page:
        refs.append(_store_page(page, blobs))
    full = len(refs) // BOOK * BOOK
    books = []
    for k in range(0, full, BOOK):
        book = _BOOK + b"".join(refs[k : k + BOOK])
        books.append(ref_of(book))
        blobs[books[-1]] = book
    refs = books + refs[full:]
    blob = _PAGED + (b"l" if kind is list else b"t") + b"".join(refs)
    ref = ref_of(blob)
    blobs[ref] = blob
    return ref


def _store_page(page: list[bytes], blobs: dict[bytes, bytes]) -> bytes:
    blob = _PAGE + b"".join(page)
    ref = ref_of(blob)
    blobs[ref] = blob
    return ref


def decode(ref: bytes, fetch: Callable[[bytes], bytes]) -> Any:
    """The value stored under `ref`; `fetch(ref)` reads a blob."""
    return decode_blob(fetch(ref), fetch)


def decode_blob(blob: bytes, fetch: Callable[[bytes], bytes]) -> Any:
    """The value of `blob` (which may refer to pages and books that `fetch` reads)."""
    if blob[:1] == _VALUE:
        return pickle.loads(blob[1:])
    if blob[:1] != _PAGED:
        raise CheckpointError("A checkpointed value is damaged (unknown blob kind).")
    items: list[Any] = []
    for page in _pages(blob[2:], fetch):
        pos = 1
        while pos < len(page):
            (n,) = _LEN.unpack_from(page, pos)
            pos += _LEN.size
            items.append(pickle.loads(page[pos : pos + n]))
            pos += n
    return items if blob[1:2] == b"l" else tuple(items)


def _pages(refs: bytes, fetch: Callable[[bytes], bytes]) -> list[bytes]:
    pages: list[bytes] = []
    for k in range(0, len(refs), REF_SIZE):
        blob = fetch(refs[k : k + REF_SIZE])
        if blob[:1] == _BOOK:
            pages.extend(fetch(blob[j : j + REF_SIZE]) for j in range(1, len(blob), REF_SIZE))
        else:
            pages.append(blob)
    return pages
