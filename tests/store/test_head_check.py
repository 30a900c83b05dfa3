"""The listing's fast head check answers exactly what pydantic (and so get()) answers."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from catalyst_tui.domain.record import Record
from catalyst_tui.store.catalyst_dir import _head_valid

from .conftest import SAMPLE

BASE = {k: v for k, v in json.loads(SAMPLE).items() if k != "events"}

scalars = st.none() | st.booleans() | st.integers(-3, 3) | st.integers(2**63, 2**70) | st.floats(allow_nan=True) | \
    st.sampled_from(["", "x", "ready", "0001-01-01T00:00:00Z", "2026-05-04T09:00:00Z", "2026-05-04T09:00:00.123456789Z",
                     "2026-13-40T00:00:00Z", "not a time"])
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
    st.sampled_from(["provider", "cloudRegion", "workerCount", "cilium", "x"]), inner, max_size=3), max_leaves=6)

TOP = list(Record.model_fields) + ["futureTopKey"]
NESTED = {
    "request": ["orgName", "workerCount", "haEnabled", "regions", "futureKey"],
    "result": ["componentStates", "phase1FinishedAt", "handoverFiredAt", "kubeconfigPath", "futureKey"],
}


def pydantic_accepts(head: dict) -> bool:
    try:
        Record.model_validate(head)
    except (ValidationError, ValueError):
        return False
    return True


def check(head: dict) -> None:
    fast = _head_valid(head)
    if fast is not None:
        assert fast == pydantic_accepts(head), head


@settings(max_examples=400, deadline=None)
@given(key=st.sampled_from(TOP), value=values, drop=st.booleans())
def test_top_level_fields(key: str, value: object, drop: bool) -> None:
    head = json.loads(json.dumps(BASE))
    if drop:
        head.pop(key, None)
    elif key != "events":
        head[key] = value
    check(head)


@settings(max_examples=400, deadline=None)
@given(where=st.sampled_from(sorted(NESTED)), data=st.data(), value=values)
def test_nested_fields(where: str, data: st.DataObject, value: object) -> None:
    head = json.loads(json.dumps(BASE))
    key = data.draw(st.sampled_from(NESTED[where]))
    head.setdefault(where, {})[key] = value
    check(head)


@settings(max_examples=200, deadline=None)
@given(regions=st.lists(st.dictionaries(st.sampled_from(["provider", "cloudRegion", "workerCount", "x"]), values, max_size=4),
                        max_size=3) | values)
def test_regions(regions: object) -> None:
    head = json.loads(json.dumps(BASE))
    head["request"]["regions"] = regions
    check(head)


def test_known_answers() -> None:
    assert _head_valid is not None
    assert _head_valid(dict(BASE)) is True
    assert _head_valid({"status": "ready"}) is False  # id is required
    assert _head_valid({**BASE, "startedAt": "yesterday"}) is False  # the time validator runs
    assert _head_valid({**BASE, "request": {"workerCount": True}}) is False  # StrictInt refuses a bool
    assert _head_valid({**BASE, "result": {"componentStates": {"cilium": 1}}}) is False
    assert _head_valid({**BASE, "futureTopKey": {"anything": [1, None]}}) is True  # extras are kept as they are


# --- the written-out schema is the models' (listing imports no pydantic) ----------------------------

def test_the_written_schema_is_the_models():
    from catalyst_tui.domain.record import Event
    from catalyst_tui.store import catalyst_dir as cd

    assert cd._model_schema(Record, skip=frozenset({"events"})) == cd._RECORD_HEAD_SCHEMA
    assert cd._model_schema(Event) == cd._EVENT_SCHEMA
    # _events_look_valid's own table: the Event fields that are plain strings.
    assert cd._EVENT_STR_KEYS == {k for k, (d, _, _) in cd._EVENT_SCHEMA[2].items() if d == "str"}


@settings(max_examples=300, deadline=None)
@given(value=st.text(max_size=40) | st.sampled_from(
    ["0001-01-01T00:00:00Z", "0001-01-01T00:00:00.5Z", "2026-05-04T09:00:00Z", "2026-05-04T09:00:00.123456789Z",
     "2026-05-04T09:00:00+02:00", "2026-05-04", "2026-05-04 09:00:00", "2026-13-40T00:00:00Z", "", "Z"]))
def test_the_time_validator_is_the_models(value: str) -> None:
    from catalyst_tui.store.catalyst_dir import _valid_time

    def outcome(fn):
        try:
            return ("ok", fn(value))
        except ValueError as exc:
            return ("refused", str(exc))

    assert outcome(_valid_time) == outcome(Record._valid_time)


def test_listing_a_directory_imports_no_pydantic(tmp_path):
    """A record directory is listed (the head check included) without loading pydantic."""
    import subprocess
    import sys

    from catalyst_tui.domain.record import loads_record, to_catalyst_json

    from .conftest import SAMPLE

    d = tmp_path / "d"
    d.mkdir()
    rec = loads_record(SAMPLE)
    (d / f"{rec.id}.json").write_text(to_catalyst_json(rec))
    code = (
        "import asyncio, sys\n"
        "from catalyst_tui.store.catalyst_dir import CatalystDirStore\n"
        "async def main():\n"
        f"    async with CatalystDirStore({str(d)!r}, read_only=True) as s:\n"
        "        summaries, errors = await s.list_summaries()\n"
        "    assert len(summaries) == 1 and not errors, (summaries, errors)\n"
        "asyncio.run(main())\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pydantic', 'pydantic_core')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
