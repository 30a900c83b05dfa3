"""Property: for any JSON in a record file, the fast listing and get() agree, and neither crashes."""

from __future__ import annotations

import asyncio
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from catalyst_tui.domain.record import record_to_dict
from catalyst_tui.store.catalyst_dir import CatalystDirStore, UnreadableRecord
from catalyst_tui.store.common import summary_from_dict

from .conftest import SAMPLE_CANONICAL

RID = "3f9c2a7e1b8d4c60"
VALID = json.loads(SAMPLE_CANONICAL)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.sampled_from(["", "x", "ready", RID, "0001-01-01T00:00:00Z", "2026-05-04T09:00:00Z"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(["time", "phase", "component", "state", "a"]), inner, max_size=3),
    max_leaves=6,
)
paths = st.sampled_from([
    ("id",), ("status",), ("request",), ("request", "orgName"), ("request", "regions"), ("result",),
    ("result", "componentStates"), ("result", "phase1FinishedAt"), ("startedAt",), ("finishedAt",),
    ("events",), ("events", 0), ("events", 1, "time"), ("events", 2, "state"), ("events", 0, "dependsOn"),
    ("ownerEmail",), ("futureTopKey",),
])


def mutate(path, value):
    data = json.loads(SAMPLE_CANONICAL)
    node = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return data


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=paths, value=json_values)
def test_fast_listing_agrees_with_get(tmp_path, path, value):
    d = tmp_path / "d"
    d.mkdir(exist_ok=True)
    (d / f"{RID}.json").write_text(json.dumps(mutate(path, value), indent=2))

    async def check():
        async with CatalystDirStore(d, read_only=True) as s:
            summaries, errors = await s.list_summaries()
            try:
                got = await s.get(RID)
            except UnreadableRecord as exc:
                assert summaries == [] and len(errors) == 1
                assert str(exc) == f"{errors[0].path}: {errors[0].reason}"
                assert "\n" not in str(exc)
            else:
                assert errors == [] and len(summaries) == 1
                assert summaries[0] == summary_from_dict(record_to_dict(got.record), got.version)

    asyncio.run(check())
