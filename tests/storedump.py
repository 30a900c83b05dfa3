"""Test helpers shared by several suites: read everything observable in a store, synchronously."""

from __future__ import annotations

import asyncio
from typing import Any

from catalyst_tui.domain.record import Record, to_catalyst_json
from catalyst_tui.store.urls import open_store


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def _dump(url: str) -> dict[str, Any]:
    async with open_store(url, read_only=True) as store:
        summaries, errors = await store.list_summaries()
        recs = {}
        for s in summaries:
            v = await store.get(s.id)
            recs[s.id] = (v.version, to_catalyst_json(v.record))
        audit = [e.to_json() for e in await store.audit_list()]
    return {"records": recs, "audit": audit, "errors": [(e.path, e.reason) for e in errors]}


def dump_store(url: str) -> dict[str, Any]:
    """Everything observable through the store API: records with versions, audit, load errors."""
    return run(_dump(url))


def get_record(url: str, rid: str) -> Record:
    async def go() -> Record:
        async with open_store(url, read_only=True) as store:
            return (await store.get(rid)).record

    return run(go())
