"""Record stores: SQLite (embedded default) and the catalyst-api directory.

``open_store(url, read_only=...)`` builds one (open it with ``async with``); see :mod:`.urls`.
"""

from .base import (  # noqa: F401
    AuditEntry,
    Conflict,
    InvalidRecordId,
    InvalidStoreURL,
    Lease,
    LoadError,
    RecordNotFound,
    RecordStore,
    Refused,
    StoreError,
    StoreUnavailable,
    Summary,
    Versioned,
)
from .common import UnreadableRecord  # noqa: F401
from .urls import default_store_url, open_store, resolve_store_url  # noqa: F401
