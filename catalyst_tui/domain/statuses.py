"""The status vocabulary of catalyst-api deployment records (domain reference §2)."""

from __future__ import annotations

from enum import Enum

PENDING = "pending"
PROVISIONING = "provisioning"
TOFU_APPLYING = "tofu-applying"
FLUX_BOOTSTRAPPING = "flux-bootstrapping"
PHASE1_WATCHING = "phase1-watching"
READY = "ready"
FAILED = "failed"
PARTIAL_FAILURE = "partial-failure"
ADOPTED = "adopted"
WIPING = "wiping"
WIPED = "wiped"

#: Every status string catalyst-api is known to write, in lifecycle order.
KNOWN_STATUSES: tuple[str, ...] = (
    PENDING,
    PROVISIONING,
    TOFU_APPLYING,
    FLUX_BOOTSTRAPPING,
    PHASE1_WATCHING,
    READY,
    FAILED,
    PARTIAL_FAILURE,
    ADOPTED,
    WIPING,
    WIPED,
)

#: Phase-0 in flight: the tofu workdir died with the pod, so a restart must fail these (post-fix
#: ``isPhase0InFlightStatus``).
PHASE0_IN_FLIGHT: frozenset[str] = frozenset({PENDING, PROVISIONING, TOFU_APPLYING, FLUX_BOOTSTRAPPING})

#: In flight in the wider sense (``isInFlightStatus``): Phase 0 plus ``phase1-watching``. Used by the
#: subdomain-release check and the orphan-PDM-release decision, never by the restart rewrite.
IN_FLIGHT: frozenset[str] = PHASE0_IN_FLIGHT | {PHASE1_WATCHING}


def is_phase0_in_flight(status: str) -> bool:
    return status in PHASE0_IN_FLIGHT


def is_in_flight(status: str) -> bool:
    return status in IN_FLIGHT


def is_known(status: str) -> bool:
    return status in KNOWN_STATUSES


class ComponentState(str, Enum):
    """Per-component state derived from a HelmRelease's Ready condition (§4)."""

    PENDING = "pending"
    INSTALLING = "installing"
    INSTALLED = "installed"
    DEGRADED = "degraded"
    FAILED = "failed"

    @property
    def terminal(self) -> bool:
        return self in (ComponentState.INSTALLED, ComponentState.FAILED)


COMPONENT_STATES: tuple[str, ...] = tuple(s.value for s in ComponentState)

#: Phase-1 outcomes written to ``result.phase1Outcome``.
OUTCOME_READY = "ready"
OUTCOME_FAILED = "failed"
OUTCOME_TIMEOUT = "timeout"
OUTCOME_FLUX_NOT_RECONCILING = "flux-not-reconciling"
OUTCOME_KUBECONFIG_MISSING = "kubeconfig-missing"
OUTCOME_WATCHER_START_FAILED = "watcher-start-failed"

#: The canonical 11-component bootstrap kit (HEAD), in dependency order.
BOOTSTRAP_KIT: tuple[str, ...] = (
    "cilium",
    "cert-manager",
    "flux",
    "crossplane",
    "sealed-secrets",
    "spire",
    "nats-jetstream",
    "openbao",
    "keycloak",
    "gitea",
    "catalyst-platform",
)
