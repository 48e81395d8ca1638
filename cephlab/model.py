"""What the lab should look like after a set of applied stages: names from the lab spec and
the expected OSD layout and pools. Target-independent, so the same expectations are
checked on every target."""

from __future__ import annotations

from typing import Iterable

# The one place for the lab's own constants: every target, renderer and step imports them.
NODES = ("k8s-1", "k8s-2", "k8s-3")
SUBNET = "10.254.1"              #: the lab's private network; k8s-N is SUBNET.N+1
POD_CIDR = "192.168.0.0/16"      #: Calico's pool in the lab
#: the local target's stand-in for SUBNET: k8s-N listens on LOCAL_IP_PREFIX.N+1 (loopback)
LOCAL_IP_PREFIX = "127.0.1"
BLOCK_POOL = "replicapool"
FS_NAME, FS_METADATA, FS_DATA = "k8s-fs", "k8s-fs-metadata", "k8s-fs-data0"
POOL_SIZE = 2
PG_NUM_TARGET = 150
REMOVED_NODE = NODES[0]      #: stage remove_node takes this node's storage away
SERVICE_NODE = NODES[0]      #: clients reach the lab's services on this node's address
#: Where the lab's services listen: NodePorts on Kubernetes, the same ports on k8s-1's
#: address on the local target. 30000/30001/30010/30020 are the lab's; the rest are ours.
PORTS = {
    "dashboard": 30000,
    "ceph_dashboard": 30001,
    "minio": 30010,
    "minio_console": 30011,
    "mysql": 30020,
    "ghost": 30030,
    "rgw": 30040,
}
#: The blog owner the harness sets up through Ghost's Admin API (its password is generated).
GHOST_OWNER_EMAIL = "owner@cephlab.example"


def osd_layout(applied: Iterable[str], nodes: Iterable[str] = NODES) -> dict[str, int]:
    """CRUSH host -> number of OSDs."""
    applied = set(applied)
    if "ceph_cluster" not in applied:
        return {}
    per_node = 2 if "extend_storage" in applied else 1
    layout = {node: per_node for node in nodes}
    if "remove_node" in applied:
        layout.pop(REMOVED_NODE, None)
    return layout


def lab_pools(applied: Iterable[str]) -> list[str]:
    applied = set(applied)
    pools = []
    if "block_pool" in applied:
        pools.append(BLOCK_POOL)
    if "shared_filesystem" in applied:
        pools += [FS_METADATA, FS_DATA]
    return pools
