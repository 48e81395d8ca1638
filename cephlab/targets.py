"""Where the lab runs. A table maps the target name to its class; an unknown name is an
error that names it (see :func:`cephlab.config.resolve_target`).

A target knows which stages it has, applies one stage's work, gives the Ceph runner for
assertions, restarts what a kept lab lost, collects diagnostics and destroys what it built.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from .ceph import CephRunner
from .config import LabConfig
from .errors import ConfigError
from .stages import Stage
from .state import LabState


class Target:
    name = "base"
    #: The stages this target can build and verify (others skip with ``skip_reason``).
    supported: frozenset[str] = frozenset()

    def __init__(self, cfg: LabConfig, state: LabState):
        self.cfg = cfg
        self.state = state

    # Checked before any work starts: raise ConfigError with what to do.
    def sanity_checks(self) -> None:
        raise NotImplementedError

    @classmethod
    def skip_reason(cls, stage: Stage) -> Optional[str]:
        """Why this target does not run ``stage`` (None: it does). Needs no lab."""
        if stage.slug in cls.supported:
            return None
        return f"the {cls.name} target has no {stage.slug} stage"

    def applicable(self, stage: Stage) -> bool:
        return self.skip_reason(stage) is None

    @property
    def ceph(self) -> CephRunner:
        raise NotImplementedError

    def resume(self) -> list[str]:
        """Start a kept lab that is not running at all; return what had to be started."""
        return []

    def broken(self) -> list[str]:
        """What of the lab should run and does not."""
        return []

    def apply(self, stage: Stage) -> None:
        raise NotImplementedError

    def fail_fast(self) -> None:
        """Raise when a wait on this lab can no longer succeed (a daemon or pod is gone)."""

    def mon_names(self) -> Optional[list[str]]:
        """Names the mons should have (None: only their number is known, as with Rook's a, b, c)."""
        return None

    def crush_host(self, lab_node: str) -> str:
        """The CRUSH host name of the lab's node ``lab_node`` (k8s-1..3) on this target."""
        return lab_node

    def cephfs_root(self, name: str) -> tuple[Optional[Path], str]:
        """A mounted view of the lab's CephFS for this run (path, "") or (None, why not)."""
        return None, f"the {self.name} target offers no CephFS mount to the harness"

    # Services the lab runs for its users, by name: "ceph_dashboard", "s3", "mysql".
    def endpoint(self, service: str) -> tuple[str, int]:
        """(host, port) where a client of the lab reaches ``service``."""
        raise LookupError(f"the {self.name} target runs no {service} service")

    def credentials(self, service: str) -> dict[str, str]:
        """Generated credentials for ``service`` (never print them)."""
        raise LookupError(f"the {self.name} target has no credentials for {service}")

    def restart(self, service: str) -> None:
        """Restart ``service`` the way the lab would (a pod deleted, a server restarted)."""
        raise LookupError(f"the {self.name} target cannot restart {service}")

    def block_volume(self, service: str) -> tuple[str, str]:
        """(pool, RBD image) holding ``service``'s volume."""
        raise LookupError(f"the {self.name} target has no block volume for {service}")

    def inject_fault(self, fault: str, **options):
        """Inject a named fault, undo it, and return its report (see cephlab.local.faults)."""
        raise LookupError(f"the {self.name} target cannot inject {fault}")

    def diagnostics(self) -> str:
        return ""

    def destroy(self) -> list[str]:
        raise NotImplementedError

    def describe(self) -> str:
        return self.name


def target_class(name: str) -> type[Target]:
    from .k8s.cluster_target import ClusterTarget  # the engines import this module
    from .k8s.vagrant_target import VagrantTarget
    from .local.target import LocalTarget

    table: dict[str, type[Target]] = {
        "local": LocalTarget, "vagrant": VagrantTarget, "cluster": ClusterTarget,
    }
    try:
        return table[name]
    except KeyError:
        raise ConfigError(f"unknown lab target {name!r}; choose one of: {', '.join(table)}") from None
