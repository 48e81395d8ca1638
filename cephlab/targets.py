"""Where the lab runs: the target contract, the target table, and the one answer to "does
stage S run on target T, and if not, why".

:class:`Target` is the contract every target implements. What each must do is abstract;
what only some targets offer (a Kubernetes API, VMs, CephFS mounts, the lab's services,
fault injection) has a default that raises :class:`NotOffered` naming the target and what
it lacks. Callers (fixtures, steps, the CLI) call the contract, never probe for attributes.

:func:`why_not` is the one function that says whether a stage runs on a target. It reads
each target class's declaration (``supported``, ``provided``, ``has_kubernetes``), what this
machine lacks (:meth:`Target.unavailable`) and what this run's options refuse
(:meth:`Target.refusal`). Plugin collection, the lifecycle and the CLI's ``stages`` table
all ask it; :func:`support_table` is its answer for every stage and target.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Mapping, Optional, Protocol

from . import registry
from . import stages as S
from .ceph import CephRunner
from .config import LabConfig
from .errors import ConfigError, LabError
from .stages import Stage
from .state import LabState

if TYPE_CHECKING:
    from .k8s.kube import Kube


class Machines(Protocol):
    """The lab's own machines, as the steps read them (the VMs of
    :class:`cephlab.k8s.vagrant.VagrantLab`, the node containers of the nodes target)."""

    #: what lsblk calls the data disks
    disk_types: tuple[str, ...]

    def status(self) -> dict[str, str]:
        """machine name -> "running" or another state"""
        ...

    def running(self) -> bool:
        ...

    def ssh(self, node: str, command: str) -> str:
        """a shell line run as root on ``node``; its output"""
        ...


class NotOffered(LabError, LookupError):
    """The target does not offer this (a Kubernetes API on the local target, …)."""


class Target(ABC):
    name: ClassVar[str]
    #: The stages this target builds (its engine has their work).
    supported: ClassVar[frozenset[str]] = frozenset()
    #: Stages the target's environment already has, and why they are not run.
    provided: ClassVar[Mapping[str, str]] = {}
    #: Stages this target does not build, and why (others say "has no … stage").
    not_built: ClassVar[Mapping[str, str]] = {}
    #: Whether the target has a Kubernetes API (stages marked ``kubernetes`` need one).
    has_kubernetes: ClassVar[bool] = False
    #: Stages whose work cannot be picked up where a stopped (or failed) run left it: an
    #: unfinished one rebuilds the lab (others are simply applied again).
    rebuild_if_unfinished: ClassVar[frozenset[str]] = frozenset()
    #: What this target runs in place of a part of the lab it cannot have, one sentence each
    #: (what, instead of what, and why): the run's header and report name every one.
    substitutes: ClassVar[tuple[str, ...]] = ()
    #: Where the programs and images the target runs come from, where that is not what the
    #: lab itself pulls (one sentence each; the header and report show them).
    origins: ClassVar[tuple[str, ...]] = ()
    #: What a pass on this target does not prove, one sentence each (what only the lab's own
    #: machines can show): the header, the report and ``stages --why`` say it.
    limits: ClassVar[tuple[str, ...]] = ()

    def __init__(self, cfg: LabConfig, state: LabState):
        self.cfg = cfg
        self.state = state

    # ------------------------------------------------------------------ what runs here
    @classmethod
    def unavailable(cls, stage: Stage) -> Optional[str]:
        """What this machine lacks for ``stage`` (None: nothing). Needs no lab."""
        return None

    @classmethod
    def refusal(cls, stage: Stage, cfg: LabConfig) -> Optional[str]:
        """Why this run's options forbid ``stage`` (None: they allow it). Needs no lab."""
        return None

    @classmethod
    def ceph_release(cls, asked: Optional[str]) -> tuple[str, str]:
        """The Ceph release this target's lab runs, and why, from ``--lab-ceph`` (None: not
        given). A target whose Ceph is the cluster's own (Rook's image) has no choice."""
        return "host", f"the {cls.name} target: Ceph is the cluster's own"

    @classmethod
    def header_lines(cls, cfg: LabConfig) -> list[str]:
        """What this target adds to the run's header (pytest's report header), beyond the
        target, the lab dir, substitutes, origins and limits."""
        return []

    # ------------------------------------------------------------------ lifecycle
    @abstractmethod
    def sanity_checks(self) -> None:
        """Checked before any work starts: raise ConfigError saying what to do."""

    @property
    @abstractmethod
    def ceph(self) -> CephRunner:
        """The runner of Ceph's own tools on this lab."""

    @abstractmethod
    def apply(self, stage: Stage) -> None:
        """Do ``stage``'s work (the lifecycle calls it only for stages that run here)."""

    @abstractmethod
    def resume(self) -> list[str]:
        """Start a kept lab that is not running at all; return what had to be started."""

    @abstractmethod
    def broken(self) -> list[str]:
        """What of the lab should run and does not."""

    @abstractmethod
    def repair(self) -> list[str]:
        """Start whatever of the lab is not running; return what was started."""

    @abstractmethod
    def status(self) -> list[str]:
        """One line per part of the lab (daemon, VM, object) and whether it runs."""

    @abstractmethod
    def fail_fast(self) -> None:
        """Raise when a wait on this lab can no longer succeed (a daemon or pod is gone)."""

    def causes(self, detail: bool = False) -> list:
        """Why the lab is not what its applied stages say and will not become it by itself
        (:class:`cephlab.diagnose.Cause`: the object, a sentence, the next command). Here
        what every target can see in Ceph's JSON (cluster flags, the lab's pools); a target
        that knows its daemons says more. ``detail`` also reads ``ceph health detail`` and
        ``ceph osd tree`` (for status and repair; waits call it without)."""
        from . import diagnose

        expected = diagnose.Expected(pools=tuple(S.lab_pools(self.state.applied_slugs())),
                                     lab_dir=str(self.cfg.lab_dir))
        return diagnose.causes(self.ceph.json("osd", "dump"), expected,
                               health=self.ceph.json("health", "detail") if detail else None)

    @abstractmethod
    def diagnostics(self) -> str:
        """What a person debugging a failed scenario reads first."""

    @abstractmethod
    def destroy(self) -> list[str]:
        """Remove what the harness built (only that); return what had to be killed/deleted."""

    @abstractmethod
    def describe(self) -> str:
        """One line: where the lab is and how to reach its toolbox."""

    def owned_pids(self) -> set[int]:
        """Processes the lab records as its own beyond the state's daemons (they outlive a
        run that keeps the lab: the nodes target's containers and forwarder)."""
        return set()

    def footprint(self) -> Optional[tuple[int, str]]:
        """(resident bytes, one line of detail) of everything the lab runs on this machine;
        None where the harness cannot see it (VMs, an existing cluster)."""
        return None

    def rebuild_refusal(self) -> Optional[str]:
        """Why this lab must not be destroyed and built again to reach a stage that a later
        stage invalidated (None: it may; the lifecycle also requires a lab it built)."""
        return None

    # ------------------------------------------------------------------ the lab's nodes
    def mon_names(self) -> Optional[list[str]]:
        """Names the mons should have (None: only their number is known, as with Rook's a, b, c)."""
        return None

    def node_name(self, lab_node: str) -> str:
        """The name of the lab's node ``lab_node`` (k8s-1..3) on this target."""
        return lab_node

    def crush_host(self, lab_node: str) -> str:
        """The CRUSH host name of the lab's node ``lab_node`` on this target."""
        return self.node_name(lab_node)

    def node_address(self, lab_node: str) -> str:
        """Where a client of the lab reaches ``lab_node``."""
        return self.cfg.loopback_ip(lab_node)

    def expected_address(self, lab_node: str) -> Optional[str]:
        """The address ``lab_node`` must report (None: nothing to compare with)."""
        return self.node_address(lab_node)

    # ------------------------------------------------------------------ what some offer
    def kube_api(self) -> "Kube":
        """The lab's Kubernetes API (:class:`cephlab.k8s.kube.Kube`)."""
        raise NotOffered(f"the {self.name} target has no Kubernetes API")

    def machines(self) -> "Machines":
        """The lab's own machines (:class:`Machines`: the VMs, the node containers)."""
        raise NotOffered(f"the {self.name} target has no VMs of its own")

    def cephfs_root(self, name: str) -> tuple[Optional[Path], str]:
        """A mounted view of the lab's CephFS for this run (path, "") or (None, why not)."""
        return None, f"the {self.name} target offers no CephFS mount to the harness"

    # Services the lab runs for its users, by name: "ceph_dashboard", "s3", "mysql", …
    def endpoint(self, service: str) -> tuple[str, int]:
        """(host, port) where a client of the lab reaches ``service``."""
        raise NotOffered(f"the {self.name} target runs no {service} service")

    def credentials(self, service: str) -> dict[str, str]:
        """Generated credentials for ``service`` (never print them)."""
        raise NotOffered(f"the {self.name} target has no credentials for {service}")

    def restart(self, service: str) -> None:
        """Restart ``service`` the way the lab would (a pod deleted, a server restarted)."""
        raise NotOffered(f"the {self.name} target cannot restart {service}")

    def block_volume(self, service: str) -> tuple[str, str]:
        """(pool, RBD image) holding ``service``'s volume."""
        raise NotOffered(f"the {self.name} target has no block volume for {service}")

    def inject_fault(self, fault: str, **options: Any):
        """Inject a named fault, undo it, and return its report (see cephlab.local.faults)."""
        raise NotOffered(f"the {self.name} target cannot inject {fault}")

    def fault_leftovers(self) -> list[str]:
        """What of an injected fault is still in place (a partition rule, a lowered ratio),
        one sentence each, without changing anything; empty where no fault is offered."""
        return []

    def undo_faults(self) -> list[str]:
        """Undo any fault an earlier or failed run left in place (partition rules, lowered
        ratios); return one line per thing undone. Nothing to undo where no fault is offered."""
        return []


# ---------------------------------------------------------------------------- the table
#: Target name -> its registry entry (:mod:`cephlab.registry`; classes imported on first use:
#: the engines import this module).
TARGETS = registry.TARGETS
#: Replacements by name, for the harness's own tests (stand-ins wired to fakes).
OVERRIDES: dict[str, type[Target]] = {}


def target_class(name: str) -> type[Target]:
    if name in OVERRIDES:
        return OVERRIDES[name]
    try:
        module, _, cls = TARGETS[name].where.partition(":")
    except KeyError:
        raise ConfigError(f"unknown lab target {name!r}; choose one of: {', '.join(TARGETS)}") from None
    import importlib

    return getattr(importlib.import_module(module), cls)


def make_target(cfg: LabConfig, state: LabState) -> Target:
    return target_class(cfg.target)(cfg, state)


def why_not(target: str | type[Target], stage: Stage | str,
            cfg: Optional[LabConfig] = None, *, needs_kubernetes: bool = False) -> Optional[str]:
    """Why ``stage`` does not run on ``target`` (None: it runs). With ``cfg``, this run's
    options are asked too (a destructive stage on an existing cluster needs an allowance).
    ``needs_kubernetes``: one scenario of a stage that runs here asks the Kubernetes API
    (tagged ``@k8s``)."""
    cls = target_class(target) if isinstance(target, str) else target
    stage = S.get(stage) if isinstance(stage, str) else stage
    if stage.slug in cls.provided:
        return f"stage {stage.slug} is not run: {cls.provided[stage.slug]}"
    if stage.slug not in cls.supported:
        if stage.kubernetes and not cls.has_kubernetes:
            others = " or ".join(f"--lab-target={n}" for n in registry.kubernetes_targets())
            return (f"stage {stage.slug} needs Kubernetes; the {cls.name} target has none "
                    f"(run it with {others})")
        return cls.not_built.get(stage.slug) or f"the {cls.name} target has no {stage.slug} stage"
    if needs_kubernetes and not cls.has_kubernetes:  # the stage runs here, this scenario not
        return (f"this scenario of stage {stage.slug} asks the Kubernetes API; the {cls.name} "
                f"target has none")
    lacking = cls.unavailable(stage)
    if lacking:
        return f"stage {stage.slug} cannot run here: {lacking}"
    if cfg is None or cfg.mode == "verify":  # verify mode does nothing the options could forbid
        return None
    return cls.refusal(stage, cfg)


def support_table(cfg_of: Optional[Mapping[str, LabConfig]] = None) -> dict[str, dict[str, Optional[str]]]:
    """stage slug -> target name -> why not (None: it runs)."""
    cfg_of = cfg_of or {}
    return {stage.slug: {name: why_not(name, stage, cfg_of.get(name)) for name in TARGETS}
            for stage in S.STAGES}


__all__ = ["NotOffered", "Target", "TARGETS", "make_target", "support_table",
           "target_class", "why_not"]
