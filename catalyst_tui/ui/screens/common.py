"""What the fleet and the detail screen share: the record actions, routed to the app."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from ..app import CatalystApp


class RecordActions:
    """Mixin for a Screen that has a "current" record (the selected row, or the detail's record)."""

    def current_record_id(self) -> str | None:  # pragma: no cover - overridden
        raise NotImplementedError

    def _dispatch(self, action_id: str) -> None:
        app = cast("CatalystApp", self.app)  # type: ignore[attr-defined]
        app.record_action(action_id, self.current_record_id())

    def action_handover(self) -> None:
        self._dispatch("handover")

    def action_patch_status(self) -> None:
        self._dispatch("patch-status")

    def action_reattach(self) -> None:
        self._dispatch("reattach")

    def action_stop_watcher(self) -> None:
        self._dispatch("stop-watcher")

    def action_take_over(self) -> None:
        self._dispatch("take-over")

    def action_view_json(self) -> None:
        self._dispatch("view-json")
