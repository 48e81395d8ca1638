"""Stage 11: sdd added on every node."""

from __future__ import annotations

from ..evidence import Probe
from ..k8s.objects import ROOK_NS
from ..k8s.plan_context import PlanContext
from ..k8s.plan_ops import StagePlan, WaitCount, WaitPhase
from ..local.parts import LocalLab
from ..stage import Stage

STAGE = Stage("11", "extend_storage", "sdd added on every node", ("ceph_cluster",),
              invalidated_by=("remove_node",), records_before=("raw_bytes_before_extend",))
LAB_STEP = "add device sdd to every node of the CephCluster's storage.nodes and apply it again"


def osds(layout: dict[str, int], nodes: tuple[str, ...]) -> dict[str, int]:
    return {node: 2 for node in layout}


def local(lab: LocalLab) -> None:
    lab.daemons.add_osds([(node, dev) for node in lab.cfg.nodes for dev in ("sdc", "sdd")])


def kubernetes(plan: StagePlan, ctx: PlanContext) -> None:
    plan.apply(ctx.ceph_cluster(ctx.nodes, 2))
    plan.add(WaitCount("Deployment", ROOK_NS, "app=rook-ceph-osd", 2 * len(ctx.nodes), 1800),
             WaitPhase("CephCluster", "rook-ceph", ROOK_NS, "Ready", 1800))


def evidence(probe: Probe) -> str | None:
    return "a CRUSH host with 2 OSDs" if any(len(ids) >= 2 for ids in probe.hosts.values()) else None
