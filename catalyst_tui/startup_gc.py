"""No cyclic GC from the process's start until the dashboard's fleet is first on screen.

Textual's start, the imports before it and the first fleet (its summaries and rows, their sort
keys) allocate a few hundred thousand long-lived objects; the collector walked them again and
again on the way to the first paint: ~60 ms of a ~0.7 s start-up when only the dashboard's own
start was paused, and still ~11 ms in 82 collections during the imports before that pause
(measured with ``gc.callbacks``), hence :func:`pause` in the entry point, before any import.

At the first paint :func:`end` moves everything alive then to the permanent generation
(``gc.freeze``) and switches the GC back on: later collections no longer walk the start-up
objects either (a full collection of them costs ~80 ms on the UI loop). What that keeps of the
start-up's cyclic garbage is bounded and one-off (~12,000 objects measured, a few MB). A command
other than the dashboard ends the pause as soon as its arguments are parsed. Only the real entry
points pause: tests that build apps or call ``cli.main.main`` in one process keep a normal GC
(:func:`end` does nothing unless :func:`pause` switched the GC off).
"""

from __future__ import annotations

import gc

_paused = False


def pause() -> None:
    global _paused
    if gc.isenabled() and not _paused:
        gc.disable()
        _paused = True


def paused() -> bool:
    return _paused


def end() -> None:
    global _paused
    if _paused:
        _paused = False
        gc.freeze()
        gc.enable()
