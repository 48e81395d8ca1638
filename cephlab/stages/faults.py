"""Stage 10c: faults injected, nothing lost (beyond the 2018 lab).

Data survives daemons and a node going away. It runs on the one-OSD-per-node layout, where
every pool keeps a copy off any single node (the lab's CephFS data pool has failure domain
osd, so with two OSDs per node a node's loss can take both copies of some objects). It
builds nothing: its scenarios act on what its requirements built, on the local target,
which SIGKILLs the lab's Ceph daemons by recorded pid.
"""

from __future__ import annotations

from ..stage import Stage

STAGE = Stage("10c", "faults", "faults injected, nothing lost",
              ("block_pool", "shared_filesystem", "object_store", "mysql"), destructive=True,
              invalidated_by=("extend_storage", "remove_node"), builds=False)
LAB_STEP = "not a stage of the lab (the harness's own fault injection)"
ACTS_ON = ("local",)
