"""Stage 07: a Ceph cluster on sdc of every node."""

from __future__ import annotations

from ..evidence import Probe
from ..k8s import manifests as m
from ..k8s.objects import ROOK_NS, TOOLBOX
from ..k8s.plan_context import PlanContext
from ..k8s.plan_ops import Kubectl, Note, Rollout, StagePlan, WaitPhase
from ..local.parts import LocalLab
from ..model import NODES
from ..stage import Stage

STAGE = Stage("07", "ceph_cluster", "Ceph cluster on sdc of every node", ("rook_operator",),
              invalidated_by=("extend_storage", "remove_node"))
LAB_STEP = (f"CephCluster with useAllNodes: false, useAllDevices: false and nodes {', '.join(NODES)} "
            f"each with device sdc")


def osds(layout: dict[str, int], nodes: tuple[str, ...]) -> dict[str, int]:
    return {node: 1 for node in nodes}


def local(lab: LocalLab) -> None:
    lab.daemons.bootstrap()
    lab.daemons.add_osds([(node, "sdc") for node in lab.cfg.nodes])
    lab.daemons.wait_mgr()


def kubernetes(plan: StagePlan, ctx: PlanContext) -> None:
    plan.apply(*ctx.osd_objects)
    plan.apply(ctx.ceph_cluster(ctx.nodes, 1))
    plan.add(WaitPhase("CephCluster", "rook-ceph", ROOK_NS, "Ready", 1800),
             Kubectl(("-n", ROOK_NS, "get", "pods", "-l", "app=rook-ceph-osd", "-o", "wide")),
             Note("the Ceph CLI of every later stage runs in the toolbox"))
    plan.apply(m.toolbox())
    plan.add(Rollout("Deployment", TOOLBOX, ROOK_NS, 300))


def evidence(probe: Probe) -> str | None:
    count = len(probe.osd_dump.get("osds") or [])
    return f"{count} OSDs" if count else None
