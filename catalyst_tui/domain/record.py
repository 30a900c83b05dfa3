"""The deployment record exactly as catalyst-api writes it (domain reference §1.4-§1.5).

Design choices that keep a round trip faithful:

* Every model allows extra keys, so keys from newer catalyst-api builds survive at any depth.
* Timestamps stay the strings catalyst-api wrote (Go RFC3339Nano, up to 9 fractional digits);
  :func:`parse_time` reads them, :func:`format_time` writes new ones the way Go does.
* ``model_dump(exclude_unset=True)`` writes back exactly the keys that were read plus the ones we
  set; Go ``omitempty`` keys that we emptied are dropped again by :func:`to_catalyst_json`.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .record_models import Event, Record, RegionSpec, Request, Result, _Model  # noqa: F401

GO_ZERO_TIME = "0001-01-01T00:00:00Z"

#: Request fields that hold credentials; catalyst-api stores ``<redacted>`` (or empty) there.
CREDENTIAL_FIELDS: tuple[str, ...] = (
    "hetznerToken",
    "dynadotKey",
    "dynadotSecret",
    "registrarToken",
    "objectStorageAccessKey",
    "objectStorageSecretKey",
)
REDACTED = "<redacted>"

#: Request keys of newer builds that look like credentials are masked on screen too.
_SECRETISH = re.compile(r"(secret|password|passwd|token|privatekey|accesskey)", re.I)


def is_credential_key(key: str) -> bool:
    return key in CREDENTIAL_FIELDS or bool(_SECRETISH.search(key))


def redact_request(data: dict[str, Any]) -> dict[str, Any]:
    """A request dict with every credential shown as ``<redacted>`` (empty stays empty, as
    catalyst-api's ``Redact`` does), even when a hand-edited record holds the plaintext.
    What screens and human CLI output show; ``show --json``/export keep the stored bytes."""
    shown: dict[str, Any] = {}
    for key, value in data.items():
        if is_credential_key(key):
            present = (isinstance(value, str) and value.strip() != "") or (not isinstance(value, str) and bool(value))
            shown[key] = REDACTED if present else ""
        else:
            shown[key] = value
    return shown


def redacted_record_dict(record: "Record") -> dict[str, Any]:
    """The record in catalyst-api's shape with credentials masked (for on-screen JSON views)."""
    data = record_to_dict(record)
    if isinstance(data.get("request"), dict):
        data["request"] = redact_request(data["request"])
    return data


def parse_time(value: str | None) -> datetime | None:
    """Parse a Go RFC3339(Nano) timestamp; the Go zero time and empty mean *unset*."""
    if not value or value.startswith("0001-01-01T00:00:00"):
        return None
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt


def format_time(dt: datetime) -> str:
    """Format like Go's ``time.Time`` JSON (RFC3339Nano: trailing zeros of the fraction trimmed)."""
    dt = dt.astimezone(timezone.utc)
    base = dt.strftime("%Y-%m-%dT%H:%M:%S")
    if dt.microsecond:
        base += "." + f"{dt.microsecond:06d}".rstrip("0")
    return base + "Z"


def format_event_time(dt: datetime) -> str:
    """Event ``time`` is RFC3339 at second precision, UTC."""
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


#: The model classes, defined in :mod:`.record_models` and imported on first use (module
#: ``__getattr__`` below): importing this module for its functions and constants costs no pydantic.
_MODEL_NAMES = frozenset({"_Model", "RegionSpec", "Request", "Result", "Event", "Record"})


_models_loaded = False


def _load_models() -> None:
    """Bind the model classes as globals of this module (once; then no ``__getattr__`` runs)."""
    global _models_loaded
    if _models_loaded:
        return
    from . import record_models

    g = globals()
    for name in _MODEL_NAMES:
        g.setdefault(name, getattr(record_models, name))
    _models_loaded = True


def __getattr__(name: str) -> Any:
    if name in _MODEL_NAMES:
        _load_models()
        return globals()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


EVENT_BUFFER_CAP = 10_000


# --- (de)serialisation in catalyst-api's format ---------------------------------------------------

class RecordDecodeError(ValueError):
    """A record file or blob that cannot be decoded; ``str()`` is a one-line reason."""


def _prune(model: "_Model", data: dict[str, Any]) -> dict[str, Any]:
    # the model classes are bound: only record_to_dict calls this
    omit = type(model).OMITEMPTY
    omit_nil = type(model).OMIT_NIL
    out: dict[str, Any] = {}
    for key, value in data.items():
        attr = getattr(model, key, None)
        if isinstance(attr, _Model) and isinstance(value, dict):
            value = _prune(attr, value)
        elif isinstance(attr, list) and isinstance(value, list):
            value = [_prune(a, v) if isinstance(a, _Model) and isinstance(v, dict) else v for a, v in zip(attr, value)]
        if key in omit_nil:
            if value is None:
                continue
        elif key in omit and value in (None, "", 0, False, [], {}):
            continue
        out[key] = value
    return out


def record_to_dict(record: "Record") -> dict[str, Any]:
    _load_models()
    data = record.model_dump(mode="json", exclude_unset=True, by_alias=True)
    # id, status, request, startedAt, finishedAt and events are always written by Go (no omitempty).
    data.setdefault("request", {})
    data.setdefault("startedAt", record.startedAt)
    data.setdefault("finishedAt", record.finishedAt)
    data.setdefault("events", None)
    data = _prune(record, data)
    order = list(Record.model_fields)
    ordered = {k: data[k] for k in order if k in data}
    ordered.update((k, v) for k, v in data.items() if k not in ordered)
    return ordered


def dumps_catalyst(data: dict[str, Any]) -> str:
    """Encode like Go's ``json.Encoder`` with ``SetIndent("", "  ")`` and ``SetEscapeHTML(false)``."""
    text = json.dumps(data, indent=2, ensure_ascii=False)
    # Go always escapes U+2028/U+2029, even with HTML escaping off.
    text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return text + "\n"


def to_catalyst_json(record: "Record") -> str:
    return dumps_catalyst(record_to_dict(record))


def record_from_dict(data: Any, *, source: str = "record") -> "Record":
    from pydantic import ValidationError

    _load_models()
    if not isinstance(data, dict):
        raise RecordDecodeError(f"{source}: expected a JSON object, got {type(data).__name__}")
    try:
        rec = Record.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first.get("loc", ())) or "(root)"
        raise RecordDecodeError(f"{source}: field {loc}: {first.get('msg', 'invalid')}") from None
    if not rec.id:
        raise RecordDecodeError(f"{source}: empty id")
    return rec


def loads_record(text: str | bytes, *, source: str = "record") -> "Record":
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise RecordDecodeError(f"{source}: not UTF-8 ({exc.reason} at byte {exc.start})") from None
    if not text.strip():
        raise RecordDecodeError(f"{source}: empty file")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RecordDecodeError(f"{source}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except RecursionError:
        raise RecordDecodeError(f"{source}: JSON nested too deeply") from None
    return record_from_dict(data, source=source)


def is_valid_id(record_id: str) -> bool:
    """catalyst-api's store rejects empty, ``.``, ``..``, and ids containing ``/`` or ``\\``."""
    return bool(record_id) and record_id not in (".", "..") and "/" not in record_id and "\\" not in record_id and "\x00" not in record_id
