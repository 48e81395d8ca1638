"""The plan checker: replays a lab's typed plan against a model of what exists.

It walks the stages in order, each stage twice (the second walk is the same plan run again
on what the first left), keeping the objects, CRDs, node files and Ceph pools that exist
after each step. It fails, naming stage, step and object, when

- a step uses what nothing earlier created: exec/rollout/wait/scale on a workload, a CR
  before its CRD, a namespaced object before its namespace, a PVC's StorageClass or volume,
  a PV's or StorageClass's secret, a pod's Secret, ConfigMap or claim, a Service account a
  token is made for, a curl to a NodePort no Service opens; a stage whose Ceph checks run in
  the toolbox while no toolbox exists (objects made by others: :mod:`.made_by_others`);
- a Service selects no pod template, two Services claim one NodePort, or a NodePort lies
  outside 30000-32767;
- an image is not pinned to a tag or digest, or pins a version that is not the one in
  :mod:`.versions` (a second place pinning a version);
- a step is not safe to run twice: ``kubeadm init`` on a node with admin.conf, ``kubeadm
  join`` on a joined node, ``kubectl create`` of an existing object, ``ceph osd pool
  create`` of an existing pool with other arguments.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence
from urllib.parse import urlsplit

from .. import versions
from . import made_by_others
from .objects import ROOK_NS, TOOLBOX, Obj
from .plan_ops import (Apply, ApplyUrl, Delete, Exec, FetchKubeconfig, HelmInstall, HttpCheck,
                       KubeadmJoin, Kubectl, Note, NodeScript, Ref, RemoveOsds, Rollout, Scale,
                       Ssh, StagePlan, Taint, Toolbox, VagrantUp, WaitCount, WaitNodesReady,
                       WaitPhase)

ADMIN_CONF = "/etc/kubernetes/admin.conf"
KUBELET_CONF = "/etc/kubernetes/kubelet.conf"
#: the API server's default --service-node-port-range
_LOW, _HIGH = map(int, "30000-32767".split("-"))
NODE_PORT_RANGE = range(_LOW, _HIGH + 1)
CLUSTER_SCOPED = frozenset({"Namespace", "Node", "PersistentVolume", "StorageClass",
                            "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition"})
WORKLOADS = frozenset({"Deployment", "DaemonSet", "StatefulSet", "Pod", "Job"})
#: Operations the model has nothing to check for, each on purpose: nodes exist from the
#: start (taints, node waits), VMs are outside the API, a count is only waited for, a note
#: is a comment, and a node script acts on a disk the model does not hold. Any other
#: operation without an ``op_<Type>`` method is refused: a new type must be modelled.
UNMODELLED = frozenset({WaitNodesReady, WaitCount, Taint, VagrantUp, NodeScript, Note})
#: kubectl's resource names -> kinds (``kubectl create configmap`` …)
KUBECTL_KINDS = {k.lower(): k for k in ("ConfigMap", "Secret", "Namespace", "ServiceAccount",
                                         "Deployment", "Job")} | {"cm": "ConfigMap", "ns": "Namespace",
                                                                  "sa": "ServiceAccount"}
_PINNED = re.compile(r"^[^@\s]+(@sha256:[0-9a-f]{64}|:[^:/@\s]+)$")


class PlanCheckError(ValueError):
    """The plan fails the checker; ``problems`` lists each finding."""

    def __init__(self, problems: Sequence[str]):
        self.problems = list(problems)
        super().__init__(f"the plan fails {len(self.problems)} check(s):\n- " + "\n- ".join(self.problems))


@dataclass
class Model:
    """What exists in the cluster and on its nodes after the steps replayed so far."""
    objects: dict[Ref, Mapping[str, str]] = field(default_factory=dict)   #: ref -> pod labels
    node_files: dict[str, set[str]] = field(default_factory=dict)
    pools: dict[str, tuple[str, ...]] = field(default_factory=dict)
    node_ports: dict[int, Ref] = field(default_factory=dict)

    def add(self, made: Iterable[made_by_others.Made]) -> None:
        for m in made:
            self.objects.setdefault(m.ref, dict(m.pod_labels))

    def has(self, ref: Ref) -> bool:
        return ref in self.objects

    def selects(self, selector: Mapping[str, str]) -> bool:
        return any(labels and all(labels.get(k) == v for k, v in selector.items())
                   for labels in self.objects.values())


class Checker:
    def __init__(self, target: str):
        self.target = target
        self.model = Model()
        self.model.add(made_by_others.CLUSTER_BASE)
        self.problems: list[str] = []
        self.where = ""
        self.second = False
        self.pinned = {v for k, v in versions.ALL.items() if k.endswith("_image")}
        self.tags: dict[str, tuple[str, str]] = {}     # image repository -> (tag, where)

    # ------------------------------------------------------------------ reporting
    def fail(self, what: str, twice: bool = False) -> None:
        """Record a problem. On the second walk of a stage only what fails *because* it ran
        before (``twice``) is new; everything else was reported by the first walk."""
        if self.second and not twice:
            return
        text = f"{self.where}: {what}"
        if self.second:
            text = f"{self.where} (the stage run a second time): not safe to run twice: {what}"
        if text not in self.problems:
            self.problems.append(text)

    def need(self, ref: Ref, use: str) -> None:
        if not self.model.has(ref):
            self.fail(f"{ref}: {use}, but nothing earlier creates it")

    # ------------------------------------------------------------------ the walk
    def stage(self, plan: StagePlan) -> None:
        for self.second in (False, True):
            for i, op in enumerate(plan.ops, 1):
                first_line = op.render().splitlines()[-1] if op.render() else type(op).__name__
                self.where = f"stage {plan.slug}, step {i} ({first_line[:90]})"
                self.check(op)
            if not self.second and not plan.stage.kubernetes:
                self.where = f"stage {plan.slug}, its Ceph checks"
                self.need(Ref("Deployment", TOOLBOX, ROOK_NS),
                          "the stage's Ceph checks run `kubectl exec` in the Rook toolbox")

    def check(self, op) -> None:
        handler = getattr(self, "op_" + type(op).__name__, None)
        if handler is not None:
            handler(op)
        elif type(op) not in UNMODELLED:
            raise TypeError(f"the plan checker has no model of {type(op).__name__} "
                            f"(add op_{type(op).__name__} or list it in UNMODELLED)")

    # ------------------------------------------------------------------ objects
    def op_Apply(self, op: Apply) -> None:
        obj, ref = op.obj, op.ref
        kind = obj["kind"]
        if kind not in CLUSTER_SCOPED:
            if not ref.namespace:
                self.fail(f"{ref}: a namespaced {kind} without a namespace")
            else:
                self.need(Ref("Namespace", ref.namespace), f"{ref} lives in it")
        if kind in made_by_others.CRD_OF_KIND:
            self.need(Ref("CustomResourceDefinition", made_by_others.CRD_OF_KIND[kind]),
                      f"{ref} is an instance of it")
        check = getattr(self, "obj_" + kind, None)
        if check:
            check(obj, ref)
        if kind in WORKLOADS:
            self.pod_spec(obj, ref)
        labels = _pod_labels(obj)
        self.model.objects[ref] = labels
        if kind in made_by_others.CRD_OF_KIND and self.model.has(
                Ref("Deployment", "rook-ceph-operator", ROOK_NS)):
            self.model.add(made_by_others.made_by(obj))

    def obj_PersistentVolumeClaim(self, obj: Obj, ref: Ref) -> None:
        spec = obj.get("spec") or {}
        if spec.get("storageClassName"):
            self.need(Ref("StorageClass", spec["storageClassName"]), f"{ref} asks for it")
        if spec.get("volumeName"):
            self.need(Ref("PersistentVolume", spec["volumeName"]), f"{ref} binds it")

    def obj_PersistentVolume(self, obj: Obj, ref: Ref) -> None:
        csi = (obj.get("spec") or {}).get("csi") or {}
        for key, value in csi.items():
            if key.endswith("SecretRef") and value:
                self.need(Ref("Secret", value["name"], value.get("namespace")), f"{ref} {key}")

    def obj_StorageClass(self, obj: Obj, ref: Ref) -> None:
        params = obj.get("parameters") or {}
        for key, name in params.items():
            if key.endswith("-secret-name"):
                ns = params.get(key[: -len("-name")] + "-namespace")
                self.need(Ref("Secret", name, ns), f"{ref} parameter {key}")

    def obj_Service(self, obj: Obj, ref: Ref) -> None:
        spec = obj.get("spec") or {}
        selector = spec.get("selector") or {}
        if selector and not self.model.selects(selector):
            self.fail(f"{ref}: selects no pod template of the plan "
                      f"({', '.join(f'{k}={v}' for k, v in selector.items())})")
        for port in spec.get("ports") or []:
            node_port = port.get("nodePort")
            if node_port is None:
                continue
            if node_port not in NODE_PORT_RANGE:
                self.fail(f"{ref}: NodePort {node_port} lies outside 30000-32767")
            other = self.model.node_ports.get(node_port)
            if other is not None and other != ref:
                self.fail(f"{ref}: NodePort {node_port} is claimed by {other} too")
            self.model.node_ports[node_port] = ref

    def pod_spec(self, obj: Obj, ref: Ref) -> None:
        spec = obj.get("spec") or {}
        pod = (spec.get("template") or {}).get("spec") or spec
        ns = ref.namespace
        for c in (pod.get("initContainers") or []) + (pod.get("containers") or []):
            self.image(c.get("image", ""), f"{ref} container {c.get('name')}")
            for env in c.get("env") or []:
                key = (env.get("valueFrom") or {}).get("secretKeyRef")
                if key:
                    self.need(Ref("Secret", key["name"], ns), f"{ref} reads its key {key['key']}")
        for vol in pod.get("volumes") or []:
            if "persistentVolumeClaim" in vol:
                self.need(Ref("PersistentVolumeClaim", vol["persistentVolumeClaim"]["claimName"], ns),
                          f"{ref} mounts it")
            if "secret" in vol and not vol["secret"].get("optional"):
                self.need(Ref("Secret", vol["secret"]["secretName"], ns), f"{ref} mounts it")
            if "configMap" in vol and not vol["configMap"].get("optional"):
                self.need(Ref("ConfigMap", vol["configMap"]["name"], ns), f"{ref} mounts it")

    def image(self, image: str, where: str) -> None:
        if not _PINNED.match(image):
            self.fail(f"{where}: image {image!r} is not pinned to a tag or digest")
            return
        if image not in self.pinned:
            self.fail(f"{where}: image {image!r} is pinned here, not in cephlab/versions.py")
        repo, _, tag = image.rpartition("@" if "@" in image else ":")
        seen = self.tags.setdefault(repo, (tag, where))
        if seen[0] != tag:
            self.fail(f"{where}: {repo} pinned at {tag}, but at {seen[0]} in {seen[1]}")

    def op_ApplyUrl(self, op: ApplyUrl) -> None:
        made = made_by_others.url_objects(op.url)
        if made is None:
            self.fail(f"manifest {op.url}: not a pinned upstream manifest the plan knows")
            return
        for m in made:
            if m.ref.namespace:
                self.need(Ref("Namespace", m.ref.namespace), f"{op.url} creates {m.ref} in it")
        self.model.add(made)

    op_ApplyUrlEdited = op_ApplyUrl

    def op_HelmInstall(self, op: HelmInstall) -> None:
        if versions.DASHBOARD_CHART_URL != op.chart and not op.chart.endswith(versions.DASHBOARD_CHART):
            self.fail(f"chart {op.chart}: not the pinned chart")
        self.model.add(made_by_others.FROM_HELM.get(op.release, ()))

    # ------------------------------------------------------------------ uses
    def op_WaitPhase(self, op: WaitPhase) -> None:
        self.need(op.ref, "waited for")

    op_WaitCondition = op_WaitPhase

    def op_Rollout(self, op: Rollout) -> None:
        self.need(op.ref, "its rollout waited for")

    def op_Scale(self, op: Scale) -> None:
        self.need(op.ref, "scaled")

    def op_Exec(self, op: Exec) -> None:
        self.need(op.ref, "a command runs in it")

    def op_Toolbox(self, op: Toolbox) -> None:
        self.need(op.ref, f"`{op.tool} {' '.join(op.argv)}` runs in it")
        if op.tool == "ceph" and op.argv[:3] == ("osd", "pool", "create"):
            pool, args = op.argv[3], tuple(op.argv[4:])
            if pool in self.model.pools and self.model.pools[pool] != args:
                self.fail(f"Ceph pool {pool}: created again with other arguments "
                          f"({' '.join(args)} after {' '.join(self.model.pools[pool])}); "
                          "Ceph keeps the first and says nothing", twice=True)
            self.model.pools.setdefault(pool, args)

    def op_Delete(self, op: Delete) -> None:
        for ref in [r for r in self.model.objects if r.kind == op.kind and r.namespace == op.namespace
                    and (op.name is None or r.name == op.name)]:
            if op.name is not None:
                del self.model.objects[ref]

    def obj_CephCluster(self, obj: Obj, ref: Ref) -> None:
        storage = (obj.get("spec") or {}).get("storage") or {}
        for device_set in storage.get("storageClassDeviceSets") or []:
            for claim in device_set.get("volumeClaimTemplates") or []:
                spec = claim.get("spec") or {}
                where = f"{ref} device set {device_set.get('name')}"
                if spec.get("storageClassName"):
                    self.need(Ref("StorageClass", spec["storageClassName"]), f"{where} claims from it")
                if spec.get("volumeName"):
                    self.need(Ref("PersistentVolume", spec["volumeName"]), f"{where} binds it")

    def op_RemoveOsds(self, op: RemoveOsds) -> None:
        self.need(Ref("Deployment", TOOLBOX, ROOK_NS), "the OSDs are removed through it")
        self.need(Ref("CephCluster", "rook-ceph", ROOK_NS), "its OSDs are removed")

    def op_Kubectl(self, op: Kubectl) -> None:
        argv = list(op.argv)
        ns = argv[argv.index("-n") + 1] if "-n" in argv else "default"
        if "create" not in argv:
            return
        rest = [a for a in argv[argv.index("create") + 1:] if not a.startswith("-")]
        if rest[:1] == ["token"]:
            self.need(Ref("ServiceAccount", rest[1], ns), "a token is made for it")
            return
        if len(rest) >= 2:
            kind = KUBECTL_KINDS.get(rest[0], rest[0].capitalize())
            ref = Ref(kind, rest[1], None if kind in CLUSTER_SCOPED else ns)
            if self.model.has(ref):
                self.fail(f"{ref}: `kubectl create` of an object that exists fails (AlreadyExists)",
                          twice=True)
            self.model.objects[ref] = {}

    def op_HttpCheck(self, op: HttpCheck) -> None:
        port = urlsplit(op.url).port
        if port is not None and port not in self.model.node_ports:
            self.fail(f"{op.url}: no Service of the plan opens NodePort {port}")

    # ------------------------------------------------------------------ hosts
    def _files(self, node: str) -> set[str]:
        return self.model.node_files.setdefault(node, set())

    def op_Ssh(self, op: Ssh) -> None:
        files = self._files(op.node)
        if op.unless_exists and op.unless_exists in files:
            return
        if tuple(op.argv[:2]) == ("kubeadm", "init"):
            if ADMIN_CONF in files:
                self.fail(f"node {op.node}: `kubeadm init` where {ADMIN_CONF} exists fails its "
                          "preflight (guard it on that file, or reset first)", twice=True)
            files.update({ADMIN_CONF, KUBELET_CONF})
            self.model.add(made_by_others.CLUSTER_BASE)
        elif tuple(op.argv[:2]) == ("kubeadm", "join"):
            self._join(op.node)

    def _join(self, node: str) -> None:
        files = self._files(node)
        if KUBELET_CONF in files:
            self.fail(f"node {node}: `kubeadm join` where {KUBELET_CONF} exists fails its "
                      "preflight (guard it on that file)", twice=True)
        files.add(KUBELET_CONF)

    def op_KubeadmJoin(self, op: KubeadmJoin) -> None:
        if ADMIN_CONF not in self._files(op.first):
            self.fail(f"node {op.first}: a join command is asked of a node where no "
                      "`kubeadm init` ran")
        for node in op.nodes:
            if op.guard and op.guard in self._files(node):
                continue
            self._join(node)

    def op_FetchKubeconfig(self, op: FetchKubeconfig) -> None:
        if op.path not in self._files(op.node):
            self.fail(f"node {op.node}: {op.path} is read before `kubeadm init` made it")


def _pod_labels(obj: Obj) -> dict[str, str]:
    if obj["kind"] == "Pod":
        return dict((obj.get("metadata") or {}).get("labels") or {})
    if obj["kind"] in WORKLOADS:
        return dict((((obj.get("spec") or {}).get("template") or {}).get("metadata") or {})
                    .get("labels") or {})
    return {}


def findings(plans: Sequence[StagePlan], target: str) -> list[str]:
    """Every problem of the plan, in the order met (empty: the plan passes)."""
    checker = Checker(target)
    for plan in plans:
        checker.stage(plan)
    return checker.problems


def check_plan(plans: Sequence[StagePlan], target: str) -> None:
    """Raise :class:`PlanCheckError` listing every problem of the plan."""
    problems = findings(plans, target)
    if problems:
        raise PlanCheckError(problems)
