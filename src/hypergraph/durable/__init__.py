"""Durable layer: what outlives one node call. Cache keys and the cache stores.

`fingerprint` / `definition_key` / `call_key` build keys; `InMemoryCache` and
`DiskCache` implement the `Cache` protocol over `CacheEntry` values.
"""

from .cache import Cache, CacheEntry, InMemoryCache
from .disk_cache import DiskCache
from .errors import (
    CacheStoreError,
    InsecureCacheFileError,
    UncacheableValueError,
    Unfingerprintable,
)
from .fingerprint import call_key, definition_key, fingerprint

__all__ = [
    "Cache",
    "CacheEntry",
    "CacheStoreError",
    "DiskCache",
    "InMemoryCache",
    "InsecureCacheFileError",
    "UncacheableValueError",
    "Unfingerprintable",
    "call_key",
    "definition_key",
    "fingerprint",
]
