"""Stage 04: the control-plane taint removed."""

from __future__ import annotations

from ..k8s.plan_context import PlanContext
from ..k8s.plan_ops import Kubectl, StagePlan, Taint
from ..model import NODES
from ..stage import Stage

STAGE = Stage("04", "master_isolation", "control-plane taint removed", ("cni",), kubernetes=True)
LAB_STEP = (f"remove the control-plane NoSchedule taint from {NODES[0]} "
            f"(`kubectl taint nodes --all node-role.kubernetes.io/control-plane-`)")


def kubernetes(plan: StagePlan, ctx: PlanContext) -> None:
    plan.add(Taint(ctx.first, "node-role.kubernetes.io/control-plane:NoSchedule"),
             Kubectl(("get", "node", ctx.first, "-o", "jsonpath={.spec.taints}")))
