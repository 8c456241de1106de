"""The cache contract (`Cache`, `CacheEntry`) and the in-process store, `InMemoryCache`.

A cache maps a key (from `fingerprint.call_key`) to what one node call produced: its
value and, for a streaming node, its chunks in order, replayed on a hit. Every store
keeps entries pickled, so a hit hands out a fresh copy that a later node may mutate
without changing what the next hit returns, and memory and disk accept the same
values (decision 0017).
"""

from __future__ import annotations

import pickle
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from .errors import UncacheableValueError


@dataclass(frozen=True)
class CacheEntry:
    """What one cached node call produced: its value and its streamed chunks, in order.

    >>> CacheEntry("Hello", chunks=("Hel", "lo")).chunks
    ('Hel', 'lo')
    """

    value: Any
    chunks: tuple[Any, ...] = ()


@runtime_checkable
class Cache(Protocol):
    """A cache backend: `InMemoryCache`, `DiskCache`, or any object with these two methods.

    `get` returns None on a miss; `put` raises `UncacheableValueError` when the entry
    cannot be stored (a value that cannot be pickled).
    """

    def get(self, key: str) -> CacheEntry | None: ...

    def put(self, key: str, entry: CacheEntry) -> None: ...


def dump_entry(entry: CacheEntry) -> bytes:
    """Pickle an entry, or say which part of it cannot be pickled (value or chunk N)."""
    try:
        # A plain tuple, not the CacheEntry class, so stored entries outlive renames.
        return pickle.dumps((entry.value, tuple(entry.chunks)), pickle.HIGHEST_PROTOCOL)
    except Exception as exc:
        raise _uncacheable(entry, exc) from exc


def load_entry(data: bytes) -> CacheEntry:
    """Unpickle what `dump_entry` made. Raises whatever unpickling raises."""
    value, chunks = pickle.loads(data)
    return CacheEntry(value, chunks)


def _uncacheable(entry: CacheEntry, exc: Exception) -> UncacheableValueError:
    part, culprit = "value", entry.value
    if _pickles(entry.value):
        for i, chunk in enumerate(entry.chunks):
            if not _pickles(chunk):
                part, culprit = f"chunk {i}", chunk
                break
    type_name = f"{type(culprit).__module__}.{type(culprit).__qualname__}"
    return UncacheableValueError(
        f"Cannot cache this call: its {part} (a '{type_name}') cannot be pickled "
        f"({type(exc).__name__}: {exc}). Cache entries are stored pickled, so a hit can "
        "hand out a fresh copy and a disk cache can keep it. How to fix: return plain "
        "data (str, numbers, lists, dicts, dataclasses defined at module level), or "
        "leave caching off for this node.",
        type_name=type_name,
    )


def _pickles(value: object) -> bool:
    try:
        pickle.dumps(value, pickle.HIGHEST_PROTOCOL)
    except Exception:
        return False
    return True


class InMemoryCache:
    """A cache in this process's memory, shared by threads; optionally bounded (LRU).

    >>> cache = InMemoryCache(max_entries=1000)
    >>> cache.put("k", CacheEntry("Hello", chunks=("Hel", "lo")))
    >>> cache.get("k")
    CacheEntry(value='Hello', chunks=('Hel', 'lo'))
    """

    def __init__(self, max_entries: int | None = None) -> None:
        if max_entries is not None and (type(max_entries) is not int or max_entries < 1):
            raise ValueError(
                f"InMemoryCache(max_entries={max_entries!r}) needs a positive int or None. "
                "How to fix: pass max_entries=1000, or None for no bound."
            )
        self.max_entries = max_entries
        self._entries: OrderedDict[str, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> CacheEntry | None:
        """The entry stored under `key` (a fresh copy), or None."""
        with self._lock:
            data = self._entries.get(key)
            if data is None:
                return None
            if self.max_entries is not None:
                self._entries.move_to_end(key)
        try:
            return load_entry(data)
        except Exception:  # pickled fine but does not unpickle: a miss, never a crash
            with self._lock:
                if self._entries.get(key) is data:
                    del self._entries[key]
            return None

    def put(self, key: str, entry: CacheEntry) -> None:
        """Store `entry` under `key`, evicting the least recently used beyond the bound."""
        data = dump_entry(entry)
        with self._lock:
            self._entries[key] = data
            self._entries.move_to_end(key)
            if self.max_entries is not None:
                while len(self._entries) > self.max_entries:
                    self._entries.popitem(last=False)

    def clear(self) -> None:
        """Forget every entry."""
        with self._lock:
            self._entries.clear()

    def close(self) -> None:
        """Nothing to release; present so both caches can be closed alike."""

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def __repr__(self) -> str:
        return f"InMemoryCache(max_entries={self.max_entries!r}, entries={len(self)})"
