"""Kubernetes Dashboard access and the lab's apps: CephFS helper, MinIO, MySQL, Ghost.

Credentials come in as a ``secrets`` mapping (see ``objects.generate_secrets``) and land
only in Secret objects; containers read them through ``secretKeyRef``.
"""

from __future__ import annotations

from typing import Mapping

from .. import versions
from .objects import (APPS_NS, BLOCK_SC, DASHBOARD_NS, PORTS, Obj, cephfs_static_pv,
                       check_secrets, env_secret, env_value, lab_ip, node_port_service, obj,
                       resources, secret, static_pvc)

MINIO_SECRET = "minio-credentials"
MYSQL_SECRET = "mysql-credentials"
CEPHFS_MOUNT = "/mnt/cephfs"


# ---- Kubernetes Dashboard ------------------------------------------------------------------

def dashboard_access() -> list[Obj]:
    """admin-user bound to cluster-admin, and NodePort 30000 in front of the chart's proxy.

    Dashboard 7.x serves everything through its Kong proxy (TLS on 8443); the selector
    matches the labels the chart gives Kong pods for release name ``kubernetes-dashboard``.
    Log in with ``kubectl -n kubernetes-dashboard create token admin-user``.
    """
    sa = obj("v1", "ServiceAccount", "admin-user", DASHBOARD_NS)
    crb = obj("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "admin-user",
              roleRef={"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                       "name": "cluster-admin"},
              subjects=[{"kind": "ServiceAccount", "name": "admin-user",
                         "namespace": DASHBOARD_NS}])
    svc = node_port_service(
        "kubernetes-dashboard-nodeport", DASHBOARD_NS,
        {"app.kubernetes.io/name": "kong", "app.kubernetes.io/instance": "kubernetes-dashboard"},
        port=443, target_port=8443, node_port=PORTS["dashboard"], port_name="https")
    return [sa, crb, svc]


# ---- helpers -----------------------------------------------------------------------------

def _deployment(name: str, container: Obj, volumes: list[Obj], *, recreate: bool = False) -> Obj:
    labels = {"app": name}
    spec: Obj = {
        "replicas": 1,
        "selector": {"matchLabels": labels},
        "template": {"metadata": {"labels": labels},
                     "spec": {"containers": [container], "volumes": volumes}},
    }
    if recreate:
        # an RWO volume cannot be attached to the old and the new pod at once
        spec["strategy"] = {"type": "Recreate"}
    return obj("apps/v1", "Deployment", name, APPS_NS, labels, spec=spec)


def _pvc_volume(name: str, claim: str) -> Obj:
    return {"name": name, "persistentVolumeClaim": {"claimName": claim}}


# ---- CephFS helper -------------------------------------------------------------------------

def cephfs_helper() -> list[Obj]:
    """A pod with the whole filesystem mounted, to create /minio and /ghost."""
    pv = cephfs_static_pv("cephfs-root", "/", "1Gi")
    pvc = static_pvc("cephfs-root", APPS_NS, "cephfs-root", "1Gi")
    pod = obj("v1", "Pod", "cephfs-helper", APPS_NS, {"app": "cephfs-helper"}, spec={
        "containers": [{
            "name": "helper",
            "image": versions.HELPER_IMAGE,
            "command": ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 5; done"],
            "volumeMounts": [{"name": "cephfs", "mountPath": CEPHFS_MOUNT}],
            "resources": resources("10m", "16Mi"),
        }],
        "volumes": [_pvc_volume("cephfs", "cephfs-root")],
        "restartPolicy": "Always",
    })
    return [pv, pvc, pod]


# ---- MinIO ---------------------------------------------------------------------------------

def minio_secret(secrets: Mapping[str, str]) -> Obj:
    s = check_secrets(secrets)
    return secret(MINIO_SECRET, APPS_NS, {"MINIO_ROOT_USER": s["minio_root_user"],
                                          "MINIO_ROOT_PASSWORD": s["minio_root_password"]})


def minio() -> list[Obj]:
    pv = cephfs_static_pv("minio-data", "/minio", "5Gi")
    pvc = static_pvc("minio-data", APPS_NS, "minio-data", "5Gi")
    container = {
        "name": "minio",
        "image": versions.MINIO_IMAGE,
        "args": ["server", "/data", "--console-address", ":9001"],
        "env": [env_secret("MINIO_ROOT_USER", MINIO_SECRET, "MINIO_ROOT_USER"),
                env_secret("MINIO_ROOT_PASSWORD", MINIO_SECRET, "MINIO_ROOT_PASSWORD")],
        "ports": [{"name": "s3", "containerPort": 9000}, {"name": "console", "containerPort": 9001}],
        "volumeMounts": [{"name": "data", "mountPath": "/data"}],
        "readinessProbe": {"httpGet": {"path": "/minio/health/ready", "port": 9000},
                           "initialDelaySeconds": 5, "periodSeconds": 10},
        "resources": resources("100m", "256Mi", "512Mi"),
    }
    deploy = _deployment("minio", container, [_pvc_volume("data", "minio-data")], recreate=True)
    svc = node_port_service("minio", APPS_NS, {"app": "minio"}, port=9000, target_port=9000,
                            node_port=PORTS["minio"], port_name="s3")
    svc["spec"]["ports"].append({"name": "console", "protocol": "TCP", "port": 9001,
                                 "targetPort": 9001, "nodePort": PORTS["minio_console"]})
    return [pv, pvc, deploy, svc]


# ---- MySQL ---------------------------------------------------------------------------------

def mysql_secret(secrets: Mapping[str, str]) -> Obj:
    s = check_secrets(secrets)
    return secret(MYSQL_SECRET, APPS_NS, {"root-password": s["mysql_root_password"],
                                          "ghost-user": s["ghost_db_user"],
                                          "ghost-password": s["ghost_db_password"]})


def mysql() -> list[Obj]:
    pvc = obj("v1", "PersistentVolumeClaim", "mysql-pvc", APPS_NS, spec={
        "accessModes": ["ReadWriteOnce"],
        "storageClassName": BLOCK_SC,
        "resources": {"requests": {"storage": "5Gi"}},
    })
    container = {
        "name": "mysql",
        "image": versions.MYSQL_IMAGE,
        "env": [env_secret("MYSQL_ROOT_PASSWORD", MYSQL_SECRET, "root-password")],
        "ports": [{"name": "mysql", "containerPort": 3306}],
        "volumeMounts": [{"name": "data", "mountPath": "/var/lib/mysql"}],
        # MYSQL_PWD keeps the password off the command line of the probe
        "readinessProbe": {"exec": {"command": [
            "sh", "-c", 'MYSQL_PWD="$MYSQL_ROOT_PASSWORD" mysql -h 127.0.0.1 -uroot -e "SELECT 1"']},
            "initialDelaySeconds": 15, "periodSeconds": 10, "timeoutSeconds": 5},
        "resources": resources("100m", "512Mi", "1Gi"),
    }
    deploy = _deployment("mysql", container, [_pvc_volume("data", "mysql-pvc")], recreate=True)
    svc = node_port_service("mysql", APPS_NS, {"app": "mysql"}, port=3306, target_port=3306,
                            node_port=PORTS["mysql"], port_name="mysql")
    return [pvc, deploy, svc]


# ---- Ghost ---------------------------------------------------------------------------------

_GHOST_DB_SQL = r"""set -eu
until mysqladmin ping -h mysql --silent; do sleep 5; done
export MYSQL_PWD="$MYSQL_ROOT_PASSWORD"
mysql -h mysql -uroot <<SQL
CREATE DATABASE IF NOT EXISTS ghost;
CREATE USER IF NOT EXISTS '$GHOST_DB_USER'@'%' IDENTIFIED BY '$GHOST_DB_PASSWORD';
ALTER USER '$GHOST_DB_USER'@'%' IDENTIFIED BY '$GHOST_DB_PASSWORD';
GRANT ALL PRIVILEGES ON ghost.* TO '$GHOST_DB_USER'@'%';
SQL
"""


def ghost_database_job() -> Obj:
    """Creates database ``ghost`` and Ghost's MySQL user (stage ghost)."""
    container = {
        "name": "create-db",
        "image": versions.MYSQL_IMAGE,
        "command": ["sh", "-c", _GHOST_DB_SQL],
        "env": [env_secret("MYSQL_ROOT_PASSWORD", MYSQL_SECRET, "root-password"),
                env_secret("GHOST_DB_USER", MYSQL_SECRET, "ghost-user"),
                env_secret("GHOST_DB_PASSWORD", MYSQL_SECRET, "ghost-password")],
        "resources": resources("50m", "64Mi"),
    }
    return obj("batch/v1", "Job", "ghost-db-init", APPS_NS, spec={
        "backoffLimit": 6,
        "ttlSecondsAfterFinished": 3600,
        "template": {"spec": {"containers": [container], "restartPolicy": "OnFailure"}},
    })


def ghost(url: str | None = None) -> list[Obj]:
    url = url or f"http://{lab_ip(0)}:{PORTS['ghost']}"
    pv = cephfs_static_pv("ghost-content", "/ghost", "5Gi")
    pvc = static_pvc("ghost-content", APPS_NS, "ghost-content", "5Gi")
    container = {
        "name": "ghost",
        "image": versions.GHOST_IMAGE,
        "env": [
            env_value("url", url),
            env_value("database__client", "mysql"),
            env_value("database__connection__host", "mysql"),
            env_value("database__connection__port", "3306"),
            env_value("database__connection__database", "ghost"),
            env_secret("database__connection__user", MYSQL_SECRET, "ghost-user"),
            env_secret("database__connection__password", MYSQL_SECRET, "ghost-password"),
            # the harness logs in as the owner through the Admin API; the lab sends no mail,
            # so a login must not wait for an e-mailed device code
            env_value("security__staffDeviceVerification", "false"),
        ],
        "ports": [{"name": "http", "containerPort": 2368}],
        "volumeMounts": [{"name": "content", "mountPath": "/var/lib/ghost/content"}],
        # first start runs the database migrations: give it minutes
        "readinessProbe": {"httpGet": {"path": "/", "port": 2368},
                           "initialDelaySeconds": 20, "periodSeconds": 10,
                           "failureThreshold": 30},
        "resources": resources("100m", "256Mi", "768Mi"),
    }
    deploy = _deployment("ghost", container, [_pvc_volume("content", "ghost-content")],
                         recreate=True)
    svc = node_port_service("ghost", APPS_NS, {"app": "ghost"}, port=2368, target_port=2368,
                            node_port=PORTS["ghost"], port_name="http")
    return [pv, pvc, deploy, svc]
