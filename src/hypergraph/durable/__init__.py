"""Durable layer: what outlives one node call. Cache keys, cache stores, checkpointers.

`fingerprint` / `definition_key` / `call_key` build keys; `InMemoryCache` and
`DiskCache` implement the `Cache` protocol over `CacheEntry` values.
"""

from .cache import Cache, CacheEntry, InMemoryCache
from .checkpoint import (
    Checkpointer,
    CheckpointError,
    MemoryCheckpointer,
    StepRecord,
    StreamRecord,
    WorkflowBusyError,
    WorkflowConflictError,
    WorkflowRecord,
    WorkflowSummary,
)
from .checkpoint_sqlite import SqliteCheckpointer
from .disk_cache import DiskCache
from .errors import (
    CacheStoreError,
    InsecureCacheFileError,
    UncacheableValueError,
    Unfingerprintable,
)
from .fingerprint import call_key, definition_key, fingerprint
from .lease import Holder

__all__ = [
    "Cache",
    "CacheEntry",
    "CacheStoreError",
    "CheckpointError",
    "Checkpointer",
    "DiskCache",
    "Holder",
    "InMemoryCache",
    "InsecureCacheFileError",
    "MemoryCheckpointer",
    "SqliteCheckpointer",
    "StepRecord",
    "StreamRecord",
    "UncacheableValueError",
    "Unfingerprintable",
    "WorkflowBusyError",
    "WorkflowConflictError",
    "WorkflowRecord",
    "WorkflowSummary",
    "call_key",
    "definition_key",
    "fingerprint",
]
