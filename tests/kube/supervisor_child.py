"""A ``catalyst-tui watch``-like process for the two-process lease tests.

Usage: python -m tests.kube.supervisor_child DB KUBECONFIGS_DIR HOLDER LEASE_TTL
Prints the supervisor's progress lines on stdout (flushed) and exits with run_watch's code.
"""

from __future__ import annotations

import asyncio
import sys

from catalyst_tui.domain.outcome import Phase1Config
from catalyst_tui.kube.watcher import WatchConfig
from catalyst_tui.service.supervisor import run_watch
from catalyst_tui.store.urls import open_store

WATCH = WatchConfig(timeout_seconds=2, connect_timeout=1.0, read_grace=0.5, list_timeout=2.0,
                    backoff_initial=0.05, backoff_max=0.3, error_retry=0.3)


def main() -> int:
    db, kdir, holder, ttl = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])

    def printer(line: str) -> None:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    async def run() -> int:
        async with open_store(f"sqlite://{db}") as store:
            return await run_watch(store, printer=printer, holder=holder, kubeconfigs_dir=kdir,
                                   phase1=Phase1Config(late_poll_timeout=1.0, watch_timeout=30.0),
                                   watch=WATCH, lease_ttl=ttl, flush_interval=0.1, handle_signals=True)

    return asyncio.run(run())


if __name__ == "__main__":
    sys.exit(main())
