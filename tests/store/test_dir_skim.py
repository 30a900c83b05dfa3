"""The directory listing's events skim (catalyst_dir._skim): a record file as catalyst-api writes it
is listed without decoding its events, and for every file the listing and get() still agree.

Every case compares ``list_summaries`` with ``get`` of the same file (the same summary, or the same
one-line error), with the skim on for files of any size; a few also check whether the skim
answered (it must for what catalyst-api writes, and must not when it cannot be sure).
"""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from catalyst_tui.domain.record import dumps_catalyst, record_to_dict
from catalyst_tui.store import catalyst_dir
from catalyst_tui.store.catalyst_dir import CatalystDirStore, UnreadableRecord, _skim
from catalyst_tui.store.common import summary_from_dict

RID = "3f9c2a7e1b8d4c60"


@pytest.fixture(autouse=True)
def skim_everything(monkeypatch):
    monkeypatch.setattr(catalyst_dir, "SKIM_MIN_BYTES", 0)


def record(events: Any = None, *, frozen: bool = False, **top: Any) -> dict[str, Any]:
    result: dict[str, Any] = {"sovereignFQDN": "acme.omani.works", "consoleURL": "https://console.acme.omani.works"}
    if frozen:
        result.update(componentStates={"cilium": "installed", "flux": "failed"}, phase1FinishedAt="2026-05-04T09:31:12Z")
    data: dict[str, Any] = {
        "id": RID,
        "status": "phase1-watching",
        "request": {"orgName": "Acme — Telecom", "sovereignFQDN": "acme.omani.works", "region": "fsn1"},
        "result": result,
        "startedAt": "2026-05-04T09:00:01.482913377Z",
        "finishedAt": "0001-01-01T00:00:00Z",
        "events": events,
        "pdmReservationToken": "rsv_7c1d0e9a44",
    }
    data.update(top)
    return data


def event(i: int, **kw: Any) -> dict[str, Any]:
    e = {"time": f"2026-05-04T10:00:{i % 60:02d}Z", "phase": "tofu", "level": "info", "message": f"line {i} — ok"}
    e.update(kw)
    return e


def many(n: int = 40) -> list[dict[str, Any]]:
    evs = [event(i) for i in range(n)]
    evs[5] = event(5, phase="component", component="cilium", state="installing")
    evs[9] = event(9, phase="component", component="cilium", state="installed", dependsOn=["flux", "crossplane"])
    evs[12] = event(12, phase="component-log", component="flux",
                    message='{"level":"info","msg":"reconciling \\"events\\": [\\n    {"}')
    return evs


def go_bytes(data: Any) -> bytes:
    """catalyst-api's encoding (json.Encoder, two-space indent, no HTML escaping)."""
    return dumps_catalyst(data).encode("utf-8")


async def listed_and_got(d: Path) -> tuple[Any, Any]:
    async with CatalystDirStore(d, read_only=True) as s:
        summaries, errors = await s.list_summaries()
        try:
            got = await s.get(RID)
        except UnreadableRecord as exc:
            got = exc
    return (summaries, errors), got


def check_agree(tmp_path: Path, data: bytes) -> Any:
    """List and get the file; assert they agree; return the summary (or the error text)."""
    d = tmp_path / "d"
    d.mkdir(exist_ok=True)
    (d / f"{RID}.json").write_bytes(data)
    (summaries, errors), got = asyncio.run(listed_and_got(d))
    if isinstance(got, UnreadableRecord):
        assert summaries == [] and len(errors) == 1, (summaries, errors)
        assert str(got) == f"{errors[0].path}: {errors[0].reason}"
        return str(got)
    assert errors == [] and len(summaries) == 1, errors
    assert summaries[0] == summary_from_dict(record_to_dict(got.record), got.version)
    return summaries[0]


def test_what_catalyst_api_writes_is_skimmed(tmp_path):
    data = go_bytes(record(many()))
    assert _skim(data) is not None
    s = check_agree(tmp_path, data)
    assert s.events_count == 40 and s.last_event_time == "2026-05-04T10:00:39Z"
    assert s.component_states == {"cilium": "installed"}


@pytest.mark.parametrize("events", [[], None, [event(0)], [event(0, dependsOn=None)], [event(0, dependsOn=[])]])
def test_small_and_empty_event_lists(tmp_path, events):
    data = go_bytes(record(events))
    s = check_agree(tmp_path, data)
    assert s.events_count == len(events or ())


def test_finished_phase_1_takes_states_from_the_result(tmp_path):
    data = go_bytes(record(many(), frozen=True))
    assert _skim(data) is not None
    s = check_agree(tmp_path, data)
    assert s.component_states == {"cilium": "installed", "flux": "failed"}


def test_a_component_phase_spelled_with_escapes_still_counts(tmp_path):
    evs = many()
    evs.append(event(99, component="gitea", state="installed"))
    data = go_bytes(record(evs)).replace(b'"phase": "tofu",\n      "level": "info",\n      "message": "line 99',
                                         b'"phase": "c\\u006fmponent",\n      "level": "info",\n      "message": "line 99')
    assert b"c\\u006fmponent" in data and _skim(data) is not None
    s = check_agree(tmp_path, data)
    assert s.component_states == {"cilium": "installed", "gitea": "installed"}


def test_no_component_events_gives_no_states(tmp_path):
    data = go_bytes(record([event(i, message=f"component {i} is not a \"component\" phase") for i in range(30)]))
    assert _skim(data) is not None
    assert check_agree(tmp_path, data).component_states == {}


def _events_text(data: bytes) -> bytes:
    start = data.index(b'\n  "events": [') + len(b'\n  "events": ')
    return data[start:data.index(b"\n  ]", start) + 4]


# (description, bytes) of files the skim must leave to the full decode; list and get must agree.
def adversarial() -> list[tuple[str, bytes]]:
    base = go_bytes(record(many()))
    arr = _events_text(base)
    cases: list[tuple[str, bytes]] = []

    def swap(old: bytes, new: bytes, data: bytes = base) -> bytes:
        assert old in data, old
        return data.replace(old, new, 1)

    # A nested "events" at the same indentation before the real one (hand-written layout).
    nested = go_bytes(record(many(), request={"orgName": "x"}))
    nested = swap(b'"request": {\n    "orgName": "x"\n  },',
                  b'"request": {\n  "events": ' + arr + b',\n  "orgName": "x"\n},', nested)
    cases.append(("nested events key first", nested))
    cases.append(("nested events key, bad top-level events",
                  swap(b'"message": "line 30 \xe2\x80\x94 ok"', b'"message": 30', nested)))
    # Duplicate top-level keys: the last one wins in json.loads (and so in get()).
    cases.append(("events array then null", swap(b'\n  "pdmReservationToken"', b'\n  "events": null,\n  "pdmReservationToken"')))
    cases.append(("events array then a bad array",
                  swap(b'\n  "pdmReservationToken"', b'\n  "events": [{"time": 1}],\n  "pdmReservationToken"')))
    cases.append(("events array then another array",
                  swap(b'\n  "pdmReservationToken"', b'\n  "events": [{"time": "2030-01-01T00:00:00Z"}],\n  "pdmReservationToken"')))
    cases.append(("null then the events array", swap(b'\n  "request"', b'\n  "events": null,\n  "request"')))
    cases.append(("bad array then the events array", swap(b'\n  "request"', b'\n  "events": [1, 2],\n  "request"')))
    cases.append(("events as a string", swap(b'"id": "', b'"events": "\\n  \\"events\\": [",\n  "id": "')))
    # Constants elsewhere (our placeholder is the constant NaN).
    cases.append(("NaN elsewhere", swap(b'"pdmReservationToken"', b'"futureNaN": NaN,\n  "pdmReservationToken"')))
    cases.append(("Infinity elsewhere", swap(b'"pdmReservationToken"', b'"futureInf": -Infinity,\n  "pdmReservationToken"')))
    # Events the Event model refuses, or that are not the simple shape.
    cases.append(("dependsOn a string", swap(b'"dependsOn": [\n        "flux",\n        "crossplane"\n      ]', b'"dependsOn": "flux"')))
    cases.append(("dependsOn with a number", swap(b'"crossplane"\n', b'7\n')))
    cases.append(("time a number", swap(b'"time": "2026-05-04T10:00:07Z"', b'"time": 7')))
    cases.append(("time null", swap(b'"time": "2026-05-04T10:00:07Z"', b'"time": null')))
    cases.append(("extra event key with a number", swap(b'"level": "info",\n      "message": "line 7',
                                                        b'"level": "info",\n      "futureCount": 1,\n      "message": "line 7')))
    cases.append(("extra event key with an object", swap(b'"level": "info",\n      "message": "line 7',
                                                         b'"level": "info",\n      "future": {"a": "b"},\n      "message": "line 7')))
    cases.append(("escaped key", swap(b'"time": "2026-05-04T10:00:07Z"', b'"t\\u0069me": 7')))
    cases.append(("escaped dependsOn key", swap(b'"dependsOn": [', b'"depends\\u004fn": "x", "y": [')))
    cases.append(("escaped dependsOn key, string", swap(b'"dependsOn": [\n        "flux",\n        "crossplane"\n      ]',
                                                        b'"depends\\u004fn": "flux"')))
    cases.append(("non-ASCII key", swap(b'"level": "info",\n      "message": "line 7', b'"level": "info",\n      "n\xc3\xa9": "x",\n      "message": "line 7')))
    cases.append(("an event that is a string", swap(b'[\n    {', b'[\n    "x",\n    {')))
    cases.append(("an empty event", swap(b'[\n    {', b'[\n    {},\n    {')))
    # Bytes and characters that strict UTF-8 / strict JSON refuse.
    for label, bad in [("invalid byte", b"\xff"), ("overlong", b"\xc0\xaf"), ("encoded surrogate", b"\xed\xa0\x80"),
                       ("truncated sequence", b"\xe2\x80"), ("above U+10FFFF", b"\xf4\x90\x80\x80"), ("raw tab", b"\t"),
                       ("raw NUL", b"\x00"), ("raw CR", b"\r"), ("bad escape", b"\\x41"), ("short \\u", b"\\u12"),
                       ("raw newline", b"\n")]:
        cases.append((f"message with {label}", swap(b"line 7 \xe2\x80\x94 ok", b"line 7 " + bad + b" ok")))
    cases.append(("key with invalid byte", swap(b'"level": "info",\n      "message": "line 7',
                                                b'"level": "info",\n      "\xff": "x",\n      "message": "line 7')))
    # Accepted oddities (the full decode keeps them too).
    for label, odd in [("escaped NUL", b"\\u0000"), ("lone surrogate escape", b"\\ud800"), ("surrogate pair", b"\\ud83d\\ude00"),
                       ("DEL", b"\x7f"), ("four-byte character", b"\xf0\x9f\x98\x80"), ("U+2028 raw", b"\xe2\x80\xa8"),
                       ("every escape", b'\\"\\\\\\/\\b\\f\\n\\r\\t'), ("layout look-alike", b"    },\\n    {")]:
        cases.append((f"message with {label}", swap(b"line 7 \xe2\x80\x94 ok", b"line 7 " + odd + b" ok")))
    # Around the array.
    cases.append(("truncated inside the events", base[: base.index(b"line 20")]))
    cases.append(("truncated after the events", base[: base.index(b'"pdmReservationToken"')]))
    cases.append(("data after the object", base + b"{}\n"))
    cases.append(("BOM", b"\xef\xbb\xbf" + base))
    cases.append(("CRLF", base.replace(b"\n", b"\r\n")))
    cases.append(("tabs", base.replace(b"  ", b"\t")))
    cases.append(("compact", json.dumps(json.loads(base), ensure_ascii=False, separators=(",", ":")).encode()))
    cases.append(("missing comma between events", swap(b"    },\n    {", b"    }\n    {")))
    cases.append(("trailing comma after the last event", swap(b"\n    }\n  ]", b"\n    },\n  ]")))
    cases.append(("trailing comma in an event", swap(b'"line 39 \xe2\x80\x94 ok"\n', b'"line 39 \xe2\x80\x94 ok",\n')))
    cases.append(("id differs from the file name", swap(f'"id": "{RID}"'.encode(), b'"id": "0000000000000000"')))
    cases.append(("empty id", swap(f'"id": "{RID}"'.encode(), b'"id": ""')))
    cases.append(("id a number", swap(f'"id": "{RID}"'.encode(), b'"id": 3')))
    cases.append(("bad head field", swap(b'"status": "phase1-watching"', b'"status": ["x"]')))
    cases.append(("bad startedAt", swap(b'"startedAt": "2026-05-04T09:00:01.482913377Z"', b'"startedAt": "yesterday"')))
    cases.append(("deep head", swap(b'"pdmReservationToken"', b'"deep": ' + b"[" * 5000 + b"]" * 5000 + b',\n  "pdmReservationToken"')))
    cases.append(("top level an array", b"[\n" + base + b"]"))
    return cases


ADVERSARIAL = adversarial()


@pytest.mark.parametrize("data", [c[1] for c in ADVERSARIAL], ids=[c[0] for c in ADVERSARIAL])
def test_adversarial_files_list_as_get_reads_them(tmp_path, data):
    check_agree(tmp_path, data)


def test_the_skim_answers_only_when_sure():
    answered = {label for label, data in ADVERSARIAL if _skim(data) is not None}
    # Accepted by the pattern: the string escapes and characters json.loads keeps; an earlier
    # duplicate "events" (the last one wins); files whose head the record model refuses (the
    # caller checks the head, then decodes fully).
    assert answered == {
        "message with escaped NUL", "message with lone surrogate escape", "message with surrogate pair",
        "message with DEL", "message with four-byte character", "message with U+2028 raw", "message with every escape",
        "message with layout look-alike", "null then the events array", "events as a string", "id differs from the file name", "empty id",
        "id a number", "bad head field", "bad startedAt",
    }


def test_layout_look_alikes_do_not_change_the_count(tmp_path):
    evs = many()
    evs[3]["message"] = "    },\n    {\n  ]"
    evs[4]["message"] = '\n  "events": ['
    data = go_bytes(record(evs))
    assert _skim(data) is not None
    assert check_agree(tmp_path, data).events_count == 40


# --- properties ----------------------------------------------------------------------------------

texts = st.text(alphabet=st.characters(codec="utf-8") | st.sampled_from(["\n", "\t", "\\", '"', "\x00", "\u2028", "\ud800"]),
                max_size=12)
event_values = (texts | st.none() | st.integers(-2, 2) | st.lists(texts, max_size=2) | st.lists(st.integers(0, 1), max_size=1)
                | st.dictionaries(st.just("a"), texts, max_size=1))
event_keys = st.sampled_from(["time", "phase", "level", "message", "component", "state", "dependsOn", "futureKey", "é", ""])
events_strategy = st.none() | st.lists(
    st.dictionaries(event_keys, texts, max_size=5)
    | st.dictionaries(event_keys, event_values, max_size=5)
    | st.fixed_dictionaries({"time": texts, "phase": st.sampled_from(["component", "tofu"]), "component": texts,
                             "state": texts}, optional={"dependsOn": st.lists(texts, max_size=2) | st.none()})
    | texts,
    max_size=6,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=events_strategy, frozen=st.booleans(), ascii_only=st.booleans())
def test_any_events_list_as_get_reads_it(tmp_path, events, frozen, ascii_only):
    data = record(events, frozen=frozen)
    text = json.dumps(data, indent=2, ensure_ascii=ascii_only)
    try:
        raw = text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate with ensure_ascii=False: written escaped
        raw = json.dumps(data, indent=2).encode()
    check_agree(tmp_path, raw)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), edits=st.integers(1, 3), frozen=st.booleans())
def test_damaged_bytes_list_as_get_reads_them(tmp_path, seed, edits, frozen):
    """Random byte edits anywhere in a catalyst-api file (mostly in the events array)."""
    rnd = random.Random(seed)
    data = bytearray(go_bytes(record(many(14), frozen=frozen)))
    start = data.index(b'"events": [')
    interesting = b'"\\{}[],:\n \t\r\x00\x7f\x80\xbf\xc0\xc2\xe2\xed\xf0\xf4\xffu0'
    for _ in range(edits):
        at = rnd.randrange(start - 40 if rnd.random() < 0.9 else 0, len(data))
        byte = rnd.choice(interesting) if rnd.random() < 0.8 else rnd.randrange(256)
        op = rnd.random()
        if op < 0.5:
            data[at] = byte
        elif op < 0.75:
            data.insert(at, byte)
        else:
            del data[at]
    check_agree(tmp_path, bytes(data))
