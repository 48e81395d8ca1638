"""Stage 09: the replicated pool replicapool and block storage."""

from __future__ import annotations

from ..evidence import Probe
from ..k8s import manifests as m
from ..k8s.objects import ROOK_NS
from ..k8s.plan_context import PlanContext
from ..k8s.plan_ops import StagePlan, WaitPhase
from ..local.parts import POOL_INITIAL_PG_NUM, LocalLab
from ..model import BLOCK_POOL, POOL_SIZE
from ..stage import Stage

STAGE = Stage("09", "block_pool", "replicated pool replicapool and block storage", ("ceph_cluster",))
LAB_STEP = (f"CephBlockPool {BLOCK_POOL} with replicated.size: {POOL_SIZE} "
            f"(failureDomain host) and StorageClass rook-ceph-block")
POOLS = (BLOCK_POOL,)


def local(lab: LocalLab) -> None:
    ceph = lab.ceph
    ceph.run("osd", "pool", "create", BLOCK_POOL, str(POOL_INITIAL_PG_NUM),
             str(POOL_INITIAL_PG_NUM), "replicated")
    ceph.run("osd", "pool", "set", BLOCK_POOL, "size", str(POOL_SIZE))
    ceph.run("pool", "init", BLOCK_POOL, tool="rbd")


def kubernetes(plan: StagePlan, ctx: PlanContext) -> None:
    plan.apply(m.block_pool(), m.rbd_storage_class())
    plan.add(WaitPhase("CephBlockPool", BLOCK_POOL, ROOK_NS, "Ready", 600))


def evidence(probe: Probe) -> str | None:
    return f"pool {BLOCK_POOL}" if BLOCK_POOL in probe.pools else None
