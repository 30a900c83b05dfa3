"""The catalyst-api volume itself: ``<dir>/<id>.json``, one record per file (domain reference §1).

Reading follows catalyst-api's ``LoadAll`` (§1.3): directories, dot-files and names not ending in
``.json`` are skipped; a file that cannot be read or decoded is reported as a :class:`LoadError`
and skipped, never aborting the load. On top of that (catalyst-api trusts its own volume; we do
not): a record whose ``id`` differs from its file name, a symlink resolving outside the
directory, anything that is not a regular file and a file over ``max_record_bytes`` are reported
and skipped too.

Writing follows ``store.Save`` (§1.2): a temp file ``.<id>.*.json.tmp`` in the same directory,
write, fsync, mode 0600, rename over ``<id>.json``; the bytes are exactly
:func:`to_catalyst_json`. Before the rename the target is read again and compared with the
version the caller read; if catalyst-api (or anyone) rewrote it meanwhile the write is abandoned
with :class:`Conflict` and the temp file removed. catalyst-tui's own writers additionally
serialise on ``flock(.catalyst-tui.lock)``; catalyst-api takes no cross-process lock, so a
rename by catalyst-api in the microseconds between our compare and our rename cannot be
excluded (§9.6: treat the files as read-only while catalyst-api runs).

A version is the SHA-256 (hex) of the file's bytes.
"""

from __future__ import annotations

import asyncio
import errno
import fcntl
import hashlib
import heapq
import json
import io
import os
import pickle
import re
import stat
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from contextlib import contextmanager
from pathlib import Path
from types import UnionType
from typing import TYPE_CHECKING, Annotated, Any, Callable, Iterator, Mapping, Union, get_args, get_origin

from ..domain.record import (
    EVENT_BUFFER_CAP,
    GO_ZERO_TIME,
    RecordDecodeError,
    loads_record,
    parse_time,
    record_to_dict,
    to_catalyst_json,
)
from .base import (
    AuditEntry,
    Conflict,
    LoadError,
    RecordNotFound,
    RecordStore,
    StoreError,
    StoreUnavailable,
    Summary,
    Versioned,
)
from .common import (
    MAX_RECORD_BYTES,
    UnreadableRecord,
    check_id,
    head_summary_fields,
    make_private_dirs,
    refuse_read_only,
    summary_from_dict,
)

if TYPE_CHECKING:  # the pydantic models load on first use (domain.record): listing needs none
    from ..domain.record import Event, Record

LOCK_NAME = ".catalyst-tui.lock"
AUDIT_NAME = ".catalyst-tui-audit.jsonl"
PROBE_PREFIX = ".catalyst-tui-write-probe."

_EVENT_STR_KEYS = frozenset({"time", "phase", "level", "message", "component", "state"})


_OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOFOLLOW

#: A listed file's cached summary is reused only when the file's last change (mtime and ctime)
#: is at least this old at the time it was read: file timestamps tick coarsely (a few ms), so a
#: rewrite with the same size right after a read could otherwise keep every part of the key.
CACHE_SETTLE_NS = 2_000_000_000


class _SharedListing:
    """One directory's listing cache (see ``CatalystDirStore._list_sync``), shared by every store
    instance of this process on the same directory with the same settings: the dashboard's store
    and the supervisor's own store (another thread) then read each file once, not once each. The
    lock makes a listing that starts while another runs wait for it and reuse what it read."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        #: file name -> ((inode, size, mtime_ns, ctime_ns), Summary or LoadError)
        self.entries: dict[str, tuple[tuple[int, int, int, int], Summary | LoadError]] = {}


#: (real directory, directory as spelled, max_record_bytes) -> its cache while a store uses it.
_SHARED_LISTINGS: "weakref.WeakValueDictionary[tuple[str, str, int], _SharedListing]" = weakref.WeakValueDictionary()
_SHARED_LISTINGS_LOCK = threading.Lock()


def _shared_listing(key: tuple[str, str, int]) -> _SharedListing:
    with _SHARED_LISTINGS_LOCK:
        shared = _SHARED_LISTINGS.get(key)
        if shared is None:
            shared = _SHARED_LISTINGS[key] = _SharedListing()
        return shared


class _Unreadable(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def version_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _mib(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MiB"


def _still_valid(entry: os.DirEntry[str], cached: Any) -> Any:
    """``cached`` (``((inode, size, mtime_ns, ctime_ns), outcome)``) when the file behind ``entry``
    still has that identity, else None (changed, gone, or nothing cached)."""
    if cached is None:
        return None
    try:
        st = entry.stat(follow_symlinks=False)
    except OSError:
        return None
    return cached if cached[0] == (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns) else None


def _strip_source(message: str, source: str) -> str:
    prefix = source + ": "
    return message[len(prefix):] if message.startswith(prefix) else message


def _events_look_valid(events: Any) -> bool:
    """Cheap structural check of ``events`` matching the Event model's strict field types."""
    if events is None:
        return True
    if type(events) is not list:
        return False
    str_keys = _EVENT_STR_KEYS
    for e in events:
        if type(e) is not dict:
            return False
        for k, v in e.items():
            if k in str_keys:
                if type(v) is not str:
                    return False
            elif k == "dependsOn" and v is not None:
                if type(v) is not list or any(type(x) is not str for x in v):
                    return False
    return True


# --- a fast, exact validity check of a record's head ---------------------------------------------------
# The listing must refuse exactly what get() refuses (Record.model_validate), but building the
# pydantic models of every head costs 17 us per file, a fifth of a listing. This checker is
# generated from a schema of the models (field names, strict types, Optional/list/dict nesting,
# required fields, the 'after' field validators): it answers True/False where it is certain and
# None for anything it does not model (then pydantic decides). The schema is written out below so
# that listing imports no pydantic (80-140 ms of start-up); _model_schema derives it from the
# models and tests/store/test_head_check.py fails when the two differ. test_head_check.py and
# test_listing_property.py also hold the checker to pydantic's answers.

Check = Callable[[Any], "bool | None"]

# Schema descriptors: "str" / "int" / "bool" (pydantic's strict types), ("optional", D),
# ("list", D), ("dict", D) (string keys), ("model", name, {field: (D, required, validators)}),
# validators being the names of the model's 'after' field validators (see _VALIDATORS).
_S, _I, _B = "str", "int", "bool"


def _plain(*names: str, kind: Any = _S) -> dict[str, tuple[Any, bool, tuple[str, ...]]]:
    return {n: (kind, False, ()) for n in names}


_REGION_SPEC_SCHEMA = ("model", "RegionSpec", {
    **_plain("provider", "cloudRegion", "controlPlaneSize", "workerSize"), **_plain("workerCount", kind=_I),
})
_REQUEST_SCHEMA = ("model", "Request", {
    **_plain("orgName", "orgEmail", "sovereignFQDN", "sovereignDomainMode", "sovereignPoolDomain",
             "sovereignSubdomain", "hetznerToken", "hetznerProjectID", "region", "controlPlaneSize", "workerSize"),
    **_plain("workerCount", kind=_I), **_plain("haEnabled", kind=_B),
    **_plain("regions", kind=("optional", ("list", _REGION_SPEC_SCHEMA))),
    **_plain("sshPublicKey", "dynadotKey", "dynadotSecret", "registrarToken"),
})
_RESULT_SCHEMA = ("model", "Result", {
    **_plain("sovereignFQDN", "controlPlaneIP", "loadBalancerIP", "consoleURL", "gitopsRepoURL", "kubeconfigPath"),
    **_plain("componentStates", kind=("optional", ("dict", _S))),
    **_plain("phase1FinishedAt", kind=("optional", _S)), **_plain("phase1Outcome", "phase1Substate"),
    **_plain("handoverFiredAt", kind=("optional", _S)), **_plain("handoverURL"),
})
#: Record without ``events`` (checked by _events_look_valid or the skim, see _EVENT_SCHEMA).
_RECORD_HEAD_SCHEMA = ("model", "Record", {
    "id": (_S, True, ()), "status": (_S, True, ()), "request": (_REQUEST_SCHEMA, False, ()),
    "result": (("optional", _RESULT_SCHEMA), False, ()), "error": (_S, False, ()),
    "startedAt": (_S, False, ("Record._valid_time",)), "finishedAt": (_S, False, ("Record._valid_time",)),
    **_plain("pdmReservationToken", "pdmPoolDomain", "pdmSubdomain", "kubeconfigBearerHash"),
    "adoptedAt": (("optional", _S), False, ()), "ownerEmail": (_S, False, ()),
})
#: What _events_look_valid and the events skim assume of one event.
_EVENT_SCHEMA = ("model", "Event", {
    **_plain("time", "phase", "level", "message", "component", "state"),
    "dependsOn": (("optional", ("list", _S)), False, ()),
})


def _valid_time(v: str) -> str:
    """``Record._valid_time``, the startedAt/finishedAt validator (the tests hold it to it)."""
    if v != GO_ZERO_TIME and parse_time(v) is None:
        raise ValueError(f"not an RFC3339 timestamp: {v[:40]!r}")
    return v


_VALIDATORS: dict[str, Callable[[Any], Any]] = {"Record._valid_time": _valid_time}
_EXACT: dict[str, type] = {_S: str, _I: int, _B: bool}


def _model_schema(model: Any, skip: frozenset[str] = frozenset()) -> Any:
    """The schema descriptor of a pydantic model class, None where it is not modelled (lax
    types, unions, aliases, other validators...): what the tables above must equal. Imports
    pydantic; only the tests call it."""
    from pydantic import BaseModel

    def describe(annotation: Any, metadata: list[Any]) -> Any:
        strict = any(getattr(m, "strict", False) is True for m in metadata)
        origin = get_origin(annotation)
        if origin is Annotated:
            base, *extra = get_args(annotation)
            return describe(base, [*metadata, *extra])
        if origin in (Union, UnionType):
            args = get_args(annotation)
            if len(args) == 2 and type(None) in args:
                inner = describe(next(a for a in args if a is not type(None)), metadata)
                return None if inner is None else ("optional", inner)
            return None
        if annotation in (str, int, bool):
            return {str: _S, int: _I, bool: _B}[annotation] if strict else None  # lax coercion: not modelled
        if origin is list:
            (item,) = get_args(annotation) or (None,)
            inner = describe(item, []) if item is not None else None
            return None if inner is None else ("list", inner)
        if origin is dict:
            key, val = get_args(annotation) or (None, None)
            inner = describe(val, []) if key is str and val is not None else None
            return None if inner is None else ("dict", inner)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            return describe_model(annotation, frozenset())
        return None

    def describe_model(m: Any, skip: frozenset[str]) -> Any:
        if m.model_config.get("extra") != "allow":
            return None
        decorators = m.__pydantic_decorators__
        if decorators.model_validators or decorators.validators or decorators.root_validators:
            return None
        after: dict[str, list[str]] = {}
        for dec in decorators.field_validators.values():
            if dec.info.mode != "after":
                return None
            for name in dec.info.fields:
                after.setdefault(name, []).append(f"{m.__name__}.{dec.cls_var_name}")
        fields: dict[str, tuple[Any, bool, tuple[str, ...]]] = {}
        for name, info in m.model_fields.items():
            if name in skip:
                continue
            if info.alias not in (None, name) or info.validation_alias not in (None, name):
                return None
            d = describe(info.annotation, list(info.metadata))
            if d is None:
                return None
            fields[name] = (d, info.is_required(), tuple(after.get(name, ())))
        return ("model", m.__name__, fields)

    return describe_model(model, skip)


def _compile_schema(d: Any) -> Check:
    if type(d) is str:
        return lambda v, t=_EXACT[d]: type(v) is t
    kind = d[0]
    if kind == "optional":
        inner = _compile_schema(d[1])
        return lambda v, inner=inner: True if v is None else inner(v)
    if kind in ("list", "dict"):
        inner = _compile_schema(d[1])
        container, values = (list, iter) if kind == "list" else (dict, dict.values)  # (object keys are strings)

        def check_items(v: Any, inner: Check = inner, container: type = container, values: Any = values) -> bool | None:
            if type(v) is not container:
                return False
            answer: bool | None = True
            for x in values(v):
                r = inner(x)
                if r is False:
                    return False
                if r is None:
                    answer = None
            return answer
        return check_items
    if kind != "model":
        raise ValueError(f"not a schema descriptor: {d!r}")
    _, name, fields = d
    # field -> (exact type or None, whether None is allowed, general check or None, validators)
    specs: dict[str, tuple[type | None, bool, Check | None, list[Callable[[Any], Any]]]] = {}
    for field, (fd, _required, validators) in fields.items():
        nullable = type(fd) is tuple and fd[0] == "optional"
        plain = fd[1] if nullable else fd
        exact = _EXACT[plain] if type(plain) is str else None
        specs[field] = (exact, nullable, None if exact is not None else _compile_schema(fd),
                        [_VALIDATORS[v] for v in validators])
    return _generate_check(name, specs, {f for f, (_, required, _) in fields.items() if required})


_MISSING = object()


def _generate_check(
    name: str,
    specs: dict[str, tuple[type | None, bool, Check | None, list[Callable[[Any], Any]]]],
    required: set[str],
) -> Check:
    """The model's check as one straight-line function (a listing runs it for every file): for
    each declared field present, its exact type (or general check), then its validators. The
    answer is False if any field is refused, else None if any was not modelled, else True; a
    validator raising anything but ValueError/AssertionError answers None (pydantic decides)."""
    env: dict[str, Any] = {"_M": _MISSING}
    lines = ["def check_model(v):", "    if type(v) is not dict:", "        return False", "    get = v.get",
             "    answer = True"]
    for i, (field, (exact, nullable, check, validators)) in enumerate(specs.items()):
        lines.append(f"    x = get({field!r}, _M)")
        if field in required:
            lines += ["    if x is _M:", "        return False", "    if True:"]
        else:
            lines.append("    if x is not _M:")
        if exact is not None:
            env[f"t{i}"] = exact
            lines += [f"        if type(x) is not t{i}{' and x is not None' if nullable else ''}:", "            return False"]
            body = "        "
        else:
            env[f"c{i}"] = check
            lines += [f"        r = c{i}(x)", "        if r is False:", "            return False", "        if r is None:",
                      "            answer = None", "        else:"]
            body = "            "
        for j, fn in enumerate(validators):
            env[f"f{i}_{j}"] = fn
            lines += [f"{body}try:", f"{body}    f{i}_{j}(x)", f"{body}except (ValueError, AssertionError):",
                      f"{body}    return False", f"{body}except Exception:", f"{body}    return None"]
        if exact is None and not validators:
            lines.append(f"{body}pass")
    lines.append("    return answer")
    code = "\n".join(lines) + "\n"
    exec(compile(code, f"<head check of {name}>", "exec"), env)  # noqa: S102 - our own generated code
    return env["check_model"]  # type: ignore[no-any-return]


def _pydantic_accepts(head: dict[str, Any]) -> bool:
    """What _head_valid does not model: Record.model_validate decides."""
    from ..domain.record import Record

    try:
        Record.model_validate(head)
    except (ValueError, RecursionError):  # (pydantic's ValidationError is a ValueError)
        return False
    return True


#: Record minus ``events`` (those are checked by _events_look_valid or the skim).
_head_valid: Check | None = _compile_schema(_RECORD_HEAD_SCHEMA)


# --- skimming the events of a file as catalyst-api writes it ------------------------------------------
# Listing needs of the events only their number, the last one's time and (before Phase 1 ends) the
# component states, yet json.loads + validating a million events is most of a listing of big
# records. catalyst-api (Go json.Encoder, SetIndent("", "  ")) and to_catalyst_json write the
# top-level "events" array in one fixed layout. _EVENTS_ARRAY_PATTERN matches exactly such an array whose
# every event is an object with only string values (keys plain ASCII without escapes), except
# "dependsOn" which is null or a list of strings: every such array is valid JSON that json.loads
# decodes into events the Event model accepts, and the pattern also checks the strings' bytes are
# well-formed UTF-8 (what the strict decode of get() requires). Strings cannot hold a raw newline,
# so every "\n" inside the match is layout, which makes the event count a byte count. Anything
# else (another layout, numbers, nested objects, escaped keys...) is not matched and takes the
# full decode: the skim only ever answers when the full decode would accept the file.
_JSON_SAFE = rb"[\x20\x21\x23-\x5b\x5d-\x7f]"  # printable ASCII but '"' and '\'
_UTF8_MULTI = (
    rb"(?:[\xc2-\xdf][\x80-\xbf]|\xe0[\xa0-\xbf][\x80-\xbf]|[\xe1-\xec\xee\xef][\x80-\xbf]{2}"
    rb"|\xed[\x80-\x9f][\x80-\xbf]|\xf0[\x90-\xbf][\x80-\xbf]{2}|[\xf1-\xf3][\x80-\xbf]{3}|\xf4[\x80-\x8f][\x80-\xbf]{2})"
)
_JSON_ESCAPE = rb'\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4})'
_JSON_STR = rb'"' + _JSON_SAFE + rb"*+(?:(?:" + _UTF8_MULTI + rb"|" + _JSON_ESCAPE + rb")" + _JSON_SAFE + rb'*+)*+"'
_EVENT_PAIR = (
    rb'(?:"(?!dependsOn")' + _JSON_SAFE + rb'*+": ' + _JSON_STR
    + rb'|"dependsOn": (?:null|\[\]|\[\n        ' + _JSON_STR + rb"(?:,\n        " + _JSON_STR + rb")*+\n      \]))"
)
_EVENT = rb"\n    \{\n      " + _EVENT_PAIR + rb"(?:,\n      " + _EVENT_PAIR + rb")*+\n    \}"
_EVENTS_ARRAY_PATTERN = rb"\[(?:" + _EVENT + rb"(?:," + _EVENT + rb")*+\n  )?+\]"
_events_array: "re.Pattern[bytes] | None" = None  # compiled on first use (6 ms)
_EVENTS_KEY = b'\n  "events": ['
_EVENT_BOUNDARY = b"    },\n    {"  # only between two events of a match (see above)
_LAST_EVENT_START = b"\n    {"
#: Files smaller than this are decoded whole (the skim saves nothing on a few events).
SKIM_MIN_BYTES = 8192


class _Placeholder:
    """What the skimmed events array is replaced with (as the JSON constant NaN) for decoding the rest."""


def _skim(data: bytes) -> "tuple[dict[str, Any], int, str | None, Callable[[], list[Any] | None]] | None":
    """(record dict without events, number of events, last event's time, events loader) when
    ``data`` is a JSON object that json.loads decodes and whose top-level ``events`` is an array
    :data:`_EVENTS_ARRAY_PATTERN` matches; None when not sure (the caller decodes the file fully).

    The array is cut out and the rest decoded with the constant ``NaN`` in its place: the array
    is one complete JSON value, so the rest decodes exactly when the whole file does (the cut is
    at ASCII bytes, so strict UTF-8 holds for the whole exactly when it holds for both parts).
    Whatever else the file holds (the same text nested, duplicate keys, other constants), the
    cut was the top-level ``events`` that json.loads keeps only if our constant was decoded
    exactly once and is the top-level ``events`` value."""
    i = data.find(_EVENTS_KEY)
    if i < 0:
        return None
    start = i + len(_EVENTS_KEY) - 1
    global _events_array
    if _events_array is None:
        _events_array = re.compile(_EVENTS_ARRAY_PATTERN)
    m = _events_array.match(data, start)
    if m is None:
        return None
    end = m.end()
    try:
        text = (data[:start] + b"NaN" + data[end:]).decode("utf-8")
    except UnicodeDecodeError:
        return None
    placeholder = _Placeholder()
    seen: list[str] = []

    def constant(name: str) -> Any:
        seen.append(name)
        return placeholder

    try:
        head = json.loads(text, parse_constant=constant)
    except (ValueError, RecursionError):
        return None
    if type(head) is not dict or len(seen) != 1 or head.get("events") is not placeholder:
        return None
    if end - start == 2:  # []
        return head, 0, None, list
    count = data.count(_EVENT_BOUNDARY, start, end) + 1
    last_start = data.rfind(_LAST_EVENT_START, start, end) + len(_LAST_EVENT_START) - 1
    last = json.loads(data[last_start:end - 4].decode("utf-8"))  # up to "\n  ]"
    last_time = last.get("time")

    def events() -> list[Any] | None:
        # Component states come from events with phase "component": none can be there if neither
        # that literal nor a \u escape (which could spell it) occurs in the array.
        if data.find(b'"component"', start, end) < 0 and data.find(b"\\u", start, end) < 0:
            return None
        return json.loads(data[start:end].decode("utf-8"))

    return head, count, (last_time if type(last_time) is str and last_time else None), events


#: :meth:`CatalystDirStore.head_summaries` ranks a file by its first bytes: this many, or up to
#: the second number when the members before ``"events"`` are longer (then the file is read whole).
HEAD_READ_BYTES = 8192
HEAD_READ_MAX_BYTES = 65536
_EVENTS_NAME = b'"events"'
_JSON_WS_BYTES = b" \t\n\r"


def _head_members(data: bytes, whole: bool) -> "tuple[dict[str, Any], bool] | None":
    """The top-level members of the JSON object ``data`` begins with, up to its ``"events"`` key
    (False) or, when ``data`` is the ``whole`` file, its end (True), decoded as json.loads would
    (a key given twice: the last one); None when ``data`` does not hold that much of a JSON object.

    The text before an occurrence of ``"events"`` is cut at it, its trailing ``,`` replaced by
    ``}``, and decoded: that is one JSON object exactly when the occurrence is a key of the
    top-level object (anywhere deeper a bracket stays open; inside a string the quotes are
    escaped; a value is preceded by ``:``). The cut is at ASCII bytes, so strict UTF-8 holds."""
    start = 0
    while True:
        p = data.find(_EVENTS_NAME, start)
        if p < 0:
            break
        start = p + len(_EVENTS_NAME)
        rest = data[start:start + 16].lstrip(_JSON_WS_BYTES)
        if not rest.startswith(b":"):
            if rest or len(data) - start >= 16:
                continue
            break  # cut short right after it: read more
        before = data[:p].rstrip(_JSON_WS_BYTES)
        if before.endswith(b","):
            before = before[:-1]
        elif not before.endswith(b"{"):
            continue
        try:
            members = json.loads((before + b"}").decode("utf-8"))
        except (ValueError, RecursionError):
            continue
        if type(members) is dict:
            return members, False
    if whole:
        try:
            members = json.loads(data.decode("utf-8"))
        except (ValueError, RecursionError):
            return None
        if type(members) is dict and "events" not in members:
            return members, True
    return None


class CatalystDirStore(RecordStore):
    kind = "catalyst-dir"
    shared_with_catalyst_api = True
    supports_leases = False

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        read_only: bool = False,
        max_record_bytes: int = MAX_RECORD_BYTES,
        lock_timeout: float = 10.0,
        event_cap: int = EVENT_BUFFER_CAP,
    ) -> None:
        self.dir = Path(directory)
        self.url = f"catalyst-dir://{self.dir}" if self.dir.is_absolute() else str(self.dir)
        self.read_only = read_only
        self.max_record_bytes = max_record_bytes
        self.lock_timeout = lock_timeout
        self.event_cap = event_cap
        #: False when the write probe failed at open (reads still work).
        self.writable = False
        self._real: str = ""
        self._opened = False
        #: the listing cache, shared with the other instances on this directory (set by open).
        self._listing: _SharedListing = _SharedListing()

    # --- open / close ----------------------------------------------------------------------------
    def _open_sync(self) -> None:
        d = self.dir
        if not d.exists() and not d.is_symlink():
            if self.read_only:
                raise StoreUnavailable(f"{d}: no such directory")
            try:
                make_private_dirs(d)
            except OSError as exc:
                raise StoreUnavailable(f"{d}: cannot create directory: {exc.strerror or exc}") from None
        if not d.is_dir():
            raise StoreUnavailable(f"{d}: not a directory")
        if not os.access(d, os.R_OK | os.X_OK):
            raise StoreUnavailable(f"{d}: directory is not readable")
        self._real = os.path.realpath(d)
        self._listing = _shared_listing((self._real, str(d), self.max_record_bytes))
        self.writable = False if self.read_only else self._probe()

    def _probe(self) -> bool:
        """catalyst-api's ``.write-probe``: really create and delete a file (root ignores mode bits)."""
        try:
            fd, name = tempfile.mkstemp(prefix=PROBE_PREFIX, dir=self.dir)
        except OSError:
            return False
        os.close(fd)
        try:
            os.unlink(name)
        except OSError:
            pass
        return True

    async def open(self) -> None:
        if self._opened:
            return
        await asyncio.to_thread(self._open_sync)
        self._opened = True

    async def close(self) -> None:
        self._opened = False

    def _check_open(self) -> None:
        if not self._opened:
            raise StoreUnavailable(f"{self.dir}: store is not open")

    # --- reading ---------------------------------------------------------------------------------
    def _path(self, record_id: str) -> Path:
        return self.dir / f"{record_id}.json"

    def _read_bytes(self, path: Path) -> bytes:
        """Read one record file under the safety rules; raise _Unreadable or FileNotFoundError."""
        try:
            st = os.lstat(path)
        except OSError as exc:
            if exc.errno == errno.ENAMETOOLONG:
                # No such file can exist: the same answer as any other missing record.
                raise FileNotFoundError(errno.ENOENT, "no such record") from None
            raise
        open_path = str(path)
        if stat.S_ISLNK(st.st_mode):
            real = os.path.realpath(path)
            if not (real.startswith(self._real + os.sep)):
                raise _Unreadable("symlink points outside the store directory")
            open_path = real
        elif stat.S_ISDIR(st.st_mode):
            raise _Unreadable("is a directory")
        try:
            fd = os.open(open_path, _OPEN_FLAGS)
        except FileNotFoundError:
            raise
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise _Unreadable("symlink points outside the store directory") from None
            raise _Unreadable(f"cannot open: {exc.strerror or exc}") from None
        return self._read_fd(fd)[0]

    def _read_fd(self, fd: int) -> tuple[bytes, os.stat_result]:
        """Read an opened record file (closing ``fd``): (bytes, fstat before reading)."""
        try:
            fst = os.fstat(fd)
            if not stat.S_ISREG(fst.st_mode):
                raise _Unreadable("not a regular file")
            limit = self.max_record_bytes
            if fst.st_size > limit:
                raise _Unreadable(f"file is {_mib(fst.st_size)}, over the {_mib(limit)} record size limit")
            chunks = []
            remaining = limit + 1
            while remaining > 0:
                chunk = os.read(fd, min(remaining, max(fst.st_size + 1, 1 << 16), 1 << 20))
                if not chunk:
                    break
                chunks.append(chunk)
                remaining -= len(chunk)
            data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
            if len(data) > limit:
                raise _Unreadable(f"file grew over the {_mib(limit)} record size limit while being read")
            return data, fst
        except OSError as exc:
            raise _Unreadable(f"cannot read: {exc.strerror or exc}") from None
        finally:
            os.close(fd)

    def _read_listed(self, path: str) -> tuple[bytes, os.stat_result | None]:
        """:meth:`_read_bytes` for a directory entry that was not a symlink when listed: one
        ``open(O_NOFOLLOW)`` + ``fstat`` instead of ``lstat`` + ``open`` + ``fstat``; the same
        answers (a symlink appearing meanwhile takes the full path). The stat is None then."""
        try:
            fd = os.open(path, _OPEN_FLAGS)
        except FileNotFoundError:
            raise
        except OSError as exc:
            if exc.errno == errno.ELOOP:  # replaced by a symlink since the scan
                return self._read_bytes(Path(path)), None
            raise _Unreadable(f"cannot open: {exc.strerror or exc}") from None
        return self._read_fd(fd)

    def _decode_full(self, record_id: str, path: "Path | str", data: bytes) -> Record:
        source = str(path)
        try:
            record = loads_record(data, source=source)
        except RecordDecodeError as exc:
            raise _Unreadable(_strip_source(str(exc), source)) from None
        if record.id != record_id:
            raise _Unreadable(self._id_mismatch(record.id))
        return record

    @staticmethod
    def _id_mismatch(found: str) -> str:
        shown = found if len(found) <= 40 else found[:37] + "..."
        return f"record id {shown!r} differs from the file name"

    def _summary_fast(self, record_id: str, path: "Path | str", data: bytes) -> Summary:
        """A Summary without building event models; any doubt falls back to the full decode so
        the error is exactly the one :meth:`get` would raise."""
        if len(data) >= SKIM_MIN_BYTES:
            skimmed = _skim(data)
            if skimmed is not None:
                head, count, last_time, events = skimmed
                valid = _head_valid(head) if _head_valid is not None else None
                if valid is None:
                    valid = _pydantic_accepts({k: v for k, v in head.items() if k != "events"})
                if valid and head.get("id") == record_id:
                    return Summary(version=version_of(data), **head_summary_fields(head, count, last_time, events))
        try:
            # Strict UTF-8 like loads_record (and Go's json.Unmarshal): json.loads on bytes would
            # silently accept a BOM or UTF-16/32 that get() refuses.
            obj = json.loads(data.decode("utf-8"))
        except (ValueError, RecursionError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
            obj = None
        if type(obj) is dict and _events_look_valid(obj.get("events")):
            valid = _head_valid(obj) if _head_valid is not None else None
            if valid is None:
                valid = _pydantic_accepts({k: v for k, v in obj.items() if k != "events"})
            rid = obj.get("id") if valid else None
            if rid:
                if rid != record_id:
                    raise _Unreadable(self._id_mismatch(rid))
                return summary_from_dict(obj, version_of(data))
        # Slow path: the full decoder produces the precise message (or, rarely, succeeds).
        record = self._decode_full(record_id, path, data)
        return summary_from_dict(record_to_dict(record), version_of(data))

    def _list_sync(self) -> tuple[list[Summary], list[LoadError]]:
        """catalyst-api's LoadAll plus our safety rules (module doc).

        Each regular file's outcome (its Summary, or the reason it is skipped) is cached under
        the file's (inode, size, mtime_ns, ctime_ns): a later listing re-reads only the files that
        changed (an atomic rewrite is a new inode; an in-place one moves the times). Entries for
        files changed less than :data:`CACHE_SETTLE_NS` before they were read are not kept, and
        symlinks are always read again (their target may change without touching the link).
        The cache is shared with the other store instances on this directory (:class:`_SharedListing`)."""
        listing = self._listing
        with listing.lock:
            return self._list_locked(listing)

    def _record_entries(self) -> Iterator[tuple[str, bool, os.DirEntry[str]]]:
        """The directory's record files as the listing takes them (§1.3): (name, is a symlink,
        entry) of every non-directory entry named ``*.json`` not starting with a dot."""
        try:
            entries = list(os.scandir(self.dir))
        except OSError as exc:
            raise StoreUnavailable(f"{self.dir}: cannot list directory: {exc.strerror or exc}") from None
        for entry in entries:
            name = entry.name
            if name.startswith(".") or not name.endswith(".json"):
                continue
            try:
                if entry.is_dir(follow_symlinks=False):
                    continue
                link = entry.is_symlink()
            except OSError:
                continue
            yield name, link, entry

    def _list_locked(self, listing: _SharedListing) -> tuple[list[Summary], list[LoadError]]:
        summaries: list[Summary] = []
        errors: list[LoadError] = []
        entries = self._record_entries()
        old_cache = listing.entries
        cache: dict[str, tuple[tuple[int, int, int, int], Summary | LoadError]] = {}
        settled_before = time.time_ns() - CACHE_SETTLE_NS
        dir_s = str(self.dir)
        prefix = "" if dir_s == "." else os.path.join(dir_s, "")  # str(self.dir / name), cheaper
        todo: list[tuple[str, bool, os.DirEntry[str]]] = []  # (name, is a symlink, entry): to read
        for name, link, entry in entries:
            cached = None if link else _still_valid(entry, old_cache.get(name))
            if cached is not None:  # (the file has not changed since it was read)
                cache[name] = cached
                if isinstance(cached[1], LoadError):
                    errors.append(cached[1])
                else:
                    summaries.append(cached[1])
                continue
            todo.append((name, link, entry))
        for name, outcome, key in self._read_listed_files(prefix, todo):
            if outcome is None:
                continue  # removed while listing (catalyst-api Delete)
            if isinstance(outcome, LoadError):
                errors.append(outcome)
            else:
                summaries.append(outcome)
            if key is not None and max(key[2], key[3]) < settled_before:
                cache[name] = (key, outcome)
        listing.entries = cache
        summaries.sort(key=lambda s: (s.startedAt or "", s.id))
        errors.sort(key=lambda e: e.path)
        return summaries, errors

    def _read_one(self, prefix: str, name: str, link: bool) -> tuple[Summary | LoadError | None, tuple[int, int, int, int] | None]:
        """Read and summarise one listed file: (its Summary or LoadError, or None when it was
        removed meanwhile; the (inode, size, mtime_ns, ctime_ns) it was read at, None for a symlink)."""
        path = prefix + name
        record_id = name[: -len(".json")]
        fst: os.stat_result | None = None
        outcome: Summary | LoadError
        try:
            check_id(record_id)
            if link:
                data = self._read_bytes(Path(path))
            else:
                data, fst = self._read_listed(path)
            outcome = self._summary_fast(record_id, path, data)
        except FileNotFoundError:
            return None, None
        except _Unreadable as exc:
            outcome = LoadError(path, exc.reason)
        except StoreError as exc:
            outcome = LoadError(path, str(exc))
        except (ValueError, RecursionError, MemoryError) as exc:  # never abort the load
            outcome = LoadError(path, f"cannot decode: {type(exc).__name__}")
        return outcome, (None if fst is None else (fst.st_ino, fst.st_size, fst.st_mtime_ns, fst.st_ctime_ns))

    def _read_listed_files(
        self, prefix: str, todo: list[tuple[str, bool, os.DirEntry[str]]]
    ) -> Iterator[tuple[str, Summary | LoadError | None, tuple[int, int, int, int] | None]]:
        """(name, outcome, key) of :meth:`_read_one` for every file to read. A large listing is
        shared with a second process (the machine's other CPU; parsing holds the GIL, so a thread
        would not help): it takes a part of the files, chosen by their sizes so that both finish
        together, and this thread reads the rest meanwhile. Then, as long as the helper has not
        answered, this thread goes on with the helper's part itself (a slow or stuck helper costs
        nothing but the CPU it used) and takes the helper's answers for what is left once it has.
        An answer that is not exactly the files asked is not used: the outcome never depends on
        the helper."""
        theirs: list[tuple[str, bool]] = []
        if len(todo) >= PARALLEL_MIN_FILES and type(self) is CatalystDirStore and _parallel_ok():
            theirs = self._split_for_helper(todo)
        helper = _ListHelper.start(self, theirs) if theirs else None
        if helper is None:
            theirs = []
        taken = {name for name, _ in theirs}
        try:
            for name, link, _entry in todo:
                if name not in taken:
                    yield (name, *self._read_one(prefix, name, link))
            done = 0
            results = None
            for name, link in theirs:
                if helper is not None and not helper.running():
                    results = helper.results()
                    helper = None
                    if results is not None:
                        break
                yield (name, *self._read_one(prefix, name, link))
                done += 1
        finally:
            if helper is not None:
                helper.stop()
        if results is not None:
            yield from results[done:]

    @staticmethod
    def _split_for_helper(todo: list[tuple[str, bool, os.DirEntry[str]]]) -> list[tuple[str, bool]]:
        """The files a helper process should read (from the end of the list), or none when the
        listing is too small to gain from one (see the cost constants)."""
        costs: list[float] = []
        for _name, link, entry in todo:
            try:
                size = 0 if link else entry.stat(follow_symlinks=False).st_size
            except OSError:
                size = 0
            costs.append(_COST_PER_FILE + _COST_PER_BYTE * size)
        total = sum(costs)
        if total < PARALLEL_MIN_SECONDS:
            return []
        # Give it files (from the end) while it would still finish before us: it starts late,
        # and taking in its answer costs us a little per file.
        theirs: list[tuple[str, bool]] = []
        helper, ours = _HELPER_START_SECONDS, total
        for (name, link, _entry), cost in zip(reversed(todo), reversed(costs)):
            if helper + cost > ours - cost + _COST_TO_TAKE_IN:
                break
            theirs.append((name, link))
            helper += cost
            ours += _COST_TO_TAKE_IN - cost
        return theirs

    async def list_summaries(self) -> tuple[list[Summary], list[LoadError]]:
        self._check_open()
        return await asyncio.to_thread(self._list_sync)

    # --- the head of the fleet's order (a dashboard's first screen) ----------------------------------
    async def head_summaries(
        self, limit: int, ranks: Mapping[str, int | None], *, other_rank: int
    ) -> tuple[int, list[Summary]] | None:
        """See :meth:`RecordStore.head_summaries`. Ranks every record file the listing would take
        by ``id``, ``status`` and ``startedAt`` read from the file's first bytes
        (:func:`_head_members`: the top-level members before ``"events"``, where catalyst-api's
        struct order writes them), then summarises, with the listing's own per-file code and its
        shared cache, the first ``limit`` of that order (more when some are unreadable) and every
        record of a status ranked None. A file whose beginning does not give the three (another
        key order, a broken or very long head, a symlink...) is summarised whole to be ranked.
        A summary that turns out to place its record later than its first bytes said is put back
        in the order at its real place. Not seen: a file repeating ``id``/``status``/``startedAt``
        after its events (json.loads keeps the last; catalyst-api and to_catalyst_json never write
        a key twice) is ranked by the first one -- until the full listing replaces the head.
        2,000 files of 500 events, 64 rows: ~65 ms instead of the listing's ~550."""
        self._check_open()
        return await asyncio.to_thread(self._head_sync, limit, dict(ranks), other_rank)

    def _head_sync(self, limit: int, ranks: dict[str, int | None], other_rank: int) -> tuple[int, list[Summary]]:
        listing = self._listing
        with listing.lock:
            prefetch = sys.modules.get(f"{__package__}.dir_prefetch")  # only when the CLI started one
            answer = prefetch.claim(self, limit, ranks, other_rank) if prefetch is not None else None
            if answer is not None:
                total, out, entries = answer
                for name, key, outcome in entries:
                    listing.entries.setdefault(name, (key, outcome))
                return total, out
            return self._head_locked(listing, limit, ranks, other_rank)

    def _head_locked(self, listing: _SharedListing, limit: int, ranks: dict[str, int | None],
                     other_rank: int) -> tuple[int, list[Summary]]:
        cache = listing.entries
        settled_before = time.time_ns() - CACHE_SETTLE_NS
        dir_s = str(self.dir)
        prefix = "" if dir_s == "." else os.path.join(dir_s, "")
        inf = float("inf")

        def read_whole(name: str, link: bool) -> Summary | LoadError | None:
            outcome, key = self._read_one(prefix, name, link)
            if outcome is not None and key is not None and max(key[2], key[3]) < settled_before:
                cache[name] = (key, outcome)  # the listing after this one reads it no more
            return outcome

        def order_key(record_id: str, status: str, started: str | None) -> tuple[Any, ...] | None:
            rank = ranks.get(status, other_rank)
            if rank is None:
                return None
            dt = parse_time(started)
            return (rank, -dt.timestamp() if dt is not None else inf, record_id)

        total = 0
        out: list[Summary] = []
        # (order key, name, is a symlink, its Summary when known already)
        heap: list[tuple[tuple[Any, ...], str, bool, Summary | None]] = []
        for name, link, entry in self._record_entries():
            record_id = name[: -len(".json")]
            known: Summary | LoadError | None = None
            cached = None if link else _still_valid(entry, cache.get(name))
            if cached is not None:
                known = cached[1]
            if known is None:
                try:
                    plain = not link and entry.is_file(follow_symlinks=False)
                except OSError:
                    plain = False
                first = self._rank_fields(prefix + name, record_id) if plain else None
                if first is not None:
                    total += 1
                    key = order_key(record_id, *first)
                    if key is not None:
                        heap.append((key, name, link, None))
                        continue
                known = read_whole(name, link)  # ranked None (to be returned), or not ranked yet
                if known is None:  # removed meanwhile
                    total -= first is not None
                    continue
                if first is None:
                    total += 1
            else:
                total += 1
            if isinstance(known, Summary):
                key = order_key(known.id, known.status, known.startedAt)
                if key is None:
                    out.append(known)
                else:
                    heap.append((key, name, link, known))
        heapq.heapify(heap)
        got = 0
        while got < limit and heap:
            key, name, link, summary = heapq.heappop(heap)
            if summary is None:
                outcome = read_whole(name, link)
                if not isinstance(outcome, Summary):
                    continue  # unreadable (or removed): the next one takes its place
                summary = outcome
                real = order_key(summary.id, summary.status, summary.startedAt)
                if real is None:
                    out.append(summary)  # (a status ranked None after all: returned anyway)
                    continue
                if real > key:
                    heapq.heappush(heap, (real, name, link, summary))
                    continue
            out.append(summary)
            got += 1
        return total, out

    def _rank_fields(self, path: str, record_id: str) -> tuple[str, str | None] | None:
        """(status, startedAt) of a record file (not a symlink) from its first bytes, when they
        hold its top-level ``id`` (equal to ``record_id``), ``status`` and ``startedAt`` (or the
        whole object) before ``events``; None when not (read the file whole to know)."""
        # (No fstat: the listing refuses what is not a regular file or is too large when it
        # reads the file whole; any bytes read here only rank it. O_NONBLOCK: a FIFO never blocks.)
        try:
            fd = os.open(path, _OPEN_FLAGS)
        except OSError:
            return None
        try:
            data = os.read(fd, HEAD_READ_BYTES)
            found = _head_members(data, False)
            if found is None:
                if len(data) < HEAD_READ_BYTES:
                    if not os.read(fd, 1):
                        found = _head_members(data, True)
                else:
                    data += os.read(fd, HEAD_READ_MAX_BYTES - len(data))
                    found = _head_members(data, len(data) < HEAD_READ_MAX_BYTES and not os.read(fd, 1))
        except OSError:
            return None
        finally:
            os.close(fd)
        if found is None:
            return None
        members, complete = found
        rid, status, started = members.get("id"), members.get("status"), members.get("startedAt", _MISSING)
        if type(rid) is not str or rid != record_id or type(status) is not str:
            return None
        if started is _MISSING:
            if not complete:
                return None  # it may come after the events
            started = None
        elif type(started) is not str:
            return None
        return status, started

    def _get_sync(self, record_id: str) -> Versioned:
        path = self._path(record_id)
        try:
            data = self._read_bytes(path)
        except FileNotFoundError:
            raise RecordNotFound(f"{record_id}: no such record in {self.dir}") from None
        except _Unreadable as exc:
            raise UnreadableRecord(f"{path}: {exc.reason}") from None
        try:
            record = self._decode_full(record_id, path, data)
        except _Unreadable as exc:
            raise UnreadableRecord(f"{path}: {exc.reason}") from None
        return Versioned(record, version_of(data))

    async def get(self, record_id: str) -> Versioned:
        check_id(record_id)
        self._check_open()
        return await asyncio.to_thread(self._get_sync, record_id)

    def _token_sync(self) -> str:
        try:
            st = os.stat(self.dir)
            h = hashlib.blake2b(digest_size=12)
            with os.scandir(self.dir) as it:
                for entry in it:
                    name = entry.name
                    if name.startswith(".") or not name.endswith(".json"):
                        continue
                    try:
                        s = entry.stat()
                    except OSError:
                        continue
                    h.update(f"{name}\0{s.st_ino}\0{s.st_size}\0{s.st_mtime_ns}\n".encode("utf-8", "surrogateescape"))
        except OSError as exc:
            return f"unavailable:{exc.errno}"
        return f"{st.st_mtime_ns}:{h.hexdigest()}"

    async def change_token(self) -> str:
        self._check_open()
        return await asyncio.to_thread(self._token_sync)

    # --- writing ---------------------------------------------------------------------------------
    def _not_writable(self, record_id: str, exc: OSError) -> StoreUnavailable:
        return StoreUnavailable(
            f"{self.dir}: directory is not writable: {exc.strerror or exc}; nothing written for {record_id}"
        )

    @contextmanager
    def _locked(self, record_id: str) -> Iterator[None]:
        try:
            fd = os.open(self.dir / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise self._not_writable(record_id, exc) from None
        try:
            deadline = time.monotonic() + self.lock_timeout
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise StoreUnavailable(
                            f"{record_id}: {self.dir} is locked by another catalyst-tui writer "
                            f"(waited {self.lock_timeout:g} s); nothing written"
                        ) from None
                    time.sleep(0.02)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def _write_temp(self, record_id: str, payload: bytes) -> str:
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{record_id}.", suffix=".json.tmp", dir=self.dir)
        except OSError as exc:
            raise self._not_writable(record_id, exc) from None
        try:
            try:
                view = memoryview(payload)
                while view:
                    n = os.write(fd, view)
                    view = view[n:]
                os.fsync(fd)
                os.fchmod(fd, 0o600)
            finally:
                os.close(fd)
        except OSError as exc:
            _unlink_quiet(tmp)
            raise StoreUnavailable(f"{record_id}: cannot write {tmp}: {exc.strerror or exc}; nothing written") from None
        except BaseException:
            _unlink_quiet(tmp)
            raise
        return tmp

    def _fsync_dir(self) -> None:
        try:
            fd = os.open(self.dir, os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            return
        try:
            os.fsync(fd)
        except OSError:
            pass
        finally:
            os.close(fd)

    def _current_version(self, record_id: str) -> tuple[str | None, bytes | None]:
        """(version, bytes) of ``<id>.json`` now; (None, None) when absent."""
        try:
            data = self._read_bytes(self._path(record_id))
        except FileNotFoundError:
            return None, None
        except _Unreadable as exc:
            return f"unreadable: {exc.reason}", None
        return version_of(data), data

    def _audit_write(self, entry: AuditEntry | None) -> None:
        if entry is None:
            return
        line = (json.dumps(entry.to_json(), ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")
        path = self.dir / AUDIT_NAME
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise self._not_writable(entry.record_id or "audit", exc) from None
        try:
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)

    def _replace_locked(self, record_id: str, payload: bytes, expected: str) -> None:
        """Under the lock: temp, compare with ``expected``, rename. Raises Conflict/RecordNotFound."""
        tmp = self._write_temp(record_id, payload)
        try:
            current, _ = self._current_version(record_id)
            if current is None:
                raise RecordNotFound(f"{record_id}: no such record in {self.dir} (deleted underneath?); nothing written")
            if current != expected:
                raise Conflict(
                    f"{record_id}: changed underneath (version {current[:12]}, expected {expected[:12]}); nothing written"
                )
            try:
                os.rename(tmp, self._path(record_id))
            except OSError as exc:
                raise StoreUnavailable(f"{record_id}: cannot rename into place: {exc.strerror or exc}; nothing written") from None
        except BaseException:
            _unlink_quiet(tmp)
            raise
        self._fsync_dir()

    def _payload(self, record: Record) -> bytes:
        if record.events is not None and len(record.events) > self.event_cap:
            record = record.model_copy(deep=False)
            record.events = list(record.events[-self.event_cap:])
        return to_catalyst_json(record).encode("utf-8")

    def _create_sync(self, record: Record, audit: AuditEntry | None) -> str:
        record_id = record.id
        payload = self._payload(record)
        target = self._path(record_id)
        if os.path.lexists(target):  # fail fast; the link below is the real check
            raise Conflict(f"{record_id}: already exists in {self.dir}; nothing written")
        with self._locked(record_id):
            tmp = self._write_temp(record_id, payload)
            try:
                try:
                    os.link(tmp, target)  # atomic create-if-absent
                except FileExistsError:
                    raise Conflict(f"{record_id}: already exists in {self.dir}; nothing written") from None
                except OSError as exc:
                    if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
                        raise StoreUnavailable(f"{record_id}: cannot create {target}: {exc.strerror or exc}") from None
                    if os.path.lexists(target):
                        raise Conflict(f"{record_id}: already exists in {self.dir}; nothing written") from None
                    os.rename(tmp, target)
            finally:
                _unlink_quiet(tmp)
            self._fsync_dir()
            self._audit_write(audit)
        return version_of(payload)

    async def create(self, record: Record, *, audit: AuditEntry | None = None) -> str:
        record_id = check_id(record.id)
        if self.read_only:
            raise refuse_read_only(record_id, "create")
        self._check_open()
        return await asyncio.to_thread(self._create_sync, record, audit)

    def _replace_sync(self, record: Record, expected: str, audit: AuditEntry | None) -> str:
        payload = self._payload(record)
        with self._locked(record.id):
            self._replace_locked(record.id, payload, expected)
            self._audit_write(audit)
        return version_of(payload)

    async def replace(self, record: Record, expected_version: str, *, audit: AuditEntry | None = None) -> str:
        record_id = check_id(record.id)
        if self.read_only:
            raise refuse_read_only(record_id, "replace")
        self._check_open()
        return await asyncio.to_thread(self._replace_sync, record, str(expected_version), audit)

    def _append_sync(self, record_id: str, events: list[Event], expected: str | None, audit: AuditEntry | None) -> str:
        # Fail fast (before creating the lock file) on a missing, unreadable or stale record.
        first = self._get_sync(record_id)
        if expected is not None and first.version != expected:
            raise Conflict(
                f"{record_id}: changed underneath (version {first.version[:12]}, expected {expected[:12]}); nothing written"
            )
        with self._locked(record_id):
            # Unguarded appends commute: retry a few times if catalyst-api rewrites the file meanwhile.
            attempts = 1 if expected is not None else 5
            for attempt in range(attempts):
                current = self._get_sync(record_id)
                if expected is not None and current.version != expected:
                    raise Conflict(
                        f"{record_id}: changed underneath (version {current.version[:12]}, expected {expected[:12]}); nothing written"
                    )
                record = current.record
                record.append_events(events, cap=self.event_cap)
                payload = self._payload(record)
                try:
                    self._replace_locked(record_id, payload, current.version)
                except Conflict:
                    if attempt + 1 >= attempts:
                        raise
                    continue
                self._audit_write(audit)
                return version_of(payload)
        raise AssertionError("unreachable")  # pragma: no cover

    async def append_events(
        self,
        record_id: str,
        events: list[Event],
        *,
        expected_version: str | None = None,
        audit: AuditEntry | None = None,
    ) -> str:
        check_id(record_id)
        if self.read_only:
            raise refuse_read_only(record_id, "append events")
        self._check_open()
        return await asyncio.to_thread(self._append_sync, record_id, list(events), expected_version, audit)

    # --- audit -----------------------------------------------------------------------------------
    def _audit_append_sync(self, entry: AuditEntry) -> None:
        with self._locked(entry.record_id or "audit"):
            self._audit_write(entry)

    async def audit_append(self, entry: AuditEntry) -> None:
        if self.read_only:
            raise refuse_read_only(entry.record_id or "audit", "audit append")
        self._check_open()
        await asyncio.to_thread(self._audit_append_sync, entry)

    def _audit_list_sync(self, record_id: str | None) -> list[AuditEntry]:
        try:
            with open(self.dir / AUDIT_NAME, "rb") as fh:
                lines = fh.read().splitlines()
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise StoreUnavailable(f"{self.dir / AUDIT_NAME}: cannot read audit trail: {exc.strerror or exc}") from None
        out = []
        for line in lines:
            try:
                data = json.loads(line)
            except ValueError:
                continue  # a torn last line after a crash
            if isinstance(data, dict):
                entry = AuditEntry.from_json(data)
                if record_id is None or entry.record_id == record_id:
                    out.append(entry)
        return out

    async def audit_list(self, record_id: str | None = None) -> list[AuditEntry]:
        self._check_open()
        return await asyncio.to_thread(self._audit_list_sync, record_id)


# --- a helper process for large listings ------------------------------------------------------------
#: A listing whose files to read are estimated (the costs below) to take this long is shared with
#: a helper process when a second CPU looks idle; both read about half. 2,000 records of 500
#: events (150 MB): ~1.0 -> 0.6 s. On a busy machine a helper only adds its start-up, so none is
#: used when the load average leaves no CPU free (or a cgroup CPU quota allows less than two).
PARALLEL_MIN_SECONDS = 0.5
PARALLEL_MIN_FILES = 64
_COST_PER_FILE = 55e-6  # open, read, decode or skim, check, hash and summarise a small record
_COST_PER_BYTE = 5e-9  # the part growing with the size (decoding or skimming)
_COST_TO_TAKE_IN = 12e-6  # per file of the helper's answer, in this process
_HELPER_START_SECONDS = 0.12  # interpreter start and imports
_HELPER_HEADER = b"catalyst-tui list helper 2"
_HELPER_CODE = (
    "import json, sys\n"
    "request = json.loads(sys.stdin.buffer.readline())\n"
    "sys.path[:] = request['path']\n"
    "from catalyst_tui.store.catalyst_dir import _list_helper_main\n"
    "_list_helper_main(request)\n"
)


def _cpus_available() -> float:
    """CPUs this process may use: its affinity, capped by a cgroup CPU quota (a pod's limit)."""
    try:
        cpus: float = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    for path in ("/sys/fs/cgroup/cpu.max", "/sys/fs/cgroup/cpu/cpu.cfs_quota_us"):
        try:
            with open(path) as fh:
                fields = fh.read().split()
            if path.endswith("cpu.max"):
                quota, period = fields[0], fields[1]
            else:
                with open("/sys/fs/cgroup/cpu/cpu.cfs_period_us") as fh:
                    quota, period = fields[0], fh.read().strip()
            if quota not in ("max", "-1") and int(period) > 0:
                cpus = min(cpus, int(quota) / int(period))
            break
        except (OSError, ValueError, IndexError):
            continue
    return cpus


def _parallel_ok() -> bool:
    """A second CPU looks free (and a helper can be started at all)."""
    if not sys.executable:
        return False
    cpus = _cpus_available()
    if cpus < 2:
        return False
    try:
        load = os.getloadavg()[0]
    except OSError:
        return False
    return load < cpus - 0.5  # (a listing's own process keeps about one CPU busy)


class _ListHelper:
    """A helper process reading part of a listing (see CatalystDirStore._read_listed_files):
    given the files to read (a JSON line), it answers a header line and the pickled list of
    (name, outcome, key), loaded back allowing only Summary and LoadError objects."""

    def __init__(self, proc: "subprocess.Popen[bytes]", files: list[tuple[str, bool]]) -> None:
        self.proc = proc
        self.files = files
        self.out: bytes | None = None
        self.thread: threading.Thread | None = None

    @classmethod
    def start(cls, store: "CatalystDirStore", files: list[tuple[str, bool]]) -> "_ListHelper | None":
        request = json.dumps({
            "path": sys.path, "dir": str(store.dir), "real": store._real, "max_record_bytes": store.max_record_bytes,
            "skim_min_bytes": SKIM_MIN_BYTES, "files": files,
        }).encode("utf-8", "surrogateescape") + b"\n"
        try:
            proc = subprocess.Popen([sys.executable, "-c", _HELPER_CODE], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=subprocess.DEVNULL, close_fds=True)
        except (OSError, ValueError):
            return None
        helper = cls(proc, files)
        try:  # a larger pipe: its answer is read in fewer turns of the GIL
            fcntl.fcntl(proc.stdout.fileno(), fcntl.F_SETPIPE_SZ, 1 << 20)  # type: ignore[union-attr]
        except (AttributeError, OSError):
            pass
        # The request may not fit in the pipe: written (and the answer read) by a thread.
        helper.thread = threading.Thread(target=helper._talk, args=(request,), name="catalyst-dir list helper", daemon=True)
        helper.thread.start()
        return helper

    def _talk(self, request: bytes) -> None:
        stdin, stdout = self.proc.stdin, self.proc.stdout
        assert stdin is not None and stdout is not None
        try:
            try:
                stdin.write(request)
            finally:
                stdin.close()
            self.out = stdout.read()
        except (OSError, ValueError):
            self.out = None
        finally:
            stdout.close()

    def running(self) -> bool:
        """Not answered completely yet."""
        return self.thread is not None and self.thread.is_alive()

    def stop(self) -> None:
        """Reap the helper, killing it first if it has not answered completely."""
        if self.running():
            self.proc.kill()
        if self.thread is not None:
            self.thread.join()
        try:
            self.proc.wait(5)  # its answer is complete: it is exiting
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def results(self) -> list[tuple[str, Summary | LoadError | None, tuple[int, int, int, int] | None]] | None:
        """Once it has answered (see :meth:`running`): its (name, outcome, key) for exactly the
        files it was given, in their order, or None when it failed or answered anything else."""
        self.stop()
        out = self.out
        if self.proc.returncode != 0 or not out or not out.startswith(_HELPER_HEADER + b"\n"):
            return None
        try:
            results = _ResultsUnpickler(io.BytesIO(out[len(_HELPER_HEADER) + 1:])).load()
        except Exception:  # noqa: BLE001 - any malformed answer: read its part here instead
            return None
        if type(results) is not list or len(results) != len(self.files):
            return None
        for item, (asked, _link) in zip(results, self.files):
            if type(item) is not tuple or len(item) != 3:
                return None
            name, outcome, key = item
            if name != asked or type(outcome) not in (Summary, LoadError, type(None)):
                return None
            if key is not None and (type(key) is not tuple or len(key) != 4 or any(type(k) is not int for k in key)):
                return None
        return results


class _ResultsUnpickler(pickle.Unpickler):
    """The helper's answer holds Summary and LoadError objects; nothing else is loaded."""

    def find_class(self, module: str, name: str) -> Any:
        if module == Summary.__module__ and name in ("Summary", "LoadError"):
            return Summary if name == "Summary" else LoadError
        raise pickle.UnpicklingError(f"{module}.{name} is not a listing result")


def _list_helper_main(request: dict[str, Any]) -> None:
    """The helper process: read the files of the request as the parent would, print the answers."""
    import gc

    gc.disable()  # short-lived; nothing it builds is cyclic
    global SKIM_MIN_BYTES
    SKIM_MIN_BYTES = request["skim_min_bytes"]
    store = CatalystDirStore(request["dir"], read_only=True, max_record_bytes=request["max_record_bytes"])
    store._real = request["real"]
    dir_s = str(store.dir)
    prefix = "" if dir_s == "." else os.path.join(dir_s, "")
    results = [(name, *store._read_one(prefix, name, link)) for name, link in request["files"]]
    sys.stdout.buffer.write(_HELPER_HEADER + b"\n" + pickle.dumps(results, protocol=pickle.HIGHEST_PROTOCOL))
    sys.stdout.buffer.flush()


def _unlink_quiet(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


__all__ = ["CatalystDirStore", "UnreadableRecord", "version_of", "LOCK_NAME", "AUDIT_NAME"]
