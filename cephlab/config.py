"""Run configuration: the target choice, the LabConfig a run works with (read from the
option table in cephlab/options.py), and checks of bad input."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Optional

from . import registry
from .errors import ConfigError
from .lock import only_lock_file
from .model import LOCAL_IP_PREFIX, NODES
from .state import LabOptions

TARGET_NAMES = (*registry.TARGETS, registry.AUTO)
#: saved options that LabConfig holds as a Path (LabOptions saves them as text)
_PATH_FIELDS = ("cluster_config",)
DESTROY_POLICIES = ("passing", "always", "never")


@dataclass
class Timeouts:
    """Seconds. Scaled all at once by ``--lab-timeout-scale`` for slow machines."""

    daemon_start: float = 60.0   #: a started daemon registers with the mons
    quorum: float = 60.0         #: all mons in quorum
    osds_up: float = 90.0        #: every OSD up and in
    health: float = 180.0        #: the cluster reaches its expected health
    mds: float = 90.0            #: MDS ranks active and standby-replay present
    safe_to_destroy: float = 300.0  #: data moved off OSDs being removed
    command: float = 60.0        #: one Ceph CLI call
    ghost_boot: float = 600.0    #: Ghost's first boot: every migration on MariaDB

    def scaled(self, factor: float) -> "Timeouts":
        return Timeouts(**{k: v * factor for k, v in self.__dict__.items()})


@dataclass
class LabConfig:
    target: str
    target_reason: str
    lab_dir: Path
    destroy: str = "passing"
    ip_prefix: str = LOCAL_IP_PREFIX  #: node k8s-N listens on <prefix>.<N+1> (the lab: SUBNET.N+1)
    nodes: tuple[str, ...] = NODES
    disk_size_gib: int = 10
    timeouts: Timeouts = field(default_factory=Timeouts)
    #: cluster target: which cluster (None: the kubeconfig's current context) and what may
    #: be done to it.
    kubeconfig: Optional[str] = None
    kube_context: Optional[str] = None
    cluster_config: Optional[Path] = None  #: YAML naming the nodes and devices to use
    allow_destructive: bool = False
    #: local target: where Ceph comes from ("host", "20", "18"; see cephlab/local/releases.py)
    ceph_release: str = "host"
    ceph_reason: str = ""
    #: build (default) or verify: grade a lab built by hand and change nothing (cephlab.verify)
    mode: str = "build"
    reached: Optional[str] = None   #: verify: the stage the lab reached (None: detect it)
    verify_readonly: bool = False   #: verify: no data round trips either

    def options(self) -> LabOptions:
        """What is saved with the lab at creation (every later command uses it): each field
        of LabOptions, taken from the attribute of the same name (paths saved as text)."""
        def saved(value):
            return str(value) if isinstance(value, Path) else value
        return LabOptions(**{f.name: saved(getattr(self, f.name)) for f in fields(LabOptions)})

    @classmethod
    def from_saved(cls, opts: LabOptions, lab_dir: Path, reason: str) -> "LabConfig":
        """The config of a kept lab, from the options saved with it."""
        values = {f.name: getattr(opts, f.name) for f in fields(LabOptions)}
        for name in _PATH_FIELDS:
            values[name] = Path(values[name]) if values.get(name) else None
        return cls(target_reason=reason, lab_dir=lab_dir, **values)

    def loopback_ip(self, node: str) -> str:
        """The local lab's address of ``node``: its own loopback address (k8s-1 is PREFIX.2)."""
        return f"{self.ip_prefix}.{self.nodes.index(node) + 2}"


def resolve_target(name: Optional[str], which=shutil.which) -> tuple[str, str]:
    """Turn a target option value into (target, why it was chosen)."""
    name = (name or "auto").strip().lower()
    if name not in TARGET_NAMES:
        raise ConfigError(f"unknown lab target {name!r}; choose one of: {', '.join(TARGET_NAMES)}")
    if name != "auto":
        return name, "chosen explicitly"
    if which("vagrant"):
        providers = [p for p, tool in (("virtualbox", "VBoxManage"), ("libvirt", "virsh")) if which(tool)]
        if providers:
            return "vagrant", f"auto: vagrant and the {providers[0]} provider are installed"
        return "local", "auto: vagrant is installed but no provider (VBoxManage or virsh) was found"
    return "local", "auto: vagrant is not installed, so the lab runs as a local Ceph cluster"


def check_lab_dir(path: Path, *, reading: bool = False) -> Path:
    """The lab directory must be creatable, writable and not a system location (``reading``:
    verify mode writes nothing, so a lab dir of somebody else's making is fine)."""
    path = Path(path).expanduser().resolve()
    system = [Path(p) for p in ("/etc", "/usr", "/bin", "/sbin", "/lib", "/lib64", "/boot",
                                "/proc", "/sys", "/dev", "/var/lib/ceph", "/var/log/ceph")]
    if path == Path("/") or any(path == d or d in path.parents for d in system):
        raise ConfigError(f"lab directory {path} is a system location; choose a directory of your own")
    if path.exists() and not path.is_dir():
        raise ConfigError(f"lab directory {path} exists and is not a directory")
    probe = path
    while not probe.exists():
        probe = probe.parent
    if not os.access(probe, os.W_OK):
        raise ConfigError(f"lab directory {path} cannot be created or written (no write access to {probe})")
    if reading:
        return path
    if (path.exists() and any(path.iterdir()) and not (path / "state.json").exists()
            and not only_lock_file(path)):
        raise ConfigError(f"lab directory {path} is not empty and holds no lab of this harness; "
                          f"refusing to write into it")
    return path


def env_or(value: Optional[str], env: str, default: Optional[str]) -> Optional[str]:
    if value not in (None, ""):
        return value
    if os.environ.get(env):
        return os.environ[env]
    return default
