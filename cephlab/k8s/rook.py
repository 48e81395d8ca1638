"""Rook custom resources and Ceph-side objects of the lab."""

from __future__ import annotations

from typing import Iterable, Mapping, Sequence, Union

from .. import versions
from .objects import (BLOCK_POOL, BLOCK_SC, BUCKET_SC, CLUSTER_ID, FS_NAME, OBJECT_STORE, PORTS,
                       RBD_DRIVER, ROOK_NS, TOOLBOX, Obj, node_port_service, obj, resources)

CEPH_API = "ceph.rook.io/v1"
# 896 MiB: Ceph's 4 GiB default cannot fit two OSDs, a mon and apps in a 4 GB VM.
OSD_MEMORY_TARGET = str(896 * 1024 * 1024)


def ceph_cluster(nodes: Iterable[str],
                 devices: Union[Sequence[str], Mapping[str, Sequence[str]]] = ("sdc",), *,
                 dashboard_ssl: bool = False, image: str = versions.CEPH_IMAGE,
                 cephx_key_type: str | None = "aes") -> Obj:
    """The CephCluster: only the named nodes and devices, 3 mons on distinct nodes.

    ``devices`` is ``("sdc",)`` for stage ceph_cluster and ``("sdc", "sdd")`` for
    extend_storage (or a mapping node -> its devices, where they differ per node);
    remove_node passes the node list without the removed node.
    ``cephx_key_type`` "aes" keeps CSI keys usable by kernels older than 7.0 (Ceph v20).
    """
    nodes = tuple(nodes)
    if len(nodes) < 2:
        raise ValueError("size-2 pools with failure domain host need at least 2 storage nodes")
    per_node = {n: tuple(devices[n] if isinstance(devices, Mapping) else devices) for n in nodes}
    if not all(per_node.values()):
        raise ValueError("at least one device per node")
    spec: Obj = {
        "cephVersion": {"image": image, "allowUnsupported": False},
        "dataDirHostPath": "/var/lib/rook",
        "mon": {"count": 3, "allowMultiplePerNode": False},
        "mgr": {"count": 1, "allowMultiplePerNode": False},
        "dashboard": {"enabled": True, "ssl": dashboard_ssl},
        "crashCollector": {"disable": True},
        "cephConfig": {
            # built-in pools (.mgr) stay healthy on two hosts once a node is removed
            "global": {"osd_pool_default_size": "2"},
            "osd": {"osd_memory_target": OSD_MEMORY_TARGET},
        },
        "resources": {
            "mon": resources("100m", "256Mi"),
            "mgr": resources("100m", "384Mi"),
            "osd": resources("100m", "512Mi"),
            "prepareosd": resources("50m", "64Mi"),
        },
        "storage": {
            "useAllNodes": False,
            "useAllDevices": False,
            "nodes": [{"name": n, "devices": [{"name": d} for d in per_node[n]]} for n in nodes],
        },
        # removing a node's OSDs is an explicit, checked procedure (stage remove_node)
        "removeOSDsIfOutAndSafeToRemove": False,
    }
    if cephx_key_type:
        spec["security"] = {"cephx": {"csi": {"keyType": cephx_key_type}}}
    return obj(CEPH_API, "CephCluster", "rook-ceph", ROOK_NS, spec=spec)


def ceph_dashboard_service(ssl: bool = False) -> Obj:
    """NodePort 30001 in front of the active mgr's dashboard (7000 plain, 8443 TLS)."""
    port = 8443 if ssl else 7000
    name = "rook-ceph-mgr-dashboard-external-" + ("https" if ssl else "http")
    return node_port_service(
        name, ROOK_NS, {"app": "rook-ceph-mgr", "mgr_role": "active", "rook_cluster": ROOK_NS},
        port=port, target_port=port, node_port=PORTS["ceph_dashboard"],
        port_name="https-dashboard" if ssl else "http-dashboard")


def _pg_parameters(pg_num: int | None) -> Obj:
    # Rook re-applies spec.parameters on every reconcile and turns the autoscaler back on
    # unless told otherwise, so a manual pg_num must be declared here too.
    return {} if pg_num is None else {"pg_autoscale_mode": "off", "pg_num": str(pg_num)}


#: Rook refuses to delete a CephBlockPool that still holds images unless it carries this
#: annotation, then runs a cleanup job that removes them (v1.20.6
#: pkg/operator/ceph/pool/controller.go handleDeletionBlocked; ceph-teardown.md "Force Delete
#: Resources"). The lab's pool is the harness's own: teardown must not hang on it.
FORCE_DELETION = {"rook.io/force-deletion": "true"}


def block_pool(pg_num: int | None = None) -> Obj:
    spec: Obj = {"failureDomain": "host", "replicated": {"size": 2}}
    if pg_num is not None:
        spec["parameters"] = _pg_parameters(pg_num)
    pool = obj(CEPH_API, "CephBlockPool", BLOCK_POOL, ROOK_NS, spec=spec)
    pool["metadata"]["annotations"] = dict(FORCE_DELETION)
    return pool


def rbd_storage_class(fstype: str = "xfs") -> Obj:
    prov, node = "rook-csi-rbd-provisioner", "rook-csi-rbd-node"
    params = {"clusterID": CLUSTER_ID, "pool": BLOCK_POOL, "imageFormat": "2",
              "imageFeatures": "layering", "csi.storage.k8s.io/fstype": fstype}
    for role, name in (("provisioner", prov), ("controller-expand", prov),
                       ("controller-publish", prov), ("node-stage", node)):
        params[f"csi.storage.k8s.io/{role}-secret-name"] = name
        params[f"csi.storage.k8s.io/{role}-secret-namespace"] = ROOK_NS
    return obj("storage.k8s.io/v1", "StorageClass", BLOCK_SC, provisioner=RBD_DRIVER,
               parameters=params, reclaimPolicy="Delete", allowVolumeExpansion=True,
               volumeBindingMode="Immediate")


def filesystem(pg_num: int | None = None) -> Obj:
    data_pool: Obj = {"name": "data0", "failureDomain": "osd", "replicated": {"size": 2}}
    if pg_num is not None:
        data_pool["parameters"] = _pg_parameters(pg_num)
    return obj(CEPH_API, "CephFilesystem", FS_NAME, ROOK_NS, spec={
        "metadataPool": {"replicated": {"size": 2}},
        "dataPools": [data_pool],
        "preserveFilesystemOnDelete": True,
        "metadataServer": {
            "activeCount": 1,
            "activeStandby": True,
            "resources": resources("100m", "256Mi"),
        },
    })


def object_store() -> list[Obj]:
    """S3 on RGW (stage object_store), reachable inside and on NodePort 30040 outside."""
    pool = {"failureDomain": "host", "replicated": {"size": 2}}
    store = obj(CEPH_API, "CephObjectStore", OBJECT_STORE, ROOK_NS, spec={
        "metadataPool": dict(pool),
        "dataPool": dict(pool),
        "preservePoolsOnDelete": False,
        "gateway": {"port": 80, "instances": 1, "resources": resources("100m", "256Mi")},
    })
    external = node_port_service(
        f"rook-ceph-rgw-{OBJECT_STORE}-external", ROOK_NS,
        {"app": "rook-ceph-rgw", "rook_object_store": OBJECT_STORE},
        port=80, target_port=8080, node_port=PORTS["rgw"], port_name="http")
    bucket_class = obj("storage.k8s.io/v1", "StorageClass", BUCKET_SC,
                       provisioner=f"{ROOK_NS}.ceph.rook.io/bucket", reclaimPolicy="Delete",
                       parameters={"objectStoreName": OBJECT_STORE,
                                   "objectStoreNamespace": ROOK_NS})
    claim = obj("objectbucket.io/v1alpha1", "ObjectBucketClaim", "lab-bucket", "default",
                spec={"generateBucketName": "lab-bucket", "storageClassName": BUCKET_SC})
    return [store, external, bucket_class, claim]


# The toolbox builds ceph.conf and a keyring from what the operator publishes: the mon
# endpoints ConfigMap ("a=IP:port,b=...") and the admin secret; it refreshes them because
# mons can move.
TOOLBOX_SCRIPT = r"""set -eu
# Each file is replaced (write, then rename) only when its content changed, so a rados/rbd
# call never reads a half-written keyring.
replace_if_changed() {
  if [ "$2" != "$(cat "$1" 2>/dev/null)" ]; then
    printf '%s\n' "$2" > "$1.new"
    mv "$1.new" "$1"
  fi
}
write_config() {
  hosts=$(sed -e 's/[^,=]*=//g' /etc/rook/mon-endpoints)
  replace_if_changed /etc/ceph/ceph.conf "$(printf '[global]\nmon_host = %s\n\n[client.admin]\nkeyring = /etc/ceph/keyring' "$hosts")"
  replace_if_changed /etc/ceph/keyring "$(printf '[%s]\nkey = %s' "$ROOK_CEPH_USERNAME" "$(cat /etc/rook-secret/keyring)")"
}
write_config
while true; do sleep 30; write_config; done
"""


def toolbox(image: str = versions.CEPH_IMAGE) -> Obj:
    labels = {"app": TOOLBOX}
    container = {
        "name": TOOLBOX,
        "image": image,
        "command": ["/bin/bash", "-c", TOOLBOX_SCRIPT],
        "env": [{"name": "ROOK_CEPH_USERNAME", "valueFrom": {
            "secretKeyRef": {"name": "rook-ceph-mon", "key": "ceph-username"}}}],
        "resources": resources("50m", "64Mi"),
        "volumeMounts": [
            {"name": "ceph-config", "mountPath": "/etc/ceph"},
            {"name": "mon-endpoints", "mountPath": "/etc/rook", "readOnly": True},
            {"name": "admin-secret", "mountPath": "/etc/rook-secret", "readOnly": True},
        ],
        "readinessProbe": {"exec": {"command": ["test", "-s", "/etc/ceph/keyring"]},
                           "periodSeconds": 10},
    }
    pod_spec = {
        "containers": [container],
        "tolerations": [{"key": "node-role.kubernetes.io/control-plane", "operator": "Exists",
                         "effect": "NoSchedule"}],
        "volumes": [
            {"name": "ceph-config", "emptyDir": {}},
            {"name": "mon-endpoints", "configMap": {
                "name": "rook-ceph-mon-endpoints",
                "items": [{"key": "data", "path": "mon-endpoints"}]}},
            {"name": "admin-secret", "secret": {
                "secretName": "rook-ceph-mon",
                "items": [{"key": "ceph-secret", "path": "keyring"}]}},
        ],
    }
    return obj("apps/v1", "Deployment", TOOLBOX, ROOK_NS, labels, spec={
        "replicas": 1,
        "selector": {"matchLabels": labels},
        "template": {"metadata": {"labels": labels}, "spec": pod_spec},
    })
