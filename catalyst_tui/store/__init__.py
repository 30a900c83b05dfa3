"""Record stores: SQLite (embedded default) and the catalyst-api directory."""

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
