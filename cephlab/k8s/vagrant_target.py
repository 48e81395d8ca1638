"""The vagrant target: the lab itself, on three VMs the harness creates from the Vagrantfile.

It shares the cluster target's engine by composition (:class:`cephlab.k8s.kube_engine.KubeEngine`:
the typed stage plans op by op through :mod:`cephlab.k8s.plan_runner`, waits, fail-fast, diagnostics; and
:class:`cephlab.k8s.kube_services.KubeServices`). What differs:

- stage ``vms`` brings the machines up with :class:`cephlab.k8s.vagrant.VagrantLab` and
  checks what they report (running, hostnames, private addresses, empty ``sdc``/``sdd``);
  stages ``kubernetes``, ``cni`` and ``master_isolation`` run the vagrant plan's kubeadm,
  Calico and taint lines (over ``vagrant ssh`` and ``kubectl``);
- the admin kubeconfig is fetched into the lab dir (``<lab_dir>/kubeconfig``, mode 0600) and
  every Kubernetes client of the lab (the ``kubernetes`` client, ``kubectl``, the Rook
  toolbox) uses it;
- the machines' Vagrant state lives in the lab dir (``VAGRANT_DOTFILE_PATH=<lab_dir>/.vagrant``,
  ``VAGRANT_CWD`` = the repository root with the Vagrantfile), so ``destroy`` removes this
  lab's machines and nothing else;
- the harness built the lab, so destructive stages run without an allowance.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Optional

from ..errors import ConfigError, LabError
from .. import stages
from ..stages import Stage
from . import manifests as m
from . import preflight, vm_checks
from .kube_services import KubeServices
from .kube_engine import KubeEngine
from .kube_target import MadeCluster
from .plan_build import Hosts, build, by_stage
from .plan_ops import StagePlan, VagrantUp
from .transport import VAGRANT_SSH

if TYPE_CHECKING:
    from .vagrant import VagrantLab

log = logging.getLogger("cephlab")

#: provider -> the host program it needs
PROVIDERS = {"virtualbox": "VBoxManage", "libvirt": "virsh"}
#: Stages only the local target has, and why.
LOCAL_ONLY = {
    "faults": "stage faults runs on the local target only (it SIGKILLs the lab's Ceph daemons "
              "by recorded pid, which Rook pods on VMs are not); every other stage runs on the "
              "vagrant target",
}
DOTFILE_DIR = ".vagrant"
PROVIDER_KEY = "vagrant_provider"


class VagrantTarget(MadeCluster):
    """The harness built this lab, so destructive stages need no allowance (no ``refusal``)."""

    name = "vagrant"
    supported = stages.runs_on("kubernetes")
    not_built = LOCAL_ONLY

    def __init__(self, cfg, state, root: Optional[Path] = None):
        super().__init__(cfg, state)
        # python-vagrant is imported on first use of ``vagrant``: sanity_checks must be able
        # to say it is missing
        self.root = Path(root) if root else Path(__file__).resolve().parents[2]
        self._vagrant: Optional[VagrantLab] = None
        self._plans: Optional[dict[Stage, StagePlan]] = None
        self.engine = KubeEngine(cfg, state, kube=lambda: self.kube, plans=self.plans,
                                 runner_kube=self.runner_kube,
                                 env=lambda: dict(self.vagrant.env_overrides))
        self.services = KubeServices(self.name, lambda: self.kube, self.node_address, cfg.lab_dir)

    # ------------------------------------------------------------------ pieces
    @property
    def dotfile_path(self) -> Path:
        return self.cfg.lab_dir / DOTFILE_DIR

    @property
    def vagrant(self) -> VagrantLab:
        """The lab's machines (:class:`VagrantLab`), their state in the lab dir."""
        if self._vagrant is None:
            from .vagrant import VagrantLab

            self._vagrant = VagrantLab(self.root, nodes=tuple(self.cfg.nodes),
                                       dotfile_path=self.dotfile_path)
        return self._vagrant

    def machines(self) -> VagrantLab:
        return self.vagrant

    def node_address(self, lab_node: str) -> str:
        return m.lab_ip(list(self.cfg.nodes).index(lab_node))   # the VMs' private addresses

    @property
    def provider(self) -> str:
        """The recorded provider of this lab's machines, else LAB_PROVIDER, else the first
        installed one (VirtualBox before libvirt)."""
        recorded = self.state.get(PROVIDER_KEY)
        if recorded:
            return recorded
        wanted = os.environ.get("LAB_PROVIDER", "").strip().lower()
        if wanted:
            return wanted
        return next((p for p, tool in PROVIDERS.items() if shutil.which(tool)), "virtualbox")

    # ------------------------------------------------------------------ checks first
    def sanity_checks(self) -> None:
        if not shutil.which("vagrant"):
            raise ConfigError(
                "the vagrant target needs the `vagrant` executable and a provider (VirtualBox or "
                "libvirt); `vagrant` was not found on PATH. Install Vagrant, or run the lab on "
                "this machine with --lab-target=local.")
        wanted = os.environ.get("LAB_PROVIDER", "").strip().lower()
        if wanted and wanted not in PROVIDERS:
            raise ConfigError(f"LAB_PROVIDER={wanted!r} is not a provider of the lab; choose one "
                              f"of: {', '.join(PROVIDERS)}")
        if wanted and not self.state.get(PROVIDER_KEY) and not shutil.which(PROVIDERS[wanted]):
            raise ConfigError(f"LAB_PROVIDER={wanted} needs `{PROVIDERS[wanted]}`, which is not on "
                              f"PATH; install it or unset LAB_PROVIDER")
        if not any(shutil.which(tool) for tool in PROVIDERS.values()):
            raise ConfigError(
                "the vagrant target needs a provider for its VMs: neither `VBoxManage` "
                "(VirtualBox) nor `virsh` (libvirt, with the vagrant-libvirt plugin) is on PATH. "
                "Install one, or run the lab on this machine with --lab-target=local.")
        if not shutil.which("kubectl"):
            raise ConfigError("the vagrant target applies the lab through `kubectl`, which is not "
                              "on PATH; install kubectl (within one minor of Kubernetes "
                              "on the VMs)")
        try:
            import vagrant  # noqa: F401  (python-vagrant)
        except ImportError:
            raise ConfigError("the vagrant target drives Vagrant through python-vagrant, which is "
                              "not installed: pip install python-vagrant") from None
        if not (self.root / "Vagrantfile").is_file():
            raise ConfigError(f"no Vagrantfile in {self.root}")
        preflight.check_vagrant_host(self.provider)   # versions, networks.conf, helm, curl

    # ------------------------------------------------------------------ the plan
    @classmethod
    def plan_hosts(cls, provider: str = "${LAB_PROVIDER:-virtualbox}") -> Hosts:
        """VMs that ``vagrant up`` makes, reached over ``vagrant ssh``; the plan builds
        Kubernetes on them."""
        return Hosts(cls.name, VAGRANT_SSH, builds_kubernetes=True, machines=(VagrantUp(provider),))

    def plans(self) -> dict[Stage, StagePlan]:
        if self._plans is None:
            self._plans = by_stage(build(self.plan_hosts(self.provider), tuple(self.cfg.nodes),
                                         m.generate_secrets()))
        return self._plans

    def apply(self, stage: Stage) -> None:
        if stage.slug == "vms":
            self._vms()
            return
        if stage.slug == "kubernetes":
            self._new_kubeconfig()
        self.run_plan(stage)

    def _vms(self) -> None:
        lab, nodes = self.vagrant, list(self.cfg.nodes)
        provider = self.provider
        self.state.put(PROVIDER_KEY, provider)
        log.info("[vms] vagrant up --provider=%s (VAGRANT_DOTFILE_PATH=%s)", provider, self.dotfile_path)
        lab.up(provider=provider)
        try:
            vm_checks.assert_machines_running(lab.status(), nodes)
        except AssertionError as exc:
            raise LabError(f"stage vms: {exc}") from None
        problems = vm_checks.machine_problems(lambda node, line: lab.ssh(node, line), nodes,
                                              {n: m.lab_ip(i) for i, n in enumerate(nodes)})
        if problems:
            raise LabError("stage vms: the machines are up but do not fit the lab: "
                           + "; ".join(problems))

    # ------------------------------------------------------------------ a kept lab
    def resume(self) -> list[str]:
        """Machines of a kept lab that exist but do not run (halted, host rebooted) are
        brought up again, without provisioning. A machine gone altogether is an error: the
        lab must be destroyed and built afresh."""
        if not self.state.applied("vms"):
            return []
        states = self.vagrant.status()
        gone = [n for n in self.cfg.nodes if states.get(n, "not_created") == "not_created"]
        if gone:
            raise LabError(
                f"the kept vagrant lab in {self.cfg.lab_dir} has lost machine(s) "
                f"{', '.join(gone)} (not created); destroy the lab (--lab-destroy=always, or "
                f"remove {self.cfg.lab_dir} after `vagrant destroy -f` with "
                f"VAGRANT_DOTFILE_PATH={self.dotfile_path}) and run again")
        stopped = [n for n in self.cfg.nodes if states.get(n) != "running"]
        for node in stopped:
            self.vagrant.up(node, provider=self.provider, provision=False)
        return [f"VM {n} (was {states.get(n)})" for n in stopped]

    def broken(self) -> list[str]:
        return []  # resume brings up what is stopped, and fails naming a machine that is gone

    def repair(self) -> list[str]:
        """Machines that exist but do not run are brought up again (no provisioning)."""
        return self.resume()

    def status(self) -> list[str]:
        states = self.vagrant.status() if self.dotfile_path.is_dir() else {}
        lines = [f"VM {n:<14} {states.get(n, 'not_created')}" for n in self.cfg.nodes]
        return lines + self.engine.status()

    def fail_fast(self) -> None:
        if self._has_kubeconfig():
            self.engine.fail_fast()

    def diagnostics(self) -> str:
        parts = []
        try:
            states = self.vagrant.status()
            parts.append("== vagrant status\n" + "\n".join(f"{n}: {s}" for n, s in states.items()))
        except LabError as exc:
            parts.append(f"== vagrant status\n(failed: {exc})")
        if self._has_kubeconfig():
            parts.append(self.engine.diagnostics())
        return "\n".join(parts)

    # ------------------------------------------------------------------ teardown
    def destroy(self) -> list[str]:
        """``vagrant destroy -f`` of this lab's machines (the Vagrant state in the lab dir),
        then the lab dir is removed. Nothing outside the lab dir is touched."""
        destroyed: list[str] = []
        if self.dotfile_path.is_dir():          # no dotfile dir: no machine was ever created
            before = self.vagrant.status()
            self.vagrant.destroy()
            destroyed = [f"VM {n}" for n, s in before.items() if s != "not_created"]
        self._kube = None
        shutil.rmtree(self.cfg.lab_dir, ignore_errors=False)
        return destroyed

    def describe(self) -> str:
        return (f"{len(self.cfg.nodes)} VMs from {self.root / 'Vagrantfile'} (provider "
                f"{self.provider}, Vagrant state in {self.dotfile_path}); kubeconfig "
                f"{self.kubeconfig_path}; stages applied: "
                f"{', '.join(self.state.applied_slugs()) or 'none'}")
