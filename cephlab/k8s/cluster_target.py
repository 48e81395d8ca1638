"""The cluster target: the lab's stages on an existing Kubernetes cluster (a kubeconfig).

It never creates or destroys nodes. The nodes and their data devices come from the cluster
config file (:mod:`cephlab.k8s.cluster_config`); stages that remove storage run only with
``--lab-allow-destructive``. What the harness applies is recorded in the lab state and is
all that ``destroy`` removes.
"""

from __future__ import annotations

import logging
import shutil
from typing import Optional

from .. import invoke
from ..config import LabConfig
from ..errors import ConfigError, LabError
from ..model import SERVICE_NODE
from .. import stages
from ..stages import Stage
from .. import versions
from . import kube_checks, cluster_config, preflight
from . import manifests as m
from .kube_services import KubeServices
from .kube import Kube, kubeconfig_paths
from .kube_engine import KubeEngine
from .kube_target import KubeTarget
from .objects import crush_host_name
from .plan_build import Hosts, build, by_stage
from .plan_ops import StagePlan
from .transport import KubectlDebug

log = logging.getLogger("cephlab")

#: Stages an existing cluster has done already: they are not run, and say why.
PROVIDED = {
    "vms": "the cluster target is handed existing nodes; it never creates or destroys machines",
    "kubernetes": "the cluster target is handed an existing Kubernetes cluster (checked before "
                  "any work: its API answers and the configured nodes are registered)",
    "cni": "the existing cluster has its pod network; the configured nodes are checked Ready "
           "(with their configured address) before any work",
    "master_isolation": "the existing cluster decides its taints; the configured storage nodes "
                        "are checked to carry no NoSchedule taint before any work",
}


class ClusterTarget(KubeTarget):
    name = "cluster"
    provided = PROVIDED
    #: What the stages' Kubernetes work covers, less what the existing cluster provides.
    supported = stages.runs_on("kubernetes") - frozenset(PROVIDED)
    not_built = {"faults": "stage faults runs on the local target only (it SIGKILLs the lab's "
                           "Ceph daemons by recorded pid)"}

    def __init__(self, cfg, state):
        super().__init__(cfg, state)
        self._kube: Optional[Kube] = None
        self._config: Optional[cluster_config.ClusterConfig] = None
        self._plans: Optional[dict[Stage, StagePlan]] = None
        self.engine = KubeEngine(cfg, state, kube=lambda: self.kube, plans=self.plans)
        self.services = KubeServices(self.name, lambda: self.kube, self.node_address, cfg.lab_dir)

    @classmethod
    def refusal(cls, stage: Stage, cfg: LabConfig) -> Optional[str]:
        if stage.destructive and not cfg.allow_destructive:
            return (f"stage {stage.slug} removes storage and wipes the disks of the first "
                    f"configured node; on an existing cluster it runs only with "
                    f"--lab-allow-destructive=yes")
        return None

    def rebuild_refusal(self) -> Optional[str]:
        if not self.cfg.allow_destructive:
            return ("rebuilding deletes the Ceph cluster the harness made on this existing "
                    "cluster and wipes its disks; it runs only with --lab-allow-destructive=yes")
        return None

    # ------------------------------------------------------------------ pieces
    @property
    def kube(self) -> Kube:
        if self._kube is None:
            self._kube = Kube.connect(self.cfg.kubeconfig, self.cfg.kube_context)
        return self._kube

    @property
    def config(self) -> cluster_config.ClusterConfig:
        if self._config is None:
            self._config = cluster_config.load(self.cfg.cluster_config)
        return self._config

    def node_name(self, lab_node: str) -> str:
        return self.config.node_map()[lab_node]

    def node_address(self, lab_node: str) -> str:
        """The address the lab reaches ``lab_node`` at: the configured one, else its InternalIP."""
        name = self.node_name(lab_node)
        for n in self.config.nodes:
            if n.name == name and n.address:
                return n.address
        node = self.kube.get_json("Node", name)
        ip = kube_checks.node_internal_ip(node or {})
        if not ip:
            raise LabError(f"node {name} reports no InternalIP")
        return ip

    def hostname_label(self, name: str) -> str:
        """The node's kubernetes.io/hostname label (Rook's CRUSH host comes from it)."""
        node = self.kube.get_json("Node", name) or {}
        return ((node.get("metadata") or {}).get("labels") or {}).get("kubernetes.io/hostname", name)

    def crush_host(self, lab_node: str) -> str:
        # Rook names CRUSH hosts after the node's hostname label, "." replaced by "-"
        return crush_host_name(self.hostname_label(self.node_name(lab_node)))

    def expected_address(self, lab_node: str) -> Optional[str]:
        name = self.node_name(lab_node)
        return next((n.address for n in self.config.nodes if n.name == name), None)

    # ------------------------------------------------------------------ checks first
    def sanity_checks(self) -> None:
        if len([p for p in kubeconfig_paths(self.cfg.kubeconfig) if p.is_file()]) > 1:
            raise ConfigError(f"KUBECONFIG lists several files ({self.cfg.kubeconfig}); pass one "
                              f"file with --kubeconfig for the cluster target")
        kube = self.kube                      # kubeconfig exists, context known
        version = kube.probe_api()            # API answers
        if not shutil.which("kubectl"):
            raise ConfigError("the cluster target runs the Rook toolbox and host commands through "
                              "`kubectl`, which is not on PATH; install kubectl")
        preflight.check_cluster_host()        # helm and curl too
        conf = self.config                    # the file is valid
        try:
            nodes = kube.get_json("Node")
        except Exception as exc:
            raise ConfigError(f"cannot list nodes through {kube.where()}: {exc}") from None
        problems = []
        for check in (lambda: kube_checks.assert_nodes_ready(nodes, conf.names),
                      lambda: kube_checks.assert_internal_ips(
                          nodes, {n.name: n.address for n in conf.nodes if n.address})):
            try:
                check()
            except AssertionError as exc:
                problems.append(str(exc))
        by_name = kube_checks.nodes_by_name(nodes)
        for name in conf.names:
            try:
                if name in by_name:
                    kube_checks.assert_no_taint(by_name[name])
            except AssertionError as exc:
                problems.append(f"{exc} (Rook's daemons must schedule on every storage node)")
        if problems:
            raise ConfigError(f"cluster config {conf.path} does not fit {kube.where()} "
                              f"(Kubernetes {version}): " + "; ".join(problems))

    # ------------------------------------------------------------------ the plan, adapted
    @classmethod
    def plan_hosts(cls) -> Hosts:
        """The cluster exists; the harness has no shell on its nodes, so a node script runs
        in a privileged debug pod of the Ceph image (on every node once Rook ran)."""
        return Hosts(cls.name, KubectlDebug(versions.CEPH_IMAGE), builds_kubernetes=False)

    def plans(self) -> dict[Stage, StagePlan]:
        """The cluster plan for this cluster's nodes, devices and first-node address (all
        passed in when the plan is built)."""
        if self._plans is None:
            conf = self.config
            params = conf.plan_parameters()
            params["address"] = self.node_address(SERVICE_NODE)   # clients reach the lab at k8s-1
            params["hostnames"] = {n: self.hostname_label(n) for n in conf.names}
            self._plans = by_stage(build(self.plan_hosts(), conf.names, m.generate_secrets(), **params))
        return self._plans

    def apply(self, stage: Stage) -> None:
        self.engine.run_plan(stage)

    # ------------------------------------------------------------------ a kept lab
    def resume(self) -> list[str]:
        return []  # the cluster's own controllers keep it running

    def broken(self) -> list[str]:
        return []

    def repair(self) -> list[str]:
        return []  # Kubernetes restarts the lab's pods itself; nothing for the harness to start

    def status(self) -> list[str]:
        return self.engine.status()

    def fail_fast(self) -> None:
        self.engine.fail_fast()

    def diagnostics(self) -> str:
        return self.engine.diagnostics()

    # ------------------------------------------------------------------ teardown
    def destroy(self) -> list[str]:
        """Delete what the harness created (never nodes, namespaces or CRDs); with
        --lab-allow-destructive the CephCluster first wipes its hosts' data and disks."""
        deleted = self.engine.delete_created(wipe_disks=self.cfg.allow_destructive)
        if self.state.path.exists():
            self.state.path.unlink()
        shutil.rmtree(self.cfg.lab_dir / "work", ignore_errors=True)
        return deleted

    def describe(self) -> str:
        where = self._kube.where() if self._kube else f"kubeconfig {self.cfg.kubeconfig}"
        refs = self.engine.recorded()
        return (f"existing cluster ({where}); {sum(1 for r in refs if r.get('created'))} objects "
                f"created by the harness; toolbox: {invoke.ceph(self.cfg.lab_dir, 'status')}")
