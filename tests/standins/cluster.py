"""A stateful stand-in for a Kubernetes API server with Rook on it, kept in one JSON file so
the in-process :class:`FakeKube` and the ``kubectl``/``curl``/``helm`` stand-ins on PATH
(:mod:`tests.standins.tools`) see the same cluster.

It refuses what the API server refuses: an object of a kind whose CRD does not exist, a
namespaced object in a namespace that does not exist, ``exec`` into a missing workload, a
server-side apply that changes a field another field manager owns (without force),
``create`` of an existing object. Rook-made objects (:mod:`cephlab.k8s.made_by_others`) appear only
when the custom resource that makes them exists and the operator Deployment runs; Ceph's
OSDs follow the CephCluster's devices, and the toolbox's ``ceph`` keeps pools and OSD states.
Controllers are instant: a Deployment is available as soon as it exists with replicas > 0.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any, Optional

from cephlab.k8s import made_by_others
from cephlab.k8s.objects import crush_host_name

CLUSTER_SCOPED = {"Namespace", "Node", "PersistentVolume", "StorageClass", "ClusterRole",
                  "ClusterRoleBinding", "CustomResourceDefinition"}
STATUS = {"CephCluster": "Ready", "CephBlockPool": "Ready", "CephFilesystem": "Ready",
          "CephObjectStore": "Ready", "ObjectBucketClaim": "Bound"}


class ApiError(Exception):
    """What the API server (or kubectl) would answer; ``code`` is kubectl's exit status."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


def _key(kind: str, name: str, namespace: Optional[str]) -> str:
    return f"{kind}|{namespace or ''}|{name}"


def _leaves(value: Any, path: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(_leaves(v, f"{path}.{k}"))
        return out
    return {path: json.dumps(value, sort_keys=True)}


class FakeCluster:
    def __init__(self, path: Path, nodes: tuple[str, ...] = (),
                 addresses: Optional[tuple[str, ...]] = None):
        self.path = Path(path)
        if self.path.exists():
            self.state = json.loads(self.path.read_text())
        else:
            self.state = {"objects": {}, "owners": {}, "osds": {}, "pools": {}, "next_osd": 0,
                          "log": []}
            for made in made_by_others.CLUSTER_BASE:
                self._put(made.ref.kind, made.ref.name, None, {})
        added = False
        for i, n in enumerate(nodes):      # nodes register once (kubeadm, or the cluster given)
            if _key("Node", n, None) not in self.state["objects"]:
                added = True
                self._put("Node", n, None, {
                    "metadata": {"name": n, "labels": {"kubernetes.io/hostname": n}},
                    "status": {"conditions": [{"type": "Ready", "status": "True"}],
                               "addresses": [{"type": "InternalIP", "address":
                                              addresses[i] if addresses else f"172.18.0.{3 + i}"}]}})
        if added or not self.path.exists():
            self.save()

    def save(self) -> None:
        # One temporary file per process: stand-ins run at once (the harness reads objects 4
        # at a time), and a shared one was moved into place half-written by another.
        tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(self.state))
        os.replace(tmp, self.path)

    # ------------------------------------------------------------------ storage
    def _put(self, kind: str, name: str, namespace: Optional[str], obj: dict) -> None:
        obj = copy.deepcopy(obj)
        obj.setdefault("apiVersion", "v1")
        obj["kind"] = kind
        meta = obj.setdefault("metadata", {})
        meta["name"] = name
        if namespace:
            meta["namespace"] = namespace
        self.state["objects"][_key(kind, name, namespace)] = obj

    def get(self, kind: str, name: str, namespace: Optional[str] = None) -> Optional[dict]:
        if kind in CLUSTER_SCOPED:
            namespace = None
        obj = self.state["objects"].get(_key(kind, name, namespace))
        return self._with_status(obj) if obj else None

    def items(self, kind: str, namespace: Optional[str] = None) -> list[dict]:
        return [self._with_status(o) for k, o in self.state["objects"].items()
                if k.split("|")[0] == kind and (namespace is None or k.split("|")[1] == namespace)]

    def exists(self, kind: str, name: str, namespace: Optional[str] = None) -> bool:
        return self.get(kind, name, namespace) is not None

    def _with_status(self, obj: dict) -> dict:
        obj = copy.deepcopy(obj)
        kind, spec = obj["kind"], obj.get("spec") or {}
        if kind in STATUS:
            obj["status"] = {"phase": STATUS[kind]}
        elif kind == "Deployment":
            n = spec.get("replicas", 1)
            obj["status"] = {"replicas": n, "updatedReplicas": n, "readyReplicas": n,
                             "availableReplicas": n}
        elif kind == "DaemonSet":
            n = len(self.items("Node"))
            obj["status"] = {"desiredNumberScheduled": n, "updatedNumberScheduled": n, "numberReady": n}
        elif kind in ("Pod", "CustomResourceDefinition", "Job"):
            cond = {"Pod": "Ready", "CustomResourceDefinition": "Established", "Job": "Complete"}[kind]
            obj["status"] = {"phase": "Running", "succeeded": 1,
                             "conditions": [{"type": cond, "status": "True"}]}
        elif kind == "PersistentVolumeClaim":
            obj["status"] = {"phase": "Bound"}
        return obj

    # ------------------------------------------------------------------ writing
    def admit(self, obj: dict) -> tuple[str, str, Optional[str]]:
        kind, meta = obj["kind"], obj["metadata"]
        ns = None if kind in CLUSTER_SCOPED else meta.get("namespace") or "default"
        crd = made_by_others.CRD_OF_KIND.get(kind)
        if crd and not self.exists("CustomResourceDefinition", crd):
            raise ApiError(f'error: resource mapping not found for name: "{meta["name"]}" '
                           f'kind: "{kind}": no matches for kind "{kind}"; ensure CRDs are '
                           "installed first")
        if ns and not self.exists("Namespace", ns):
            raise ApiError(f'Error from server (NotFound): namespaces "{ns}" not found')
        return kind, meta["name"], ns

    def apply(self, obj: dict, manager: str = "cephlab", force: bool = False) -> bool:
        """Server-side apply; True when the object did not exist before."""
        kind, name, ns = self.admit(obj)
        key = _key(kind, name, ns)
        before = self.state["objects"].get(key)
        owners = self.state["owners"].setdefault(key, {})
        fields = {p: v for p, v in _leaves({k: v for k, v in obj.items() if k != "metadata"}).items()}
        fields.update({f".metadata.labels{p}": v for p, v in _leaves(obj["metadata"].get("labels") or {}).items()})
        conflicts = [p for p, v in fields.items()
                     for other, owned in owners.items()
                     if other != manager and p in owned and owned[p] != v]
        if conflicts and not force:
            who = sorted({o for o, owned in owners.items() if o != manager and
                          any(p in owned for p in conflicts)})
            raise ApiError(f"error: Apply failed with {len(conflicts)} conflict(s): conflict with "
                           f"\"{who[0]}\": {conflicts[0]}; use --force-conflicts to take ownership")
        for other, owned in owners.items():
            if other != manager:
                for p in conflicts:
                    owned.pop(p, None)
        owners[manager] = fields
        merged = copy.deepcopy(before) if before else {}
        _merge(merged, obj)
        self._put(kind, name, ns, merged)
        self.reconcile()
        self.save()
        return before is None

    def create(self, obj: dict, manager: str = "kubectl-create") -> None:
        kind, name, ns = self.admit(obj)
        if self.exists(kind, name, ns):
            raise ApiError(f'Error from server (AlreadyExists): {kind.lower()}s "{name}" already exists')
        self.apply(obj, manager)

    def patch(self, kind: str, name: str, namespace: Optional[str], patch: dict,
              manager: str = "kubectl-patch") -> None:
        obj = self.state["objects"].get(_key(kind, name, namespace))
        if obj is None:
            raise ApiError(f'Error from server (NotFound): {kind.lower()}s "{name}" not found')
        _merge(obj, patch)
        owners = self.state["owners"].setdefault(_key(kind, name, namespace), {})
        fields = _leaves(patch)
        for owned in owners.values():
            for p in fields:
                owned.pop(p, None)
        owners.setdefault(manager, {}).update(fields)
        self.reconcile()
        self.save()

    def delete(self, kind: str, name: str, namespace: Optional[str]) -> bool:
        key = _key(kind, name, None if kind in CLUSTER_SCOPED else namespace)
        gone = self.state["objects"].pop(key, None) is not None
        self.state["owners"].pop(key, None)
        self.save()
        return gone

    def scale(self, name: str, namespace: str, replicas: int) -> None:
        if not self.exists("Deployment", name, namespace):
            raise ApiError(f'Error from server (NotFound): deployments.apps "{name}" not found')
        self.patch("Deployment", name, namespace, {"spec": {"replicas": replicas}}, "kubectl-scale")

    def add_provided(self, made) -> None:
        for m in made:
            if not self.exists(m.ref.kind, m.ref.name, m.ref.namespace):
                if m.ref.namespace and not self.exists("Namespace", m.ref.namespace):
                    raise ApiError(f'Error from server (NotFound): namespaces "{m.ref.namespace}" not found')
                body: dict = {"metadata": {"labels": dict(m.pod_labels)}}
                if m.ref.kind == "Deployment":
                    body["spec"] = {"replicas": 1, "template": {"metadata": {"labels": dict(m.pod_labels)}}}
                self._put(m.ref.kind, m.ref.name, m.ref.namespace, body)
        self.reconcile()
        self.save()

    # ------------------------------------------------------------------ Rook
    def operator_runs(self) -> bool:
        op = self.get("Deployment", "rook-ceph-operator", "rook-ceph")
        return bool(op) and (op.get("spec") or {}).get("replicas", 1) > 0

    def reconcile(self) -> None:
        """What Rook's operator makes from the CRs that exist, while it runs."""
        if not self.operator_runs():
            return
        for obj in list(self.state["objects"].values()):
            if obj["kind"] not in made_by_others.CRD_OF_KIND:
                continue
            for m in made_by_others.made_by(obj):
                if "*" in m.ref.name or self.exists(m.ref.kind, m.ref.name, m.ref.namespace):
                    continue
                body: dict = {"metadata": {"labels": dict(m.pod_labels)}}
                if m.ref.kind == "Deployment":
                    body["spec"] = {"replicas": 1, "template": {"metadata": {"labels": dict(m.pod_labels)}}}
                self._put(m.ref.kind, m.ref.name, m.ref.namespace, body)
            if obj["kind"] == "CephCluster":
                self._osds(obj)

    def _osds(self, cluster: dict) -> None:
        """One OSD per (node, device) of the spec that has none yet (Rook's prepare jobs)."""
        osds = self.state["osds"]
        storage = cluster["spec"]["storage"]
        # device sets of local volumes: one OSD each, on the set's node (named <node>-<device>)
        nodes = storage.get("nodes") or [
            {"name": s["name"].rsplit("-", 1)[0], "devices": [{"name": s["name"].rsplit("-", 1)[1]}]}
            for s in storage.get("storageClassDeviceSets") or []]
        for node in nodes:
            obj = self.state["objects"].get(_key("Node", node["name"], None)) or {}
            label = ((obj.get("metadata") or {}).get("labels") or {}).get("kubernetes.io/hostname")
            host = crush_host_name(label or node["name"])      # as Rook names the CRUSH host
            for dev in node["devices"]:
                if any(o["host"] == host and o["device"] == dev["name"] for o in osds.values()):
                    continue
                i = str(self.state["next_osd"])
                self.state["next_osd"] += 1
                osds[i] = {"host": host, "device": dev["name"], "up": True, "in": True}
                if host not in self.state.setdefault("crush_hosts", []):
                    self.state["crush_hosts"].append(host)    # a CRUSH bucket until `osd crush rm`
                labels = {"app": "rook-ceph-osd", "ceph-osd-id": i}
                self._put("Deployment", f"rook-ceph-osd-{i}", "rook-ceph", {
                    "metadata": {"labels": labels},
                    "spec": {"replicas": 1, "template": {"metadata": {"labels": labels}}}})

    def osd_pods(self, osd_id: str) -> list[dict]:
        d = self.get("Deployment", f"rook-ceph-osd-{osd_id}", "rook-ceph")
        if not d or (d.get("spec") or {}).get("replicas", 1) == 0:
            return []
        return [{"kind": "Pod", "metadata": {"name": f"rook-ceph-osd-{osd_id}-pod", "namespace": "rook-ceph",
                                             "labels": {"app": "rook-ceph-osd", "ceph-osd-id": osd_id}},
                 "status": {"phase": "Running"}}]


def _merge(into: dict, patch: dict) -> None:
    for k, v in patch.items():
        if isinstance(v, dict) and isinstance(into.get(k), dict):
            _merge(into[k], v)
        elif v is None:
            into.pop(k, None)
        else:
            into[k] = copy.deepcopy(v)


class FakeKube:
    """The :class:`cephlab.k8s.kube.Kube` interface over a :class:`FakeCluster` (in process)."""

    def __init__(self, cluster: FakeCluster, kubeconfig: str = "/fake/kubeconfig",
                 context: Optional[str] = "lab-ctx"):
        self.cluster, self.kubeconfig, self.context = cluster, kubeconfig, context
        self.calls: list[tuple] = []
        self.pods: list[dict] = []       #: extra pods a test plants (e.g. one stuck pulling)

    def where(self) -> str:
        return f"context {self.context!r} in kubeconfig {self.kubeconfig}"

    def probe_api(self, timeout: float = 5.0) -> str:
        return "v1.34.9"

    def _reload(self) -> FakeCluster:
        self.cluster = FakeCluster(self.cluster.path)   # the kubectl stand-in may have written
        return self.cluster

    def exists(self, obj: dict) -> bool:
        meta = obj["metadata"]
        return self._reload().exists(obj["kind"], meta["name"], meta.get("namespace"))

    def apply(self, obj: dict) -> bool:
        meta = obj["metadata"]
        self.calls.append(("apply", obj["kind"], meta.get("namespace"), meta["name"]))
        try:
            return self._reload().apply(obj, "cephlab", force=True)
        except ApiError as exc:
            raise RuntimeError(str(exc)) from None

    def create_if_absent(self, obj: dict) -> bool:
        if self.exists(obj):
            return False
        meta = obj["metadata"]
        self.calls.append(("create", obj["kind"], meta.get("namespace"), meta["name"]))
        self.cluster.create(obj, "cephlab")
        return True

    def delete(self, ref: dict) -> bool:
        self.calls.append(("delete", ref["kind"], ref.get("namespace"), ref["name"]))
        return self._reload().delete(ref["kind"], ref["name"], ref.get("namespace"))

    def merge_patch(self, ref: dict, patch: dict) -> None:
        self.calls.append(("patch", ref["kind"], ref["name"], patch))
        self._reload().patch(ref["kind"], ref["name"], ref.get("namespace"), patch, "cephlab")

    def pod_log(self, name, namespace, container=None, **kw) -> str:
        return f"last lines of {name}/{container}"

    def secret_value(self, name: str, namespace: str, key: str) -> str:
        obj = self._reload().get("Secret", name, namespace)
        if obj is None:
            raise RuntimeError(f"secret {namespace}/{name} not found")
        return (obj.get("stringData") or {})[key]

    def get_json(self, kind, name=None, namespace=None, *, label_selector=None, api_version=None):
        cluster = self._reload()
        if name is not None:
            return cluster.get(kind, name, namespace)
        items = cluster.items(kind, None if kind in CLUSTER_SCOPED else namespace)
        if kind == "Pod":
            items += [p for p in self.pods if p["metadata"].get("namespace") == namespace]
            if label_selector and label_selector.startswith("ceph-osd-id="):
                items += cluster.osd_pods(label_selector.split("=", 1)[1])
        if label_selector:
            wanted = dict(pair.split("=", 1) for pair in label_selector.split(","))
            items = [i for i in items if all(((i.get("metadata") or {}).get("labels") or {}).get(k) == v
                                             for k, v in wanted.items())]
        return items


class KubeFactory:
    """Stands in for the ``Kube`` class where a target makes its own client (the vagrant
    target): the kubeconfig and context are resolved from the file as the real class does;
    the API behind them is the stand-in's."""

    def __init__(self, state: Path):
        self.state = Path(state)

    def __call__(self, kubeconfig, context) -> FakeKube:
        return FakeKube(FakeCluster(self.state), kubeconfig, context)

    def connect(self, kubeconfig, context) -> FakeKube:
        from cephlab.k8s.kube import resolve_context
        path, ctx = resolve_context(kubeconfig, context)
        return FakeKube(FakeCluster(self.state), path, ctx)
