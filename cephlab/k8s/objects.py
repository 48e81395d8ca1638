"""Shared names of the lab and small builders for Kubernetes objects (plain dicts)."""

from __future__ import annotations

import re
import secrets as _secrets
from typing import Any, Iterable, Mapping

from ..model import BLOCK_POOL, FS_NAME, NODES, POD_CIDR, PORTS, SUBNET  # noqa: F401

Obj = dict[str, Any]

ROOK_NS = "rook-ceph"          # namespace of the Rook operator and the CephCluster
CLUSTER_ID = "rook-ceph"       # CSI clusterID == namespace of the CephCluster
APPS_NS = "default"            # where the lab's apps run (as in the lab)
DASHBOARD_NS = "kubernetes-dashboard"
BLOCK_SC = "rook-ceph-block"
BUCKET_SC = "rook-ceph-bucket"
OBJECT_STORE = "lab-store"
TOOLBOX = "rook-ceph-tools"    # the Rook toolbox Deployment (the Ceph CLI on Kubernetes)
RBD_DRIVER = "rook-ceph.rbd.csi.ceph.com"
CEPHFS_DRIVER = "rook-ceph.cephfs.csi.ceph.com"

def lab_ip(index: int) -> str:
    """Private address of the index-th node (k8s-1 is 10.254.1.2)."""
    return f"{SUBNET}.{index + 2}"


def crush_host_name(hostname_label: str) -> str:
    """The CRUSH host Rook gives a node's OSDs: its ``kubernetes.io/hostname`` label with every
    "." replaced by "-" (Rook v1.20.6 pkg/daemon/ceph/client/crush.go NormalizeCrushName,
    used by pkg/operator/ceph/cluster/osd/osd.go GetLocationWithNode)."""
    return hostname_label.replace(".", "-")


def check_nodes(nodes: Iterable[str]) -> tuple[str, ...]:
    nodes = tuple(nodes)
    if len(nodes) < 3 or len(set(nodes)) != len(nodes):
        raise ValueError(f"the lab needs at least 3 distinct nodes (3 mons, one per node), got {nodes!r}")
    return nodes


def meta(name: str, namespace: str | None = None, labels: Mapping[str, str] | None = None) -> Obj:
    m: Obj = {"name": name}
    if namespace:
        m["namespace"] = namespace
    if labels:
        m["labels"] = dict(labels)
    return m


def obj(api_version: str, kind: str, name: str, namespace: str | None = None,
        labels: Mapping[str, str] | None = None, **body: Any) -> Obj:
    return {"apiVersion": api_version, "kind": kind, "metadata": meta(name, namespace, labels), **body}


def node_port_service(name: str, namespace: str, selector: Mapping[str, str], *, port: int,
                      target_port: int | str, node_port: int, port_name: str) -> Obj:
    return obj("v1", "Service", name, namespace, spec={
        "type": "NodePort",
        "selector": dict(selector),
        "ports": [{"name": port_name, "protocol": "TCP", "port": port,
                   "targetPort": target_port, "nodePort": node_port}],
    })


def resources(cpu: str, memory: str, memory_limit: str | None = None) -> Obj:
    r: Obj = {"requests": {"cpu": cpu, "memory": memory}}
    if memory_limit:
        r["limits"] = {"memory": memory_limit}
    return r


def env_secret(name: str, secret: str, key: str) -> Obj:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def env_value(name: str, value: str) -> Obj:
    return {"name": name, "value": value}


# ---- Calico ------------------------------------------------------------------------------

def calico_settings() -> Obj:
    """Settings calico-node takes from ConfigMap kube-system/kubernetes-services-endpoint (an
    optional ``envFrom`` of the calico-node container in Calico v3.31.5's
    manifests/calico.yaml, which sets neither variable itself), applied before the manifest so the
    first start already uses them: node addresses from the Node's InternalIP (the kubelets run
    with --node-ip on the private network; first-found would pick the NAT 10.0.2.15), and the
    lab's pod CIDR."""
    return obj("v1", "ConfigMap", "kubernetes-services-endpoint", "kube-system",
               data={"IP_AUTODETECTION_METHOD": "kubernetes-internal-ip",
                     "CALICO_IPV4POOL_CIDR": POD_CIDR})


# ---- secrets -----------------------------------------------------------------------------

# Keys of the ``secrets`` mapping the app manifests take; values are generated at run time.
SECRET_KEYS = ("minio_root_user", "minio_root_password", "mysql_root_password",
               "ghost_db_user", "ghost_db_password")
_PASSWORD = re.compile(r"^[A-Za-z0-9_-]{16,128}$")   # also safe inside SQL quotes
_USER = re.compile(r"^[a-z][a-z0-9_-]{2,31}$")


def generate_secrets() -> dict[str, str]:
    """Fresh random credentials for the apps (never stored in the repository)."""
    return {
        "minio_root_user": "lab-" + _secrets.token_hex(4),
        "minio_root_password": _secrets.token_urlsafe(24),
        "mysql_root_password": _secrets.token_urlsafe(24),
        "ghost_db_user": "ghost",
        "ghost_db_password": _secrets.token_urlsafe(24),
    }


def check_secrets(values: Mapping[str, str]) -> dict[str, str]:
    missing = [k for k in SECRET_KEYS if not values.get(k)]
    if missing:
        raise ValueError(f"secrets lack {', '.join(missing)}")
    for key in SECRET_KEYS:
        pattern = _USER if key.endswith("_user") else _PASSWORD
        if not pattern.match(values[key]):
            # the value itself is never put in the message
            raise ValueError(f"secret {key!r} does not match {pattern.pattern}")
    return {k: values[k] for k in SECRET_KEYS}


def secret(name: str, namespace: str, string_data: Mapping[str, str]) -> Obj:
    return obj("v1", "Secret", name, namespace, type="Opaque", stringData=dict(string_data))


# ---- CephFS static volumes ---------------------------------------------------------------

def cephfs_static_pv(name: str, root_path: str, size: str = "5Gi") -> Obj:
    """A PV on an existing CephFS directory (the modern form of flexVolume's ``path:``)."""
    return obj("v1", "PersistentVolume", name, spec={
        "capacity": {"storage": size},
        "accessModes": ["ReadWriteMany"],
        "persistentVolumeReclaimPolicy": "Retain",
        "storageClassName": "",
        "volumeMode": "Filesystem",
        "csi": {
            "driver": CEPHFS_DRIVER,
            "volumeHandle": name,            # any cluster-unique string for a static PV
            "nodeStageSecretRef": {"name": "rook-csi-cephfs-node", "namespace": ROOK_NS},
            "volumeAttributes": {
                "clusterID": CLUSTER_ID,
                "fsName": FS_NAME,
                "staticVolume": "true",
                "rootPath": root_path,
            },
        },
    })


def static_pvc(name: str, namespace: str, pv_name: str, size: str = "5Gi") -> Obj:
    return obj("v1", "PersistentVolumeClaim", name, namespace, spec={
        "accessModes": ["ReadWriteMany"],
        "storageClassName": "",
        "volumeName": pv_name,
        "resources": {"requests": {"storage": size}},
    })
