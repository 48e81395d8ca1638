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

from ..ceph import CephRunner, ToolboxCeph
from ..errors import ConfigError, LabError
from ..model import NODES
from ..stages import Stage
from ..targets import Target
from ..waits import wait_for
from . import checks, cluster_config, preflight
from . import manifests as m
from .cluster_services import KubeServices
from .kube import Kube, kubeconfig_paths
from .objects import crush_host_name
from .plan_build import build, by_stage
from .plan_ops import StagePlan

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
NEVER_DELETE = frozenset({"Node", "Namespace", "CustomResourceDefinition"})
APP_LABELS = ("minio", "mysql", "ghost", "cephfs-helper")
RECORD_KEY = "k8s_applied"


class ClusterTarget(KubeServices, Target):
    name = "cluster"
    supported = frozenset({"dashboard", "rook_operator", "ceph_cluster", "ceph_dashboard",
                           "block_pool", "shared_filesystem", "object_store", "extend_storage",
                           "toolbox", "pg_num", "remove_node", "minio", "mysql", "ghost"})

    def __init__(self, cfg, state):
        super().__init__(cfg, state)
        self._kube: Optional[Kube] = None
        self._config: Optional[cluster_config.ClusterConfig] = None
        self._plans: Optional[dict[Stage, StagePlan]] = None

    @classmethod
    def skip_reason(cls, stage: Stage) -> Optional[str]:
        if stage.slug in PROVIDED:
            return f"stage {stage.slug} is not run: {PROVIDED[stage.slug]}"
        return super().skip_reason(stage)

    def refusal(self, stage: Stage) -> Optional[str]:
        """Why this run must not apply ``stage`` (None: it may)."""
        if stage.destructive and not self.cfg.allow_destructive:
            return (f"stage {stage.slug} removes storage and wipes disks of node "
                    f"{self.config.names[0] if self._config else 'k8s-1'}; on an existing "
                    f"cluster it runs only with --lab-allow-destructive=yes")
        return None

    def applicable(self, stage: Stage) -> bool:
        return self.skip_reason(stage) is None and self.refusal(stage) is None

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

    @property
    def node_map(self) -> dict[str, str]:
        return self.config.node_map()

    def node_address(self, lab_node: str) -> str:
        """The address the lab reaches ``lab_node`` at: the configured one, else its InternalIP."""
        name = self.node_map[lab_node]
        for n in self.config.nodes:
            if n.name == name and n.address:
                return n.address
        node = self.kube.get_json("Node", name)
        ip = checks.node_internal_ip(node or {})
        if not ip:
            raise LabError(f"node {name} reports no InternalIP")
        return ip

    def hostname_label(self, name: str) -> str:
        """The node's kubernetes.io/hostname label (Rook's CRUSH host comes from it)."""
        node = self.kube.get_json("Node", name) or {}
        return ((node.get("metadata") or {}).get("labels") or {}).get("kubernetes.io/hostname", name)

    def crush_host(self, lab_node: str) -> str:
        # Rook names CRUSH hosts after the node's hostname label, "." replaced by "-"
        return crush_host_name(self.hostname_label(self.node_map[lab_node]))

    def expected_address(self, lab_node: str) -> Optional[str]:
        name = self.node_map[lab_node]
        return next((n.address for n in self.config.nodes if n.name == name), None)

    @property
    def ceph(self) -> CephRunner:
        return ToolboxCeph(self.kube.kubeconfig, self.kube.context, namespace=m.ROOK_NS,
                           deployment=m.TOOLBOX)

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
        for check in (lambda: checks.assert_nodes_ready(nodes, conf.names),
                      lambda: checks.assert_internal_ips(
                          nodes, {n.name: n.address for n in conf.nodes if n.address})):
            try:
                check()
            except AssertionError as exc:
                problems.append(str(exc))
        by_name = checks.nodes_by_name(nodes)
        for name in conf.names:
            try:
                if name in by_name:
                    checks.assert_no_taint(by_name[name])
            except AssertionError as exc:
                problems.append(f"{exc} (Rook's daemons must schedule on every storage node)")
        if problems:
            raise ConfigError(f"cluster config {conf.path} does not fit {kube.where()} "
                              f"(Kubernetes {version}): " + "; ".join(problems))

    # ------------------------------------------------------------------ the plan, adapted
    def plans(self) -> dict[Stage, StagePlan]:
        """The cluster plan for this cluster's nodes, devices and first-node address (all
        passed in when the plan is built)."""
        if self._plans is None:
            conf = self.config
            params = conf.plan_parameters()
            params["address"] = self.node_address(NODES[0])   # clients reach the lab at k8s-1
            params["hostnames"] = {n: self.hostname_label(n) for n in conf.names}
            self._plans = by_stage(build("cluster", conf.names, m.generate_secrets(), **params))
        return self._plans

    def apply(self, stage: Stage) -> None:
        reason = self.skip_reason(stage) or self.refusal(stage)
        if reason:
            raise LabError(f"cannot apply stage {stage.slug}: {reason}")
        self.run_plan(stage)

    def run_plan(self, stage: Stage) -> None:
        """Run this target's plan of ``stage``, op by op (:mod:`.engine`)."""
        from .engine import Engine

        engine = Engine(self.runner_kube(), self.cfg.lab_dir / "work", fail_fast=self.fail_fast,
                        record=lambda obj, created: self._record(stage, obj, created),
                        say=lambda text: log.info("[%s] %s", stage.slug, text),
                        timeout_scale=self.cfg.timeouts.command / 60.0,
                        env=self.runner_env())
        engine.run(self.plans()[stage])

    # hooks for targets that share this engine (the vagrant target)
    def runner_kube(self) -> Kube:
        """The cluster the plan's lines act on."""
        return self.kube

    def runner_env(self) -> dict[str, str]:
        """Extra environment of the plan's shell lines."""
        return {}

    def _record(self, stage: Stage, obj: dict, created: bool) -> None:
        meta = obj["metadata"]
        ref = {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "name": meta["name"],
               "namespace": meta.get("namespace"), "stage": stage.slug, "created": created}
        refs = self.state.get(RECORD_KEY, [])
        if any(_same(r, ref) for r in refs):
            return
        refs.append(ref)
        self.state.put(RECORD_KEY, refs)

    # ------------------------------------------------------------------ failing fast
    def fail_fast(self) -> None:
        try:
            pods = self.kube.get_json("Pod", namespace=m.ROOK_NS)
            pods += [p for p in self.kube.get_json("Pod", namespace=m.APPS_NS)
                     if ((p.get("metadata") or {}).get("labels") or {}).get("app") in APP_LABELS]
            jobs = self.kube.get_json("Job", namespace=m.ROOK_NS,
                                      label_selector="app=rook-ceph-osd-prepare")
        except Exception as exc:  # an API hiccup must not end a wait; the probe will see it
            log.debug("fail_fast could not read the cluster: %s", exc)
            return
        found = checks.terminal_pod_states(pods)
        if found:
            ns, _, pod = found[0][0].rpartition("/")
            tail = self.kube.pod_log(pod, ns, found[0][1], tail=20,
                                     previous=found[0][2] == "CrashLoopBackOff")
            checks.assert_no_terminal_pod_state(pods, tail)
        for job in jobs:
            if checks.job_failed(job):
                name = job["metadata"]["name"]
                pod = next((p for p in pods if (p["metadata"].get("labels") or {}).get("job-name") == name), None)
                tail = self.kube.pod_log(pod["metadata"]["name"], m.ROOK_NS, "provision", tail=25) if pod else ""
                checks.assert_job_not_failed(job, tail, "provision")

    def diagnostics(self) -> str:
        from .diagnostics import collect

        return collect(self)

    # ------------------------------------------------------------------ teardown
    def destroy(self) -> list[str]:
        """Delete, newest first, the objects the harness created; never nodes, namespaces or
        CRDs. With --lab-allow-destructive the CephCluster is first told to wipe its hosts'
        data and disks (Rook's cleanup policy)."""
        refs = [r for r in self.state.get(RECORD_KEY, []) if r.get("created")]
        deleted = []
        for ref in reversed(refs):
            if ref["kind"] in NEVER_DELETE:
                log.warning("not deleting %s %s: the harness never deletes %ss",
                            ref["kind"], ref["name"], ref["kind"])
                continue
            if ref["kind"] == "CephCluster" and self.cfg.allow_destructive:
                self.kube.merge_patch(ref, {"spec": {"cleanupPolicy": {
                    "confirmation": "yes-really-destroy-data",
                    "sanitizeDisks": {"method": "quick", "dataSource": "zero", "iteration": 1}}}})
            if self.kube.delete(ref):
                deleted.append(_label(ref))
        if deleted:
            wait_for(f"{len(deleted)} deleted objects to be gone", lambda: self._gone(refs),
                     timeout=600 * self.cfg.timeouts.command / 60.0, interval=5)
        if self.state.path.exists():
            self.state.path.unlink()
        shutil.rmtree(self.cfg.lab_dir / "work", ignore_errors=True)
        return deleted

    def _gone(self, refs: list[dict]) -> None:
        left = [_label(r) for r in refs if r["kind"] not in NEVER_DELETE and self.kube.get_json(
            r["kind"], r["name"], r.get("namespace"), api_version=r["apiVersion"]) is not None]
        assert not left, f"still present: {', '.join(left)}"

    def describe(self) -> str:
        where = self._kube.where() if self._kube else f"kubeconfig {self.cfg.kubeconfig}"
        refs = self.state.get(RECORD_KEY, [])
        return (f"existing cluster ({where}); {sum(1 for r in refs if r.get('created'))} objects "
                f"created by the harness; toolbox: {self.ceph.describe() if self._kube else 'n/a'} status")


def _same(a: dict, b: dict) -> bool:
    return all(a.get(k) == b.get(k) for k in ("apiVersion", "kind", "name", "namespace"))


def _label(ref: dict) -> str:
    return f"{ref['kind']} {ref['namespace'] + '/' if ref.get('namespace') else ''}{ref['name']}"
