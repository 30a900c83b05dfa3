"""What the fleet and the detail screen share: the record actions, routed to the app."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from ..app import CatalystApp


class CoalescedLoads:
    """A screen whose data loads never overlap and never cancel each other: a request made during
    a load runs once after it (a live watcher changes a record several times a second, and a
    cancelled load would never finish). The screen implements ``async def _load()``."""

    _loading = False
    _reload = False

    def request_load(self) -> None:
        if self._loading:
            self._reload = True
            return
        self._loading = True
        self.run_worker(  # type: ignore[attr-defined]
            self._load_coalesced(), group=f"{type(self).__name__}-load", exit_on_error=False
        )

    async def _load_coalesced(self) -> None:
        try:
            await self._load()  # type: ignore[attr-defined]
        finally:
            self._loading = False
            if self._reload:
                self._reload = False
                self.request_load()


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
