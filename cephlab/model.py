"""What the lab should look like after a set of applied stages: names from the lab spec and
the expected OSD layout and pools. Target-independent, so the same expectations are
checked on every target."""

from __future__ import annotations

from typing import Iterable

NODES = ("k8s-1", "k8s-2", "k8s-3")
BLOCK_POOL = "replicapool"
FS_NAME, FS_METADATA, FS_DATA = "k8s-fs", "k8s-fs-metadata", "k8s-fs-data0"
POOL_SIZE = 2
PG_NUM_TARGET = 150
REMOVED_NODE = "k8s-1"


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
