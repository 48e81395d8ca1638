"""What the two Kubernetes targets (vagrant, cluster) have in common as targets: a
Kubernetes API, the Rook toolbox as the lab's Ceph runner, and the lab's services, all
through the parts each composes (:class:`cephlab.k8s.kube_engine.KubeEngine` as
``self.engine``, :class:`cephlab.k8s.kube_services.KubeServices` as ``self.services``).
Each target builds those parts in its own ``__init__``; this base only forwards to them.
"""

from __future__ import annotations

import os
import re
from abc import abstractmethod
from pathlib import Path
from typing import Optional

from ..ceph import CephRunner
from ..errors import CommandError, LabError
from ..stages import Stage
from ..targets import Target
from .kube_services import KubeServices
from .kube import Kube
from .kube_engine import KubeEngine


class KubeTarget(Target):
    has_kubernetes = True
    engine: KubeEngine
    services: KubeServices

    @property
    @abstractmethod
    def kube(self) -> Kube:
        """The lab's Kubernetes API (each target says how it reaches it)."""

    def kube_api(self) -> Kube:
        return self.kube

    @property
    def ceph(self) -> CephRunner:
        return self.engine.ceph()

    # ------------------------------------------------------------------ services
    def endpoint(self, service: str) -> tuple[str, int]:
        return self.services.endpoint(service)

    def credentials(self, service: str) -> dict[str, str]:
        return self.services.credentials(service)

    def restart(self, service: str) -> None:
        self.services.restart(service)

    def block_volume(self, service: str) -> tuple[str, str]:
        return self.services.block_volume(service)


#: a kubeadm bootstrap token, as printed by `kubeadm init` / `token create --print-join-command`
_TOKEN = re.compile(r"(--token[ =])\S+")


def scrub_tokens(text: str) -> str:
    return _TOKEN.sub(r"\1***", text or "")


class MadeCluster(KubeTarget):
    """A Kubernetes target whose cluster its own plan makes (kubeadm on machines of the
    lab's: the vagrant and nodes targets). Stage kubernetes fetches the admin kubeconfig into
    the lab dir (``<lab_dir>/kubeconfig``, mode 0600); every Kubernetes client of the lab
    uses it, and before it exists the plan's lines run with KUBECONFIG set to where it will
    be."""

    KUBECONFIG = "kubeconfig"
    _kube: Optional[Kube] = None

    @property
    def kubeconfig_path(self) -> Path:
        return self.cfg.lab_dir / self.KUBECONFIG

    @property
    def kube(self) -> Kube:
        if self._kube is None:
            if not self._has_kubeconfig():
                raise LabError(f"the {self.name} lab has no kubeconfig yet "
                               f"({self.kubeconfig_path}); stage kubernetes fetches it from "
                               f"the first node")
            self._kube = Kube.connect(str(self.kubeconfig_path), None)  # kubeadm's admin context
        return self._kube

    def _has_kubeconfig(self) -> bool:
        path = self.kubeconfig_path
        return path.is_file() and path.stat().st_size > 0

    def runner_kube(self) -> Kube:
        return self.kube if self._has_kubeconfig() else Kube(str(self.kubeconfig_path), None)

    def _new_kubeconfig(self) -> None:
        """Before stage kubernetes writes it: the file exists, mode 0600, before anything
        secret is written into it; a client of an older one is dropped."""
        self.cfg.lab_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.kubeconfig_path, os.O_WRONLY | os.O_CREAT, 0o600)
        os.close(fd)
        self._kube = None

    def run_plan(self, stage: Stage) -> None:
        """The stage's plan through the engine; a failed command's text never shows a
        bootstrap token (kubeadm prints them)."""
        try:
            self.engine.run_plan(stage)
        except CommandError as exc:
            raise CommandError([scrub_tokens(a) for a in exc.argv], exc.rc,
                               scrub_tokens(exc.stdout), scrub_tokens(exc.stderr)) from None
