"""The cluster target's config file: which existing nodes and devices the lab may use.

    nodes:
      - name: kind-worker          # the Node's name (= its kubernetes.io/hostname label)
        devices: [loop10, loop11]  # play the lab's sdc and sdd, in that order
        address: 172.18.0.3        # optional: the InternalIP the node must have

Exactly three nodes, in order: the first plays k8s-1 (the node stage remove_node takes out
of the storage cluster), the second k8s-2, the third k8s-3. Unknown keys, empty lists,
duplicate nodes or devices are refused before any work starts.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import yaml

from ..errors import ConfigError
from ..model import NODES

LAB_DEVICES = ("sdc", "sdd")
_NODE_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")  # RFC 1123 subdomain
_DEVICE = re.compile(r"^(/dev/)?[A-Za-z0-9][A-Za-z0-9._:/+-]{0,200}$")


@dataclass(frozen=True)
class StorageNode:
    name: str
    devices: tuple[str, ...]
    address: Optional[str] = None


@dataclass(frozen=True)
class ClusterConfig:
    path: Path
    nodes: tuple[StorageNode, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(n.name for n in self.nodes)

    def node_map(self) -> dict[str, str]:
        """Lab node (k8s-1..3) -> this cluster's node name."""
        return dict(zip(NODES, self.names))

    def device_map(self, node: str) -> dict[str, str]:
        """Lab device (sdc, sdd) -> this node's device."""
        for n in self.nodes:
            if n.name == node:
                return dict(zip(LAB_DEVICES, n.devices))
        raise KeyError(f"node {node!r} is not in {self.path}")

    def plan_parameters(self) -> dict:
        """What :func:`cephlab.k8s.plan_build.build` takes from this config: each node's
        devices, whether they are loop devices, and the first node's address when given."""
        params: dict = {"devices": {n.name: n.devices for n in self.nodes},
                        "loop_devices": self.uses_loop_devices()}
        if self.nodes[0].address:
            params["address"] = self.nodes[0].address
        return params

    def uses_loop_devices(self) -> bool:
        return any(d.rsplit("/", 1)[-1].startswith("loop") for n in self.nodes for d in n.devices)


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
    unknown = sorted(set(doc) - {"nodes"})
    if unknown:
        raise _fail(path, f"unknown key(s) {', '.join(map(str, unknown))} (allowed: nodes)")
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
    return ClusterConfig(path, nodes)
