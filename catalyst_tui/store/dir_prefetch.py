"""The first screenful of a catalyst-api directory, read on a second CPU while the dashboard starts.

The dashboard's first paint waits for :meth:`CatalystDirStore.head_summaries` (the first rows of
the attention order: the start of every record file, then the first rows' files whole) and, before
that, for its own imports (Textual: ~0.1 s). Both are CPU work, done one after the other on one
CPU. When the process may use two CPUs, the command line (:func:`start`, called right after the
arguments are parsed, before Textual is imported) forks a child that computes exactly that head
with the store's own code, while the parent goes on importing. The store's ``head_summaries`` then takes
the child's answer (:func:`claim`) when it was asked the same question of the same directory, and
computes the head itself in every other case: a single CPU, other threads already running (a fork
copies only the calling thread), another limit or ranks, a child that failed, answered anything
but the expected types, or took longer than :data:`CLAIM_TIMEOUT` (or 1 ms per directory entry).

The child only reads (a read-only store: no write probe, no lock, no directory created), writes its
answer to a private pipe and leaves with ``os._exit`` (the parent's buffers and ``atexit``
handlers are not run twice). Its answer is a snapshot of the moment it read, as the in-process
head is of its own: the full listing that follows replaces it, and the listing cache entries it
brings back are keyed by each file's identity (inode, size, times), so a file changed meanwhile is
read again.
"""

from __future__ import annotations

import atexit
import fcntl
import io
import os
import pickle
import select
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Mapping

from .base import LoadError, Summary

#: (limit, ranks as sorted items, other rank): the question a head answers.
Question = tuple[int, tuple[tuple[str, int | None], ...], int]
#: (total, summaries, listing cache entries (name, (inode, size, mtime_ns, ctime_ns), outcome)).
Answer = tuple[int, list[Summary], list[tuple[str, tuple[int, int, int, int], "Summary | LoadError"]]]

#: How long a claim waits for the child before computing the head itself: this long, or this
#: much per directory entry when that is longer (a cold page cache: 50,000 files took ~7 s, i.e.
#: 0.15 ms a file). A child that is slower still is stuck where the parent would be too (or has a
#: bug): it is killed and the parent computes the head.
CLAIM_TIMEOUT = 5.0
PER_FILE_BUDGET = 0.001
_HEADER = b"catalyst-tui head prefetch 1\n"

_lock = threading.Lock()
_pending: "Prefetch | None" = None
#: What the last :func:`claim` of a pending prefetch did: "used", "other question", "timed out"
#: or "no answer" (the child failed or answered something else). For tests and debugging.
last_outcome: str | None = None


@dataclass
class Prefetch:
    """A forked child computing one head (see the module doc)."""

    pid: int
    fd: int  # the read end of its answer's pipe
    key: tuple[str, str, int]  # (real directory, directory as spelled, max_record_bytes)
    question: Question
    started: float = field(default_factory=time.monotonic)

    def close(self, *, kill: bool) -> None:
        """Reap the child (killed first when asked), close the pipe."""
        if kill:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except OSError:
                pass
        try:
            os.waitpid(self.pid, 0)
        except ChildProcessError:
            pass
        except OSError:
            pass
        try:
            os.close(self.fd)
        except OSError:
            pass


def _question(limit: int, ranks: Mapping[str, int | None], other_rank: int) -> Question:
    return limit, tuple(sorted(ranks.items())), other_rank


def can_fork(*, need_two_cpus: bool = True) -> bool:
    """A fork is safe (only this thread runs; Linux) and, unless told otherwise, this process may
    use two CPUs (its affinity and its cgroup quota: a pod's limit).

    Not the load average, as the directory listing's helper asks: it lags a minute behind (a busy
    minute just ended refused the prefetch in half the benchmark's start-ups) and in a pod it is
    the node's. The child does no extra work, it does the parent's share earlier: on a busy second
    CPU it costs the fork and the answer's pickle (~2 ms)."""
    if not sys.platform.startswith("linux") or not hasattr(os, "fork") or threading.active_count() != 1:
        return False
    if need_two_cpus:
        from .catalyst_dir import _cpus_available

        return _cpus_available() >= 2
    return True


def start(directory: str | os.PathLike[str], limit: int, ranks: Mapping[str, int | None], other_rank: int,
          *, need_two_cpus: bool = True) -> bool:
    """Fork the child that computes ``head_summaries(limit, ranks, other_rank)`` of the catalyst-api
    directory ``directory`` (as ``open_store`` builds its store). False when it was not started
    (see :func:`can_fork`; a directory that does not exist; a prefetch already pending)."""
    global _pending
    from .catalyst_dir import CatalystDirStore

    if not can_fork(need_two_cpus=need_two_cpus):
        return False
    store = CatalystDirStore(directory, read_only=True)
    try:
        real = os.path.realpath(store.dir)
        if not os.path.isdir(real):
            return False
    except (OSError, ValueError):
        return False
    if _pending is not None:
        return False
    # (Only this thread runs (can_fork): no lock is held across the fork, and the child, in which
    # nothing is pending, computes the head itself.)
    r, w = os.pipe()
    try:  # room for a tall terminal's answer: the child writes it all and exits at once
        fcntl.fcntl(r, fcntl.F_SETPIPE_SZ, 1 << 20)
    except (AttributeError, OSError):
        pass
    try:
        pid = os.fork()
    except OSError:
        os.close(r)
        os.close(w)
        return False
    if pid == 0:  # the child
        os.close(r)
        _child(store, w, limit, dict(ranks), other_rank)  # never returns
    os.close(w)
    with _lock:
        _pending = Prefetch(pid, r, (real, str(store.dir), store.max_record_bytes), _question(limit, ranks, other_rank))
    atexit.register(cancel)
    return True


def _child(store: Any, w: int, limit: int, ranks: dict[str, int | None], other_rank: int) -> None:
    code = 1
    try:
        import gc

        gc.disable()  # short-lived; nothing it builds is cyclic
        store._open_sync()
        total, out = store._head_sync(limit, ranks, other_rank)
        # The listing cache entries the head read whole (the child's cache started empty).
        entries = [(name, key, outcome) for name, (key, outcome) in store._listing.entries.items()]
        payload = _HEADER + pickle.dumps((total, out, entries), protocol=pickle.HIGHEST_PROTOCOL)
        view = memoryview(payload)
        while view:
            view = view[os.write(w, view):]
        code = 0
    except BaseException:  # noqa: BLE001 - any failure: no answer, the parent computes the head
        pass
    finally:
        os._exit(code)


def claim(store: Any, limit: int, ranks: Mapping[str, int | None], other_rank: int) -> Answer | None:
    """The pending prefetch's answer when it is for ``store``'s directory (same settings) and this
    question: (total, summaries, listing cache entries); None otherwise (a prefetch for another
    question is dropped: the dashboard asks once)."""
    global _pending, last_outcome
    with _lock:
        pre, _pending = _pending, None
    if pre is None:
        return None
    same_store = pre.key == (store._real, str(store.dir), store.max_record_bytes)
    if not same_store or pre.question != _question(limit, ranks, other_rank):
        pre.close(kill=True)
        last_outcome = "other question"
        return None
    chunks: list[bytes] = []
    done = _read_all(pre.fd, pre.started + CLAIM_TIMEOUT, chunks)
    if not done:  # slow or stuck? A large directory on a cold page cache is slow (50,000 files: ~7 s)
        budget = max(CLAIM_TIMEOUT, _entries(pre.key[0]) * PER_FILE_BUDGET)
        done = _read_all(pre.fd, pre.started + budget, chunks)
    data = b"".join(chunks) if done else None
    pre.close(kill=data is None)
    answer = _decode(data[len(_HEADER):]) if data is not None and data.startswith(_HEADER) else None
    last_outcome = "used" if answer is not None else "timed out" if data is None else "no answer"
    return answer


def _read_all(fd: int, deadline: float, chunks: list[bytes]) -> bool:
    """Read what the child writes into ``chunks``: True once it closed the pipe, False when it has
    not by ``deadline`` (or the pipe failed)."""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        try:
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                continue
            chunk = os.read(fd, 1 << 20)
        except InterruptedError:
            continue
        except OSError:
            return False
        if not chunk:
            return True
        chunks.append(chunk)


def _entries(directory: str) -> int:
    """How many entries ``directory`` has (0 when it cannot be listed)."""
    try:
        with os.scandir(directory) as it:
            return sum(1 for _ in it)
    except OSError:
        return 0


def _decode(data: bytes) -> Answer | None:
    from .catalyst_dir import _ResultsUnpickler

    try:
        got = _ResultsUnpickler(io.BytesIO(data)).load()
    except Exception:  # noqa: BLE001 - a malformed answer: computed here instead
        return None
    if type(got) is not tuple or len(got) != 3:
        return None
    total, out, entries = got
    if type(total) is not int or type(out) is not list or type(entries) is not list:
        return None
    if any(type(s) is not Summary for s in out):
        return None
    for item in entries:
        if type(item) is not tuple or len(item) != 3:
            return None
        name, key, outcome = item
        if type(name) is not str or type(outcome) not in (Summary, LoadError):
            return None
        if type(key) is not tuple or len(key) != 4 or any(type(k) is not int for k in key):
            return None
    return total, out, entries


def cancel() -> None:
    """Drop a prefetch nobody claimed (the dashboard did not start): kill and reap its child."""
    global _pending
    with _lock:
        pre, _pending = _pending, None
    if pre is not None:
        pre.close(kill=True)


def pending() -> bool:
    return _pending is not None


__all__ = ["start", "claim", "cancel", "can_fork", "pending", "CLAIM_TIMEOUT", "PER_FILE_BUDGET"]
