"""What the two Kubernetes targets (vagrant, cluster) have in common as targets: a
Kubernetes API, the Rook toolbox as the lab's Ceph runner, and the lab's services, all
through the parts each composes (:class:`cephlab.k8s.kube_engine.KubeEngine` as
``self.engine``, :class:`cephlab.k8s.cluster_services.KubeServices` as ``self.services``).
Each target builds those parts in its own ``__init__``; this base only forwards to them.
"""

from __future__ import annotations

from abc import abstractmethod

from ..ceph import CephRunner
from ..targets import Target
from .cluster_services import KubeServices
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
