"""The errors of the durable layer: values that cannot be keyed or stored, unsafe files.

They live here rather than in `hypergraph.errors` because only caching raises them;
each is a `HypergraphError` with the usual what / why / how-to-fix message.
"""

from __future__ import annotations

from ..errors import HypergraphError


class Unfingerprintable(HypergraphError, TypeError):
    """A value has no stable value to build a cache key from (a client, a lock, a generator).

    `path` says where inside the value the problem is (`messages[2]['client']`) and
    `type_name` names the offending type. hypergraph never falls back to `repr()` or
    `id()`: a key that collides or changes between runs is worse than no cache.
    """

    def __init__(self, message: str, path: str, type_name: str) -> None:
        super().__init__(message)
        self.path = path
        self.type_name = type_name


class UncacheableValueError(HypergraphError, TypeError):
    """A value cannot be stored in a cache because it cannot be pickled."""

    def __init__(self, message: str, type_name: str) -> None:
        super().__init__(message)
        self.type_name = type_name


class CacheStoreError(HypergraphError, OSError):
    """The cache's storage failed: the SQLite file is locked for too long, full or damaged."""

    def __init__(self, message: str, path: str) -> None:
        super().__init__(message)
        self.path = path


class InsecureCacheFileError(CacheStoreError, PermissionError):
    """A disk cache file, or its directory, can be written by another user: refused."""
