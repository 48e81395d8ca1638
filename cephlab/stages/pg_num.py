"""Stage 13: pg_num 150 on k8s-fs-data0 and replicapool."""

from __future__ import annotations

from ..evidence import Probe
from ..k8s import manifests as m
from ..k8s.plan_context import PlanContext
from ..k8s.plan_ops import StagePlan, Toolbox
from ..local.parts import LocalLab
from ..model import BLOCK_POOL, FS_DATA, PG_NUM_TARGET
from ..stage import Stage

STAGE = Stage("13", "pg_num", "pg_num 150 on k8s-fs-data0 and replicapool",
              ("block_pool", "shared_filesystem"))
POOLS_CHANGED = (FS_DATA, BLOCK_POOL)
LAB_STEP = (" and ".join(f"`ceph osd pool set {p} pg_num {PG_NUM_TARGET}`" for p in POOLS_CHANGED)
            + " (the pools started at 100; autoscaler off for them)")


def local(lab: LocalLab) -> None:
    run = lab.daemons.run_at_once
    run(*[("osd", "pool", "set", p, "pg_autoscale_mode", "off") for p in POOLS_CHANGED])
    run(*[("osd", "pool", "set", p, "pg_num", str(PG_NUM_TARGET)) for p in POOLS_CHANGED])


def kubernetes(plan: StagePlan, ctx: PlanContext) -> None:
    plan.apply(m.block_pool(pg_num=PG_NUM_TARGET), m.filesystem(pg_num=PG_NUM_TARGET))
    for pool in POOLS_CHANGED:
        plan.add(Toolbox(("osd", "pool", "set", pool, "pg_autoscale_mode", "off")),
                 Toolbox(("osd", "pool", "set", pool, "pg_num", str(PG_NUM_TARGET))),
                 Toolbox(("osd", "pool", "get", pool, "pg_num")))


def evidence(probe: Probe) -> str | None:
    pools = probe.pools
    changed = [n for n in POOLS_CHANGED if (pools.get(n) or {}).get("pg_num") == PG_NUM_TARGET]
    return f"pg_num {PG_NUM_TARGET} on {', '.join(changed)}" if changed else None
