"""Stage 08: the Ceph mgr dashboard, reachable."""

from __future__ import annotations

from ..evidence import Probe
from ..k8s import manifests as m
from ..k8s.plan_context import PlanContext
from ..k8s.plan_ops import HttpCheck, Note, StagePlan
from ..local.parts import LocalLab
from ..model import PORTS
from ..stage import Stage

STAGE = Stage("08", "ceph_dashboard", "Ceph mgr dashboard reachable", ("ceph_cluster",))
LAB_STEP = (f"the NodePort Service {PORTS['ceph_dashboard']} in front of the mgr dashboard "
            f"(dashboard enabled in the CephCluster)")


def local(lab: LocalLab) -> None:
    lab.dashboard.deploy()


def kubernetes(plan: StagePlan, ctx: PlanContext) -> None:
    plan.apply(m.ceph_dashboard_service(ssl=False))
    plan.add(Note("user admin; the password is read at run time from secret rook-ceph-dashboard-password"),
             HttpCheck(ctx.url("ceph_dashboard")))


def evidence(probe: Probe) -> str | None:
    return probe.answers("ceph_dashboard")
