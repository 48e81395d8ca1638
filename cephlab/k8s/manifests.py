"""The lab's Kubernetes objects, rendered as plain dicts: the source of truth.

Every function returns fresh objects (a dict or a list of dicts) and runs nothing.
Ceph/Rook objects live in :mod:`cephlab.k8s.rook`, the apps in :mod:`cephlab.k8s.apps`;
this module is the one place to import them from.
"""

from __future__ import annotations

from ..model import PG_NUM_TARGET
from .objects import (APPS_NS, BLOCK_POOL, BLOCK_SC, CEPHFS_DRIVER, CLUSTER_ID, DASHBOARD_NS,
                      FS_NAME, NODES, OBJECT_STORE, POD_CIDR, PORTS, RBD_DRIVER, ROOK_NS,
                      SECRET_KEYS, SUBNET, TOOLBOX, Obj, calico_settings, cephfs_static_pv,
                      check_nodes, check_secrets, generate_secrets, lab_ip, static_pvc)
from .apps import (CEPHFS_MOUNT, cephfs_helper, dashboard_access, ghost, ghost_database_job, minio,
                   minio_secret, mysql, mysql_secret)
from .rook import (block_pool, ceph_cluster, ceph_dashboard_service, filesystem, object_store,
                   rbd_storage_class, toolbox)

__all__ = [
    "APPS_NS", "BLOCK_POOL", "CEPHFS_MOUNT", "DASHBOARD_NS", "TOOLBOX", "calico_settings", "BLOCK_SC",
    "CEPHFS_DRIVER", "CLUSTER_ID", "FS_NAME", "NODES",
    "OBJECT_STORE", "POD_CIDR", "PORTS", "RBD_DRIVER", "ROOK_NS", "SECRET_KEYS", "SUBNET", "Obj",
    "block_pool", "ceph_cluster", "ceph_dashboard_service", "cephfs_helper", "cephfs_static_pv",
    "check_nodes", "check_secrets", "dashboard_access", "filesystem", "generate_secrets",
    "ghost", "ghost_database_job", "minio", "minio_secret", "mysql", "mysql_secret",
    "lab_ip", "object_store", "rbd_storage_class", "static_pvc", "toolbox", "all_objects",
]


def all_objects(nodes=NODES, secrets=None) -> list[Obj]:
    """Every distinct object the lab renders (for validation); nothing is applied."""
    nodes = check_nodes(nodes)
    secrets = secrets or generate_secrets()
    out: list[Obj] = [
        ceph_cluster(nodes, ("sdc",)),
        ceph_cluster(nodes, ("sdc", "sdd")),
        ceph_cluster(nodes, ("sdc", "sdd"), dashboard_ssl=True),
        ceph_cluster(nodes[1:], ("sdc", "sdd")),
        ceph_dashboard_service(False), ceph_dashboard_service(True),
        block_pool(), block_pool(pg_num=PG_NUM_TARGET), rbd_storage_class(),
        filesystem(), filesystem(pg_num=PG_NUM_TARGET),
        toolbox(), calico_settings(),
        minio_secret(secrets), mysql_secret(secrets), ghost_database_job(),
    ]
    for group in (object_store(), dashboard_access(), cephfs_helper(), minio(), mysql(), ghost()):
        out.extend(group)
    return out
