"""The lab's own names and numbers, from the lab spec: nodes, addresses, pools, ports.
Target-independent, so the same expectations are checked on every target; what the lab
looks like after a set of stages (OSD layout, pools) is derived from the stages' modules
(:func:`cephlab.stages.osd_layout`, :func:`cephlab.stages.lab_pools`)."""

from __future__ import annotations

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

