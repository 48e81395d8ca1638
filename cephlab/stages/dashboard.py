"""Stage 05: the Kubernetes Dashboard with an admin token."""

from __future__ import annotations

from ..k8s import manifests as m
from .. import versions
from ..k8s.plan_context import PlanContext
from ..k8s.plan_ops import HelmInstall, HttpCheck, Kubectl, Note, StagePlan
from ..model import PORTS
from ..stage import Stage

STAGE = Stage("05", "dashboard", "Kubernetes Dashboard with an admin token",
              ("master_isolation",), kubernetes=True)
LAB_STEP = (f"deploy the Kubernetes Dashboard, ServiceAccount admin-user bound to cluster-admin, "
            f"Service type NodePort {PORTS['dashboard']}")


def kubernetes(plan: StagePlan, ctx: PlanContext) -> None:
    plan.add(HelmInstall("kubernetes-dashboard", versions.DASHBOARD_CHART_URL, m.DASHBOARD_NS))
    plan.apply(*m.dashboard_access())
    plan.add(Note("a short-lived bearer token, created at run time and never written down"),
             Kubectl(("-n", m.DASHBOARD_NS, "create", "token", "admin-user", "--duration=1h"),
                     secret=True),
             HttpCheck(ctx.url("dashboard", scheme="https"), insecure=True))
