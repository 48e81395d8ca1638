"""The cluster target's config file: which existing nodes and devices the lab may use.

    nodes:
      - name: kind-worker          # the Node's name (= its kubernetes.io/hostname label)
        devices: [loop10, loop11]  # play the lab's sdc and sdd, in that order
        address: 172.18.0.3        # optional: the InternalIP the node must have

    osd_layout: local-pvs          # optional: devices (default) or local-pvs
    osd_volume_size: 10Gi          # local-pvs: the size of each device (default 10Gi)

Exactly three nodes, in order: the first plays k8s-1 (the node stage remove_node takes out
of the storage cluster), the second k8s-2, the third k8s-3. Unknown keys, empty lists,
duplicate nodes or devices are refused before any work starts.

How OSDs find their node (``osd_layout``):

- ``devices`` (the lab's layout, and the vagrant target's): the CephCluster lists each
  node's devices under ``spec.storage.nodes``. Rook's prepare job of a node then reports
  every OSD that ``ceph-volume raw list`` finds on that node's /dev, with no device filter
  (Rook v1.20.6 pkg/daemon/ceph/osd/volume.go, "List ALL OSDs when not running on PVC"),
  and the first report processed places the OSD (pkg/operator/ceph/cluster/osd/create.go).
  Right when every node has its own disks.
- ``local-pvs``: for nodes that share one kernel's devices (kind: every node sees every loop
  device of the host). Each (node, device) becomes a local block PersistentVolume with node
  affinity to its node, and a storageClassDeviceSet of one OSD whose claim names that volume
  (``volumeName``), not portable. The prepare job of a claim lists only its own device
  (/mnt/<claim>), the volume's node affinity puts the prepare and OSD pods on the node, and
  a non-portable OSD takes that node as its CRUSH host (pkg/operator/ceph/cluster/osd/
  envs.go, osd.go). Loop devices still need ROOK_CEPH_ALLOW_LOOP_DEVICES (the prepare pod
  gets CEPH_VOLUME_ALLOW_LOOP_DEVICES from it, provision_spec.go).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import yaml

from ..errors import ConfigError
from ..model import NODES, REMOVED_NODE
from .plan_ops import Delete

LAB_DEVICES = ("sdc", "sdd")
OSD_LAYOUTS = ("devices", "local-pvs")
#: the StorageClass the local OSD volumes and their claims name (no provisioner)
LOCAL_OSD_CLASS = "cephlab-osd-local"
ROOK_NAMESPACE = "rook-ceph"
_QUANTITY = re.compile(r"^[1-9][0-9]*(Ki|Mi|Gi|Ti)$")
_NODE_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")  # RFC 1123 subdomain
_DEVICE = re.compile(r"^(/dev/)?[A-Za-z0-9][A-Za-z0-9._:/+-]{0,200}$")


@dataclass(frozen=True)
class StorageNode:
    name: str
    devices: tuple[str, ...]
    address: Optional[str] = None


@dataclass(frozen=True)
class OsdVolume:
    """One OSD device of the local-pvs layout: a lab device on a lab node, on this cluster."""

    lab_node: str    # k8s-1
    lab_device: str  # sdc
    node: str        # the Node's name
    device: str      # as configured: loop10, /dev/disk/by-id/...
    size: str        # a Kubernetes quantity, 10Gi

    @property
    def path(self) -> str:
        return self.device if self.device.startswith("/") else f"/dev/{self.device}"

    @property
    def pv_name(self) -> str:
        return f"cephlab-osd-{self.lab_node}-{self.lab_device}"

    @property
    def device_set(self) -> str:
        """The storageClassDeviceSet's name; Rook labels its claim ceph.rook.io/DeviceSet=this."""
        return f"{self.lab_node}-{self.lab_device}"


@dataclass(frozen=True)
class ClusterConfig:
    path: Path
    nodes: tuple[StorageNode, ...]
    osd_layout: str = "devices"
    osd_volume_size: str = "10Gi"

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(n.name for n in self.nodes)

    def node_map(self) -> dict[str, str]:
        """Lab node (k8s-1..3) -> this cluster's node name."""
        return dict(zip(NODES, self.names, strict=True))

    def device_map(self, node: str) -> dict[str, str]:
        """Lab device (sdc, sdd) -> this node's device."""
        for n in self.nodes:
            if n.name == node:
                return dict(zip(LAB_DEVICES, n.devices, strict=True))
        raise KeyError(f"node {node!r} is not in {self.path}")

    def plan_parameters(self) -> dict:
        """What :func:`cephlab.k8s.plan_build.build` takes from this config: each node's
        devices, whether they are loop devices, the first node's address when given, and with
        local-pvs the OSD layout: the CephCluster's storage, its StorageClass and volumes
        (applied before the first CephCluster) and, after remove_node's purge, the removed
        node's claims and volumes deleted."""
        params: dict = {"devices": {n.name: n.devices for n in self.nodes},
                        "loop_devices": self.uses_loop_devices()}
        if self.nodes[0].address:
            params["address"] = self.nodes[0].address
        if self.osd_layout == "local-pvs":
            params.update(osd_storage=self.osd_storage, osd_objects=self.local_osd_objects(),
                          osd_cleanup=self.removed_node_cleanup())
        return params

    def uses_loop_devices(self) -> bool:
        return any(d.rsplit("/", 1)[-1].startswith("loop") for n in self.nodes for d in n.devices)

    # -- the OSD layout ------------------------------------------------------------------------
    def osd_volumes(self) -> tuple[OsdVolume, ...]:
        """Every (node, device) as an OSD volume, k8s-1's sdc first."""
        return tuple(OsdVolume(lab, lab_dev, n.name, dev, self.osd_volume_size)
                     for lab, n in zip(NODES, self.nodes, strict=True)
                     for lab_dev, dev in zip(LAB_DEVICES, n.devices, strict=True))

    def osd_volume(self, node: str, lab_device: str) -> OsdVolume:
        for vol in self.osd_volumes():
            if vol.node == node and vol.lab_device == lab_device:
                return vol
        raise KeyError(f"no device {lab_device} of node {node!r} in {self.path}")

    def osd_storage(self, storage: dict) -> dict:
        """The lab's CephCluster ``spec.storage`` (``nodes`` named after this cluster's nodes,
        devices named sdc/sdd) for this cluster: the configured devices per node, or, with
        local-pvs, one storageClassDeviceSet per (node, device)."""
        out = {k: v for k, v in storage.items() if k != "nodes"}
        wanted = [(node["name"], dev["name"]) for node in storage.get("nodes", [])
                  for dev in node.get("devices", [])]
        if self.osd_layout == "devices":
            out["nodes"] = [{**node, "devices": [{**d, "name": self.device_map(node["name"])[d["name"]]}
                                                 for d in node.get("devices", [])]}
                            for node in storage.get("nodes", [])]
            return out
        out["storageClassDeviceSets"] = [_device_set(self.osd_volume(node, dev)) for node, dev in wanted]
        return out

    def removed_node_cleanup(self) -> list[Delete]:
        """With local-pvs: the claims Rook made for the removed node's device sets (label
        ceph.rook.io/DeviceSet), then their volumes; nothing with devices."""
        if self.osd_layout != "local-pvs":
            return []
        vols = [v for v in self.osd_volumes() if v.lab_node == REMOVED_NODE]
        return ([Delete("PersistentVolumeClaim", ROOK_NAMESPACE, selector=f"ceph.rook.io/DeviceSet={v.device_set}")
                 for v in vols] + [Delete("PersistentVolume", None, name=v.pv_name) for v in vols])

    def local_osd_objects(self) -> list[dict]:
        """With local-pvs: the StorageClass and one local block PersistentVolume per OSD
        device, to exist before the CephCluster names them; nothing with devices."""
        if self.osd_layout != "local-pvs":
            return []
        return [local_osd_class()] + [local_osd_pv(v) for v in self.osd_volumes()]


def local_osd_class() -> dict:
    return {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
            "metadata": {"name": LOCAL_OSD_CLASS},
            "provisioner": "kubernetes.io/no-provisioner",
            "volumeBindingMode": "WaitForFirstConsumer", "reclaimPolicy": "Retain"}


def local_osd_pv(vol: OsdVolume) -> dict:
    """A local block volume on ``vol.node`` (Retain: the device outlives its claim)."""
    return {"apiVersion": "v1", "kind": "PersistentVolume",
            "metadata": {"name": vol.pv_name,
                         "labels": {"app.kubernetes.io/part-of": "cephlab",
                                    "cephlab.io/lab-node": vol.lab_node,
                                    "cephlab.io/lab-device": vol.lab_device}},
            "spec": {"capacity": {"storage": vol.size}, "volumeMode": "Block",
                     "accessModes": ["ReadWriteOnce"], "persistentVolumeReclaimPolicy": "Retain",
                     "storageClassName": LOCAL_OSD_CLASS, "local": {"path": vol.path},
                     "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                         {"key": "kubernetes.io/hostname", "operator": "In", "values": [vol.node]}]}]}}}}


def _device_set(vol: OsdVolume) -> dict:
    """One OSD on the claim of ``vol``'s volume; not portable, so its CRUSH host is the node."""
    return {"name": vol.device_set, "count": 1, "portable": False, "encrypted": False,
            "volumeClaimTemplates": [{
                "metadata": {"name": "data"},
                "spec": {"storageClassName": LOCAL_OSD_CLASS, "volumeName": vol.pv_name,
                         "volumeMode": "Block", "accessModes": ["ReadWriteOnce"],
                         "resources": {"requests": {"storage": vol.size}}}}]}


def _fail(path: Path, what: str) -> ConfigError:
    return ConfigError(f"cluster config {path}: {what}")


def _node(path: Path, i: int, raw: Any) -> StorageNode:
    where = f"nodes[{i}]"
    if not isinstance(raw, dict):
        raise _fail(path, f"{where} must be a mapping with name and devices, not {type(raw).__name__}")
    unknown = sorted(set(raw) - {"name", "devices", "address"})
    if unknown:
        raise _fail(path, f"{where} has unknown key(s) {', '.join(map(str, unknown))} "
                          f"(allowed: name, devices, address)")
    name = raw.get("name")
    if not isinstance(name, str) or not _NODE_NAME.match(name):
        raise _fail(path, f"{where}.name must be a Kubernetes node name, got {name!r}")
    devices = raw.get("devices")
    if not isinstance(devices, list) or not devices:
        raise _fail(path, f"{where} ({name}): devices must be a non-empty list, got {devices!r}")
    if len(devices) != len(LAB_DEVICES):
        raise _fail(path, f"{where} ({name}): list exactly {len(LAB_DEVICES)} devices, which play "
                          f"the lab's {' and '.join(LAB_DEVICES)} (got {len(devices)})")
    for dev in devices:
        if not isinstance(dev, str) or not _DEVICE.match(dev):
            raise _fail(path, f"{where} ({name}): {dev!r} is not a device name (e.g. sdc, "
                              f"loop10 or /dev/disk/by-id/…)")
    if len(set(devices)) != len(devices):
        raise _fail(path, f"{where} ({name}): device listed twice in {devices}")
    address = raw.get("address")
    if address is not None:
        try:
            ipaddress.ip_address(str(address))
        except ValueError:
            raise _fail(path, f"{where} ({name}): address {address!r} is not an IP address") from None
        address = str(address)
    return StorageNode(name, tuple(devices), address)


def load(path: Optional[Path]) -> ClusterConfig:
    if path is None:
        raise ConfigError("the cluster target needs --lab-cluster-config FILE naming its three "
                          "storage nodes and their two data devices (see examples/cluster-kind.yaml)")
    path = Path(path)
    if not path.is_file():
        raise _fail(path, "does not exist")
    try:
        doc = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise _fail(path, f"is not valid YAML: {exc}") from None
    if not isinstance(doc, dict):
        raise _fail(path, "must be a mapping with the key nodes")
    unknown = sorted(set(doc) - {"nodes", "osd_layout", "osd_volume_size"})
    if unknown:
        raise _fail(path, f"unknown key(s) {', '.join(map(str, unknown))} (allowed: nodes) "
                          f"nor optional (osd_layout, osd_volume_size)")
    layout = doc.get("osd_layout", "devices")
    if layout not in OSD_LAYOUTS:
        raise _fail(path, f"osd_layout must be one of {', '.join(OSD_LAYOUTS)}, got {layout!r}")
    size = str(doc.get("osd_volume_size", "10Gi"))
    if not _QUANTITY.match(size):
        raise _fail(path, f"osd_volume_size must be a size like 10Gi, got {size!r}")
    if "osd_volume_size" in doc and layout != "local-pvs":
        raise _fail(path, "osd_volume_size applies to osd_layout: local-pvs only")
    raw_nodes = doc.get("nodes")
    if not isinstance(raw_nodes, list) or not raw_nodes:
        raise _fail(path, "nodes must be a non-empty list")
    nodes = tuple(_node(path, i, raw) for i, raw in enumerate(raw_nodes))
    names = [n.name for n in nodes]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise _fail(path, f"node(s) listed twice: {', '.join(dupes)}")
    loops = [d for n in nodes for d in n.devices if d.rsplit("/", 1)[-1].startswith("loop")]
    shared = sorted({d for d in loops if loops.count(d) > 1})
    if shared:
        # loop devices belong to the host kernel: every kind node sees the same ones
        raise _fail(path, f"loop device(s) {', '.join(shared)} listed for more than one node; "
                          f"nodes of one host share its loop devices, give each node its own")
    if len(nodes) != len(NODES):
        raise _fail(path, f"list exactly {len(NODES)} nodes (they play {', '.join(NODES)}), "
                          f"got {len(nodes)}")
    return ClusterConfig(path, nodes, layout, size)
