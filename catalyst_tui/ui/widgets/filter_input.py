"""The fleet's filter box, safe for operators who type faster than the app handles keys.

A terminal delivers ``/cedar⏎y`` in one read. Textual hands each key to the widget focused *when
the app dispatches it*, and widgets handle their keys in their own tasks, so keys queue up behind
a key that moves the focus. Three rules keep every key where the operator meant it:

* ``/`` is a priority binding of the fleet screen: the app runs it (and moves the focus here)
  before it dispatches the next key, so ``cedar`` is queued to this box, not to the table's keys.
* enter and escape are handled here, in order with the letters before them (a binding would run
  in the app's task, possibly before this box inserted the letters): the screen applies the final
  text and takes the focus back synchronously.
* a key that was queued here before the focus left (the ``y`` of ``/cedar⏎y``) is not typed into
  the box: it is dispatched again, as a new key press, to whatever has the focus now.

Pasted terminal controls are dropped (:class:`~catalyst_tui.ui.widgets.safe_input.SafeInput`).
"""

from __future__ import annotations

from typing import Callable

from textual import events

from .safe_input import SafeInput


class FilterInput(SafeInput):
    def __init__(
        self, *, on_done: Callable[[str], None], on_cancel: Callable[[], None], **kwargs: object
    ) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._on_done = on_done
        self._on_cancel = on_cancel

    def _on_key(self, event: events.Key) -> None:
        # Textual calls the ``_on_key`` of every class in the MRO (Input's inserts the character)
        # unless ``prevent_default()`` stops it.
        if self.screen.focused is not self:
            # Queued here before the focus moved: deliver it where the operator's focus is now.
            event.stop()
            event.prevent_default()
            self.app.post_message(events.Key(event.key, event.character))
            return
        if event.key == "enter":
            event.stop()
            event.prevent_default()
            self._on_done(self.value)
            return
        if event.key == "escape":
            event.stop()
            event.prevent_default()
            self._on_cancel()
