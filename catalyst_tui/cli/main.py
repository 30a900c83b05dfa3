"""``catalyst-tui``: the command line (a contract: scripts and the dashboard rely on it).

::

    catalyst-tui [--store URL] [--operator NAME] [--read-only] [--kubeconfigs-dir DIR]
                 [--handover-key PATH] [--take-over] COMMAND ...

Global options may also follow the command (``catalyst-tui list --store X``).

Exit codes: 0 success, 1 other failure (store unavailable, key unreadable), 2 usage error,
3 record not found, 4 conflict (changed underneath / ``--expect`` mismatch), 5 refused
(read-only mode, or a rule forbids it). Every expected failure is one line on stderr naming the
record and the reason, never a traceback (set ``CATALYST_TUI_DEBUG=1`` to get one for an
unexpected error).

Environment: ``CATALYST_TUI_STORE``, ``CATALYST_KUBECONFIGS_DIR``, ``CATALYST_OPERATOR``,
``CATALYST_HANDOVER_KEY_PATH``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib.util
import json
import os
import re
import signal
import sys
from contextlib import asynccontextmanager
from datetime import timezone
from typing import TYPE_CHECKING, Any, AsyncIterator, Awaitable, Callable, Sequence

from ..domain import statuses
from ..domain.record import CREDENTIAL_FIELDS, REDACTED, parse_time, record_to_dict, to_catalyst_json
from ..domain.restart import kubeconfigs_dir_from_env, resume_decision
from ..service import fleet
from ..service.identity import resolve_operator
from ..service.text import first_line, sanitize, truncate
from ..store.base import RecordNotFound, RecordStore, StoreError
from .options import RunOptions

if TYPE_CHECKING:
    from ..domain.record import Record

# Imported where used: ``service.actions`` (the mutating commands) and the pydantic record models
# are not needed to list the fleet or open the dashboard (~80 ms of start-up).

PROG = "catalyst-tui"
ENV_STORE = "CATALYST_TUI_STORE"
ENV_HANDOVER_KEY = "CATALYST_HANDOVER_KEY_PATH"
ENV_DEBUG = "CATALYST_TUI_DEBUG"

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_NOT_FOUND = 3
EXIT_CONFLICT = 4
EXIT_REFUSED = 5
EXIT_INTERRUPTED = 130

#: How often ``events --follow`` polls the store's change token.
FOLLOW_INTERVAL = 0.5


class UsageError(StoreError):
    exit_code = EXIT_USAGE


class Unavailable(StoreError):
    """A feature whose module is not part of this build."""

    exit_code = EXIT_FAILURE


# --- output helpers ----------------------------------------------------------------------------

_JSON_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def json_text(data: Any) -> str:
    """Pretty JSON that is also inert on a terminal: C1 controls and bidi overrides (which
    ``json.dumps`` leaves raw with ``ensure_ascii=False``) are written as ``\\uXXXX`` escapes."""
    return terminal_safe_json(json.dumps(data, indent=2, ensure_ascii=False))


def json_array_text(items: Sequence[Any]) -> str:
    """A JSON array with one element per line, from the C encoder (``json.dumps`` with ``indent``
    runs CPython's pure-Python encoder: 3x slower on a 10,000-row ``list --json``). Same JSON
    value and the same terminal-safe escaping as :func:`json_text`."""
    if not items:
        return "[]"
    encode = json.JSONEncoder(ensure_ascii=False).encode
    return terminal_safe_json("[\n  " + ",\n  ".join(map(encode, items)) + "\n]")


def terminal_safe_json(text: str) -> str:
    """Escape C1 controls and bidi overrides in already-encoded JSON (they only occur inside
    strings, so the JSON value is unchanged)."""
    if text.isascii() and "\x7f" not in text:  # (both scans run at memory speed; the regex does not)
        return text
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group(0)):04x}", text)


def _isatty() -> bool:
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


def out(line: str = "") -> None:
    sys.stdout.write(line + "\n")


def err(line: str) -> None:
    sys.stderr.write(line + "\n")


def error_line(message: str) -> str:
    return f"{PROG}: {sanitize(first_line(message) or message)}"


def _unicode_ok() -> bool:
    enc = getattr(sys.stdout, "encoding", None) or "ascii"
    try:
        "✘✔◐⚠★○◔◑◕⊖⊗✱→".encode(enc)
    except (UnicodeEncodeError, LookupError):
        return False
    return True


def short_time(value: str | None) -> str:
    dt = parse_time(value) if value else None
    if dt is None:
        return "-"
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Left-aligned columns separated by two spaces; cells must already be sanitized."""
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    lines = []
    for row in [list(headers), *rows]:
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row)]
        lines.append("  ".join(cells).rstrip())
    return lines


def cell(value: Any, width: int | None = None) -> str:
    text = sanitize(value)
    if not text:
        return "-"
    return truncate(text, width) if width else text


# --- options and the store ---------------------------------------------------------------------

def resolve_options(args: argparse.Namespace) -> RunOptions:
    return RunOptions(
        store_url=args.store if args.store is not None else (os.environ.get(ENV_STORE) or None),
        operator=resolve_operator(args.operator),
        read_only=bool(args.read_only),
        kubeconfigs_dir=args.kubeconfigs_dir or kubeconfigs_dir_from_env(),
        handover_key=args.handover_key or (os.environ.get(ENV_HANDOVER_KEY) or None),
        take_over=bool(args.take_over),
    )


@asynccontextmanager
async def opened_store(opts: RunOptions, *, write: bool = False, url: str | None = None) -> AsyncIterator[RecordStore]:
    """Open the store; commands that only read open it read-only (no file is ever created)."""
    from ..store.urls import open_store

    store = open_store(url if url is not None else opts.store_url, read_only=opts.read_only or not write)
    async with store:
        yield store


def _check_ids(ids: Sequence[str]) -> None:
    from ..service import actions

    for rid in ids:
        actions.check_id(rid)


# --- commands ----------------------------------------------------------------------------------

async def cmd_list(opts: RunOptions, args: argparse.Namespace) -> int:
    # Tens of thousands of summaries, rows and JSON dicts stay alive until the output is written:
    # the cyclic GC would traverse all of them again and again (listing 50,000 files: 6.3 -> 5.2 s)
    # although none of them is part of a cycle. A one-shot command: collect nothing until done.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        return await _list(opts, args)
    finally:
        if gc_was_enabled:
            gc.enable()


async def _list(opts: RunOptions, args: argparse.Namespace) -> int:
    async with opened_store(opts) as store:
        summaries, load_errors = await store.list_summaries()
    rows = fleet.build_rows(summaries, kubeconfigs_dir=opts.kubeconfigs_dir)
    if args.attention:
        rows = [r for r in rows if fleet.needs_attention(r)]
    if args.filter:
        rows = fleet.filter_rows(rows, args.filter)
    for le in load_errors:
        err(error_line(f"skipped {le.path}: {le.reason}"))
    if args.json:
        out(json_array_text([r.to_json() for r in rows]))
        return EXIT_OK
    if not rows:
        out("no records")
        return EXIT_OK
    ascii_only = not _unicode_ok()
    body = [
        [
            sanitize(r.status_text(ascii_only=ascii_only)),
            cell(r.id),
            cell(r.fqdn),
            cell(r.org, 30),
            cell(r.region),
            short_time(r.started),
            short_time(r.finished),
            r.progress,
            "stale" if r.stale else "-",
            short_time(r.handover_fired_at),
            cell(r.error, 80),
        ]
        for r in rows
    ]
    for line in table(
        ["STATUS", "ID", "FQDN", "ORG", "REGION", "STARTED", "FINISHED", "COMPONENTS", "STALE", "HANDOVER", "ERROR"],
        body,
    ):
        out(line)
    return EXIT_OK


_SECRETISH = re.compile(r"(secret|password|passwd|token|privatekey|accesskey)", re.I)


def _redact_request(data: dict[str, Any]) -> dict[str, Any]:
    """Credentials shown as ``<redacted>`` even if a record somehow holds the plaintext."""
    shown: dict[str, Any] = {}
    for key, value in data.items():
        if key in CREDENTIAL_FIELDS or _SECRETISH.search(key):
            shown[key] = REDACTED if (isinstance(value, str) and value.strip()) or (value and not isinstance(value, str)) else ""
        else:
            shown[key] = value
    return shown


def _value_text(value: Any) -> str:
    if isinstance(value, str):
        return sanitize(value)
    return sanitize(json.dumps(value, ensure_ascii=False, separators=(", ", ": ")))


_TOKEN_IN_TEXT = re.compile(r"([?&]token=)[^\s\"'&<>]+")


def _hide_token(text: str) -> str:
    """``...?token=<jwt>`` -> ``...?token=<hidden>`` anywhere in ``text`` (handover URLs)."""
    return _TOKEN_IN_TEXT.sub(r"\1<hidden>", text)


async def cmd_show(opts: RunOptions, args: argparse.Namespace) -> int:
    _check_ids([args.id])
    async with opened_store(opts) as store:
        current = await store.get(args.id)
    rec = current.record
    if args.json:
        text = to_catalyst_json(rec)
        if _isatty():
            # Same JSON data, but nothing a terminal acts on (Go leaves C1/bidi characters raw).
            # Piped or redirected, the bytes are exactly catalyst-api's.
            text = terminal_safe_json(text)
        sys.stdout.write(text)
        return EXIT_OK
    for line in render_record(rec, kubeconfigs_dir=opts.kubeconfigs_dir, ascii_only=not _unicode_ok()):
        out(line)
    return EXIT_OK


def render_record(rec: "Record", *, kubeconfigs_dir: str, ascii_only: bool = False) -> list[str]:
    """The human view of a record: never a secret, every value sanitized."""
    data = record_to_dict(rec)
    decision = resume_decision(rec, kubeconfigs_dir=kubeconfigs_dir)
    stale = rec.status == statuses.PHASE1_WATCHING and not decision.resume
    style = fleet.status_style(rec.status, stale=stale)
    status_word = rec.status + (" (stale: no watcher can attach)" if stale else "")
    if not rec.status_known:
        status_word += " (unknown status)"
    lines: list[str] = []

    def kv(key: str, value: Any, indent: int = 0) -> None:
        label = key + ":"
        lines.append(f"{' ' * indent}{label:<{max(22 - indent, len(label) + 1)}}{value}")

    kv("id", sanitize(rec.id))
    kv("status", sanitize(style.text(status_word, ascii_only=ascii_only)))
    kv("sovereignFQDN", cell(rec.fqdn))
    kv("orgName", cell(rec.request.orgName))
    kv("owner", cell(rec.owner_email))
    kv("startedAt", short_time(rec.startedAt))
    kv("finishedAt", short_time(rec.finishedAt))
    if rec.adoptedAt:
        kv("adoptedAt", short_time(rec.adoptedAt))
    if rec.error:
        err_lines = sanitize(rec.error, keep_newlines=True).splitlines() or [""]
        kv("error", err_lines[0])
        for extra in err_lines[1:]:
            lines.append(" " * 22 + extra)
    kv("restart", sanitize(decision.describe()))
    lines.append("request:")
    for key, value in _redact_request(data.get("request") or {}).items():
        kv(key, _value_text(value), 2)
    result = data.get("result")
    if isinstance(result, dict):
        lines.append("result:")
        for key, value in result.items():
            if key == "componentStates":
                continue
            if key == "handoverURL" and isinstance(value, str):
                value = _hide_token(value) + "  (token not shown; `show --json` prints the record as stored)"
            kv(key, _value_text(value), 2)
    from ..domain.components import current_states

    states = current_states(result if isinstance(result, dict) else None, data.get("events") or [])
    if states:
        installed = sum(1 for s in states.values() if s == statuses.ComponentState.INSTALLED.value)
        lines.append(f"components:           {installed}/{len(states)} installed")
        width = max(len(sanitize(c)) for c in states)
        for comp, state in states.items():
            lines.append(f"  {sanitize(comp):<{width}}  {sanitize(state)}")
    for key in ("pdmReservationToken", "pdmPoolDomain", "pdmSubdomain", "kubeconfigBearerHash"):
        if data.get(key):
            kv(key, _value_text(data[key]))
    events = rec.event_list()
    last = f", last at {short_time(events[-1].time)}" if events else ""
    kv("events", f"{len(events)}{last} (catalyst-tui events {sanitize(rec.id)})")
    from ..domain.record import Record

    known = set(Record.model_fields)
    other = [k for k in data if k not in known]
    if other:
        kv("other keys", sanitize(", ".join(other)))
    return lines


def _event_dicts(rec: "Record") -> list[dict[str, Any]]:
    return list(record_to_dict(rec).get("events") or [])


def _event_line(ev: dict[str, Any]) -> str:
    comp = ev.get("component") or ""
    state = ev.get("state") or ""
    parts = [
        short_time(ev.get("time")) if ev.get("time") else "-",
        f"{sanitize(ev.get('level', '')):<5}",
        f"{sanitize(ev.get('phase', '')):<14}",
    ]
    if comp or state:
        parts.append(f"{sanitize(comp)}{'=' + sanitize(state) if state else ''}")
    parts.append(sanitize(_hide_token(str(ev.get("message", "")))))
    return "  ".join(parts)


def new_events(prev: list[dict[str, Any]], cur: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Events in ``cur`` that follow what was already shown (``prev``), allowing for the 10,000
    cap dropping the oldest ones in between."""
    if not prev:
        return cur
    if len(cur) >= len(prev) and cur[len(prev) - 1] == prev[-1] and cur[: len(prev)] == prev:
        return cur[len(prev):]
    check = min(len(prev), 20)
    tail = prev[-check:]
    for end in range(min(len(cur), len(prev)), 0, -1):
        if cur[end - 1] == prev[-1] and cur[max(0, end - check):end] == tail[check - min(check, end):]:
            return cur[end:]
    return cur  # the record was rewritten beyond recognition: show it all again


async def cmd_events(opts: RunOptions, args: argparse.Namespace) -> int:
    _check_ids([args.id])
    async with opened_store(opts) as store:
        current = await store.get(args.id)
        shown = _event_dicts(current.record)
        if args.json and not args.follow:
            out(json_text(shown))
            return EXIT_OK
        emit: Callable[[dict[str, Any]], None]
        if args.json:
            emit = lambda ev: out(json.dumps(ev, ensure_ascii=True))  # noqa: E731 - NDJSON when following
        else:
            emit = lambda ev: out(_event_line(ev))  # noqa: E731
        for ev in shown:
            emit(ev)
        if not args.follow:
            return EXIT_OK
        sys.stdout.flush()
        token = await store.change_token()
        while True:
            await asyncio.sleep(FOLLOW_INTERVAL)
            now_token = await store.change_token()
            if now_token == token:
                continue
            token = now_token
            try:
                current = await store.get(args.id)
            except RecordNotFound:
                err(error_line(f"{args.id}: record was removed"))
                return EXIT_NOT_FOUND
            cur = _event_dicts(current.record)
            for ev in new_events(shown, cur):
                emit(ev)
            sys.stdout.flush()
            shown = cur


async def cmd_rehydrate(opts: RunOptions, args: argparse.Namespace) -> int:
    from ..service import actions

    if not args.dry_run:
        actions.refuse_if_read_only(opts.read_only, "rehydrate")
    async with opened_store(opts, write=not args.dry_run) as store:
        report = await actions.rehydrate_all(
            store,
            kubeconfigs_dir=opts.kubeconfigs_dir,
            operator=opts.operator,
            read_only=opts.read_only,
            dry_run=args.dry_run,
        )
    for le in report.load_errors:
        err(error_line(f"skipped {le.path}: {le.reason}"))
    if args.json:
        out(json_text([r.to_json() for r in report.rows]))
    elif not report.rows:
        out("no records")
    else:
        body = []
        for r in report.rows:
            if r.error:
                change = "error"
            elif r.persisted:
                change = "written"
            elif r.changed:
                change = "would write"
            else:
                change = "-"
            body.append([cell(r.id), cell(r.before), cell(r.after), "yes" if r.resume else "no",
                         change, ("stale; " if r.stale else "") + cell(r.reason, 100)])
        for line in table(["ID", "BEFORE", "AFTER", "RESUME", "CHANGE", "REASON"], body):
            out(line)
    code = EXIT_OK
    for r in report.errors:
        err(error_line(r.error))
        code = max(code, r.exit_code or EXIT_FAILURE)
    return code


async def cmd_patch_status(opts: RunOptions, args: argparse.Namespace) -> int:
    from ..service import actions

    # Validate everything that needs no store first: usage errors win over read-only refusal.
    actions.check_id(args.id)
    actions.validate_status(args.to, args.id)
    if args.expect is not None:
        actions.validate_status(args.expect, args.id, "--expect")
    actions.require_reason(args.reason, args.id)
    actions.refuse_if_read_only(opts.read_only, "patch-status", args.id)
    async with opened_store(opts, write=True) as store:
        res = await actions.patch_status(
            store,
            args.id,
            args.to,
            args.reason,
            operator=opts.operator,
            read_only=opts.read_only,
            expect=args.expect,
            kubeconfigs_dir=opts.kubeconfigs_dir,
        )
    arrow = "→" if _unicode_ok() else "->"
    out(f"{sanitize(res.record_id)}: status {sanitize(res.before.status)} {arrow} {sanitize(res.after.status)} "
        f"(by {sanitize(opts.operator)})")
    for warning in res.warnings:
        err(f"{PROG}: warning: {sanitize(res.record_id)}: {sanitize(warning)}")
    return EXIT_OK


async def cmd_audit(opts: RunOptions, args: argparse.Namespace) -> int:
    if args.id is not None:
        _check_ids([args.id])
    async with opened_store(opts) as store:
        entries = await store.audit_list(args.id)
    if args.json:
        out(json_text([e.to_json() for e in entries]))
        return EXIT_OK
    if not entries:
        out("no audit entries")
        return EXIT_OK
    arrow = "→" if _unicode_ok() else "->"
    body = [
        [short_time(e.time), cell(e.operator), cell(e.action), cell(e.record_id),
         f"{cell(e.status_before)} {arrow} {cell(e.status_after)}", cell(e.reason, 100)]
        for e in entries
    ]
    for line in table(["TIME", "OPERATOR", "ACTION", "RECORD", "STATUS", "REASON"], body):
        out(line)
    return EXIT_OK


async def cmd_handover(opts: RunOptions, args: argparse.Namespace) -> int:
    from ..service import actions

    actions.check_id(args.id)
    actions.refuse_if_read_only(opts.read_only, "handover", args.id)

    def signer_factory() -> Any:
        from ..handover.keys import HandoverSigner

        return HandoverSigner.load_or_generate(opts.handover_key)

    async with opened_store(opts, write=True) as store:
        res = await actions.handover(
            store,
            args.id,
            signer_factory,
            operator=opts.operator,
            read_only=opts.read_only,
            reissue=args.reissue,
            reason=args.reason or "",
        )
    for note in res.notes:
        err(f"{PROG}: note: {sanitize(note)}")
    verb = "reissued" if res.reissued else "minted"
    err(f"{PROG}: {sanitize(res.record_id)}: handover token {verb} by {sanitize(opts.operator)}; "
        f"expires {short_time(res.expires_at)} (single use; open it within 5 minutes)")
    out(sanitize(res.url))
    return EXIT_OK


async def cmd_import(opts: RunOptions, args: argparse.Namespace) -> int:
    from ..service import actions

    actions.refuse_if_read_only(opts.read_only, "import")
    async with opened_store(opts, write=True) as dest:
        report = await actions.import_records(
            dest, args.src, operator=opts.operator, read_only=opts.read_only, reason=args.reason or ""
        )
    return _print_transfer(report)


async def cmd_export(opts: RunOptions, args: argparse.Namespace) -> int:
    from ..service import actions

    _check_ids(args.ids)
    actions.refuse_if_read_only(opts.read_only, "export")
    async with opened_store(opts) as src:
        report = await actions.export_records(
            src, args.dest, ids=args.ids or None, operator=opts.operator, read_only=opts.read_only,
            reason=args.reason or "",
        )
    return _print_transfer(report)


_TRANSFER_EXIT = {"conflict": EXIT_CONFLICT, "missing": EXIT_NOT_FOUND, "error": EXIT_FAILURE}


def _print_transfer(report: Any) -> int:
    """``ID: created|replaced|unchanged`` on stdout; failures one line each on stderr. Exit code:
    the worst of 4 (conflict), 3 (missing), 1 (unreadable); 0 when every record made it."""
    code = EXIT_OK
    for le in report.load_errors:
        err(error_line(f"skipped {le.path}: {le.reason}"))
        code = max(code, EXIT_FAILURE)
    for res in report.results:
        if res.ok:
            out(f"{sanitize(res.id)}: {res.outcome}")
        else:
            err(error_line(res.detail or f"{res.id}: {res.outcome}"))
            code = max(code, _TRANSFER_EXIT.get(res.outcome, EXIT_FAILURE))
    return code


async def cmd_watch(opts: RunOptions, args: argparse.Namespace) -> int:
    if importlib.util.find_spec("catalyst_tui.service.supervisor") is None:
        raise Unavailable("watch: the supervisor is not available in this build")
    from ..service import supervisor

    result = await supervisor.run_watch(opts, follow=args.follow, handle_signals=True)
    return int(result or 0)


def run_dashboard(opts: RunOptions, *, demo: bool = False, demo_dir: str | None = None,
                  demo_speed: float | None = None) -> int:
    """HOOK for the UI: ``catalyst_tui.ui.app.run_dashboard(store_url, options)`` and
    ``catalyst_tui.demo.run_demo(options)``. Imported lazily: the command line never pays for
    Textual unless the dashboard opens."""
    if demo:
        if importlib.util.find_spec("catalyst_tui.demo") is None:
            raise Unavailable("demo: not available in this build")
        import catalyst_tui.demo as demo_mod

        return int(demo_mod.run_demo(opts, root=demo_dir, speed=demo_speed) or 0)
    prefetching = _prefetch_head(opts.store_url)
    try:
        from ..ui import app as ui_app

        return int(ui_app.run_dashboard(opts.store_url, opts) or 0)
    finally:
        if prefetching:
            from ..store import dir_prefetch

            dir_prefetch.cancel()  # not claimed (the store did not open...): reap the child


def _prefetch_head(store_url: str | None) -> bool:
    """On a catalyst-api directory, when it may use two CPUs: start reading the dashboard's first
    screenful in a forked child now, while Textual is imported (``store.dir_prefetch``; the store
    takes the answer when it is asked the same head). True when a child was started."""
    try:
        if not sys.__stdout__ or not sys.__stdout__.isatty():
            return False  # no terminal: no dashboard to hurry
        from ..store.urls import resolve_store_url

        kind, path = resolve_store_url(store_url)
        if kind != "catalyst-dir":
            return False  # SQLite reads its head from an index in milliseconds
        from ..store import dir_prefetch

        return dir_prefetch.start(path, fleet.first_screen_rows(), fleet.HEAD_RANKS, fleet.HEAD_OTHER_RANK)
    except Exception:  # noqa: BLE001 - an optimisation: the store reports its own errors when opened
        return False


def dashboard_available() -> bool:
    try:
        return importlib.util.find_spec("catalyst_tui.ui.app") is not None
    except (ImportError, ValueError):
        return False


# --- the parser --------------------------------------------------------------------------------

def _add_global_options(p: argparse.ArgumentParser, *, sub: bool) -> None:
    d = argparse.SUPPRESS if sub else None
    g = p.add_argument_group("global options")
    g.add_argument("--store", metavar="URL", default=d,
                   help="sqlite:///PATH, catalyst-dir:///DIR or a path (env CATALYST_TUI_STORE; "
                        "default: catalyst.db in the user data directory)")
    g.add_argument("--operator", metavar="NAME", default=d,
                   help="who is acting, for the audit trail (env CATALYST_OPERATOR; default: login user@ssh client)")
    g.add_argument("--read-only", action="store_true", default=argparse.SUPPRESS if sub else False,
                   help="refuse every change (exit 5)")
    g.add_argument("--kubeconfigs-dir", metavar="DIR", default=d,
                   help="where <id>.yaml kubeconfigs live (env CATALYST_KUBECONFIGS_DIR; "
                        "default /var/lib/catalyst/kubeconfigs)")
    g.add_argument("--handover-key", metavar="PATH", default=d,
                   help="handover signing key, generated when absent (env CATALYST_HANDOVER_KEY_PATH)")
    g.add_argument("--take-over", action="store_true", default=argparse.SUPPRESS if sub else False,
                   help="on a catalyst-api directory, write Phase-1 progress (only when catalyst-api is down)")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        # One line (plus the usage) and exit 2, like argparse, but with the subcommand's usage.
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {sanitize(message)}\n")


def build_parser() -> argparse.ArgumentParser:
    """The whole command line. Each sub-parser sets ``mutating``: True for commands that change a
    store (refused with exit 5 under ``--read-only``; ``rehydrate --dry-run`` excepted), False for
    the reading ones and for ``watch`` (observe-only under ``--read-only``) and ``demo`` (its own store)."""
    parser = _Parser(
        prog=PROG,
        description="Terminal console for OpenOva Catalyst operators. Without a command it opens the dashboard.",
        epilog="exit codes: 0 ok, 1 failure, 2 usage, 3 not found, 4 conflict, 5 refused",
    )
    _add_global_options(parser, sub=False)
    subs = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    def sub(name: str, help_text: str) -> argparse.ArgumentParser:
        p = subs.add_parser(name, help=help_text, description=help_text)
        _add_global_options(p, sub=True)
        return p

    p = sub("list", "one row per record (what needs attention first)")
    p.add_argument("--json", action="store_true", help="JSON array with the documented keys")
    p.add_argument("--attention", action="store_true", help="only failed, stale, watcher trouble, unknown status")
    p.add_argument("--filter", metavar="TEXT", help="case-insensitive substring of id/status/FQDN/org/region/error")
    p.set_defaults(handler=cmd_list, mutating=False)

    p = sub("show", "the whole record (credentials stay <redacted>)")
    p.add_argument("id", metavar="ID")
    p.add_argument("--json", action="store_true", help="the record exactly as catalyst-api writes it")
    p.set_defaults(handler=cmd_show, mutating=False)

    p = sub("events", "the record's event log")
    p.add_argument("id", metavar="ID")
    p.add_argument("--follow", "-f", action="store_true", help="keep printing new events until interrupted")
    p.add_argument("--json", action="store_true", help="JSON array (NDJSON, one event per line, with --follow)")
    p.set_defaults(handler=cmd_events, signals=True, mutating=False)

    p = sub("rehydrate", "apply the restart rules to every record and persist what changed")
    p.add_argument("--dry-run", action="store_true", help="show what would change, write nothing")
    p.add_argument("--json", action="store_true", help="JSON array of {id, before, after, resume, reason}")
    p.set_defaults(handler=cmd_rehydrate, mutating=True)

    p = sub("patch-status", "the manual workaround: set a record's status (audited)")
    p.add_argument("id", metavar="ID")
    p.add_argument("--to", required=True, metavar="STATUS", help=f"one of: {', '.join(statuses.KNOWN_STATUSES)}")
    p.add_argument("--reason", required=True, metavar="TEXT", help="why (goes to the audit trail and the record)")
    p.add_argument("--expect", metavar="STATUS", help="only patch if the current status is this (else exit 4)")
    p.set_defaults(handler=cmd_patch_status, mutating=True)

    p = sub("import", "copy records from another store (URL or directory) into this one; the source wins")
    p.add_argument("src", metavar="SRC")
    p.add_argument("--reason", metavar="TEXT", help="recorded in the audit trail")
    p.set_defaults(handler=cmd_import, mutating=True)

    p = sub("export", "copy records from this store to another (URL or directory, catalyst-api format)")
    p.add_argument("dest", metavar="DEST")
    p.add_argument("ids", metavar="ID", nargs="*", help="only these records (default: all)")
    p.add_argument("--reason", metavar="TEXT", help="recorded in the audit trail")
    p.set_defaults(handler=cmd_export, mutating=True)

    p = sub("audit", "the audit trail of every change")
    p.add_argument("id", metavar="ID", nargs="?", help="only this record")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_audit, mutating=False)

    p = sub("handover", "mint a handover URL for a ready/adopted Sovereign (printed once)")
    p.add_argument("id", metavar="ID")
    p.add_argument("--reissue", action="store_true", help="mint a fresh token although one already fired")
    p.add_argument("--reason", metavar="TEXT", help="recorded in the audit trail")
    p.set_defaults(handler=cmd_handover, mutating=True)

    p = sub("watch", "screenless supervisor: rehydrate, resume watchers, auto-fire handovers")
    p.add_argument("--follow", action="store_true", help="keep running after every watch ended")
    p.set_defaults(handler=cmd_watch, mutating=False)

    p = sub("demo", "open the dashboard on a simulated fleet (its own store, simulator and key)")
    p.add_argument("--dir", metavar="DIR", help="keep the demo in DIR (default: a temporary directory, removed on quit)")
    p.add_argument("--speed", metavar="X", type=float, help="scenario speed factor (default 1.0)")
    p.set_defaults(handler=None, demo=True, mutating=False)
    return parser


# --- running -----------------------------------------------------------------------------------

def _run(handler: Callable[[RunOptions, argparse.Namespace], Awaitable[int]], opts: RunOptions,
         args: argparse.Namespace, *, signals: bool) -> int:
    async def runner() -> int:
        if not signals:
            return await handler(opts, args)
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        caught: list[int] = []

        def on_signal(sig: int) -> None:
            caught.append(sig)
            if task is not None:
                task.cancel()

        installed = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, on_signal, sig)
                installed.append(sig)
            except (NotImplementedError, RuntimeError, ValueError):
                pass
        try:
            return await handler(opts, args)
        except asyncio.CancelledError:
            if caught:
                return EXIT_OK
            raise
        finally:
            for sig in installed:
                loop.remove_signal_handler(sig)

    return asyncio.run(runner())


_EXPECTED: tuple[type[BaseException], ...] = (StoreError, OSError)


def _expected_errors() -> tuple[type[BaseException], ...]:
    extra: list[type[BaseException]] = []
    try:
        from ..domain.record import RecordDecodeError

        extra.append(RecordDecodeError)
    except ImportError:  # pragma: no cover
        pass
    return _EXPECTED + tuple(extra)


def _is_handover_key_error(exc: BaseException) -> bool:
    """A HandoverKeyError can only come from code that imported ``catalyst_tui.handover.keys``;
    looking it up only then keeps that import (PyJWT + cryptography, 0.1-0.2 s) off every
    command that never touches a key (``list``, ``show``…)."""
    keys = sys.modules.get("catalyst_tui.handover.keys")
    cls = getattr(keys, "HandoverKeyError", None) if keys is not None else None
    return isinstance(cls, type) and isinstance(exc, cls)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(list(argv) if argv is not None else None)
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
        return exc.code if isinstance(exc.code, int) else (EXIT_OK if exc.code is None else EXIT_USAGE)
    if args.command is not None:  # (the demo too: it prepares its simulator first)
        from .. import startup_gc

        startup_gc.end()  # paused by the entry point for the dashboard's start (startup_gc)
    expected = _expected_errors()
    try:
        opts = resolve_options(args)
        if args.command is None or getattr(args, "demo", False):
            if args.command is None and not dashboard_available():
                parser.print_help()
                return EXIT_OK
            return run_dashboard(opts, demo=args.command == "demo", demo_dir=getattr(args, "dir", None),
                                 demo_speed=getattr(args, "speed", None))
        return _run(args.handler, opts, args, signals=getattr(args, "signals", False))
    except KeyboardInterrupt:
        err(f"{PROG}: interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # `catalyst-tui list | head`: the reader went away; that is not an error.
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
        except (OSError, ValueError):
            pass
        return EXIT_OK
    except expected as exc:
        err(error_line(str(exc) or type(exc).__name__))
        return int(getattr(exc, "exit_code", EXIT_FAILURE) or EXIT_FAILURE)
    except Exception as exc:  # noqa: BLE001 - last resort: one line, unless debugging
        if _is_handover_key_error(exc):
            err(error_line(str(exc) or type(exc).__name__))
            return int(getattr(exc, "exit_code", EXIT_FAILURE) or EXIT_FAILURE)
        if os.environ.get(ENV_DEBUG):
            raise
        err(error_line(f"internal error: {type(exc).__name__}: {exc} (set {ENV_DEBUG}=1 for a traceback)"))
        return EXIT_FAILURE


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
