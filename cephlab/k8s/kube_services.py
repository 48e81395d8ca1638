"""The lab's services on a Kubernetes target: where a client reaches them (first storage
node's address + the lab's NodePort), their generated credentials (read from the Secrets
the harness or Rook created, never printed), restarts and volumes.

Composed into each Kubernetes target, which hands it how to reach the API, where the lab's
first node is, its own name (for messages) and the lab directory (the harness's secrets).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from ..model import GHOST_OWNER_EMAIL, SERVICE_NODE
from ..secrets import SecretStore, password
from ..targets import NotOffered
from . import apps
from . import manifests as m
from .kube import Kube

#: service -> NodePort. "s3" is the object store's RGW (stage object_store).
NODE_PORTS = {"ceph_dashboard": m.PORTS["ceph_dashboard"], "mysql": m.PORTS["mysql"],
              "minio": m.PORTS["minio"], "ghost": m.PORTS["ghost"], "s3": m.PORTS["rgw"],
              "dashboard": m.PORTS["dashboard"]}
#: service -> the Deployment (in the apps namespace) whose pod a restart deletes.
DEPLOYMENTS = {"mysql": "mysql", "minio": "minio", "ghost": "ghost"}


class KubeServices:
    def __init__(self, target_name: str, kube: Callable[[], "Kube"],
                 node_address: Callable[[str], str], lab_dir: Path):
        self.name, self.lab_dir = target_name, lab_dir
        self._kube, self._node_address = kube, node_address

    @property
    def kube(self) -> "Kube":
        return self._kube()

    def node_address(self, lab_node: str) -> str:
        return self._node_address(lab_node)

    def endpoint(self, service: str) -> tuple[str, int]:
        if service not in NODE_PORTS:
            raise NotOffered(f"the {self.name} target runs no {service} service")
        return self.node_address(SERVICE_NODE), NODE_PORTS[service]

    def credentials(self, service: str) -> dict[str, str]:
        kube = self.kube
        if service == "mysql":
            return {"user": "root",
                    "password": kube.secret_value(apps.MYSQL_SECRET, m.APPS_NS, "root-password")}
        if service == "minio":
            return {key: kube.secret_value(apps.MINIO_SECRET, m.APPS_NS, name) for key, name in
                    (("access_key", "MINIO_ROOT_USER"), ("secret_key", "MINIO_ROOT_PASSWORD"))}
        if service == "ceph_dashboard":
            return {"username": "admin", "password": kube.secret_value(
                "rook-ceph-dashboard-password", m.ROOK_NS, "password")}
        if service == "s3":
            # the ObjectBucketClaim's Secret: a user scoped to the claimed bucket
            return {key: kube.secret_value("lab-bucket", "default", name) for key, name in
                    (("access_key", "AWS_ACCESS_KEY_ID"), ("secret_key", "AWS_SECRET_ACCESS_KEY"))}
        if service == "ghost":
            # The blog's owner is set up by the harness through Ghost's Admin API, not by a
            # manifest: its generated password lives with the lab's state, as on local.
            return {"email": GHOST_OWNER_EMAIL,
                    "password": SecretStore(self.lab_dir).get("ghost-owner", password)}
        raise NotOffered(f"the {self.name} target has no credentials for {service}")

    def restart(self, service: str) -> None:
        """Delete the service's pods; its Deployment starts a new one (Recreate strategy)."""
        if service not in DEPLOYMENTS:
            raise NotOffered(f"the {self.name} target cannot restart {service}")
        pods = self.kube.get_json("Pod", namespace=m.APPS_NS,
                                  label_selector=f"app={DEPLOYMENTS[service]}")
        if not pods:
            raise AssertionError(f"no pod of {service} runs, nothing to restart")
        for pod in pods:
            self.kube.delete({"apiVersion": "v1", "kind": "Pod", "name": pod["metadata"]["name"],
                              "namespace": m.APPS_NS})

    def block_volume(self, service: str) -> tuple[str, str]:
        """(pool, RBD image) behind the service's claim, from the CSI volume's attributes."""
        if service != "mysql":
            raise NotOffered(f"the {self.name} target has no block volume for {service}")
        pvc = self.kube.get_json("PersistentVolumeClaim", "mysql-pvc", m.APPS_NS)
        assert pvc, "claim mysql-pvc does not exist"
        volume = (pvc.get("spec") or {}).get("volumeName")
        assert volume, "claim mysql-pvc is not bound to a volume yet"
        pv = self.kube.get_json("PersistentVolume", volume) or {}
        attrs = ((pv.get("spec") or {}).get("csi") or {}).get("volumeAttributes") or {}
        assert attrs.get("pool") and attrs.get("imageName"), (
            f"volume {volume} names no RBD pool/image (attributes: {sorted(attrs)})")
        return attrs["pool"], attrs["imageName"]
