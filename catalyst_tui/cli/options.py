"""The global options, resolved, as the dashboard and the supervisor receive them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RunOptions:
    #: The store URL as given (``--store`` / ``CATALYST_TUI_STORE``), or None for the default.
    store_url: str | None
    #: Resolved operator identity (service.identity.resolve_operator).
    operator: str
    read_only: bool
    #: ``--kubeconfigs-dir`` / ``CATALYST_KUBECONFIGS_DIR`` / /var/lib/catalyst/kubeconfigs.
    kubeconfigs_dir: str
    #: ``--handover-key`` / ``CATALYST_HANDOVER_KEY_PATH``, or None for handover.keys.default_key_path().
    handover_key: str | None
    #: ``--take-over``: on a catalyst-api directory, write Phase-1 progress (catalyst-api is down).
    take_over: bool
