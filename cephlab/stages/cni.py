"""Stage 03: the Calico pod network."""

from __future__ import annotations

from ..k8s import manifests as m
from .. import versions
from ..k8s.plan_context import PlanContext
from ..k8s.plan_ops import ApplyUrl, Kubectl, Note, Rollout, StagePlan, WaitNodesReady
from ..model import POD_CIDR, SUBNET
from ..stage import Stage

STAGE = Stage("03", "cni", "Calico pod network", ("kubernetes",), kubernetes=True)
LAB_STEP = f"install Calico for {POD_CIDR} on the private interface (node InternalIP {SUBNET}.x)"


def kubernetes(plan: StagePlan, ctx: PlanContext) -> None:
    hosts = ctx.hosts
    if hosts.builds_kubernetes and not hosts.calico:
        plan.add(Note(f"the {hosts.target} target lays its own pod network (a substitute it "
                      f"names) before this stage's wait"))
    if hosts.builds_kubernetes and hosts.calico:
        plan.add(Note("Calico reads this ConfigMap (envFrom) when calico-node first starts: node "
                      "addresses are the kubelets' InternalIPs (the private network), never the "
                      "NAT interface"))
        plan.apply(m.calico_settings())
        plan.add(ApplyUrl(versions.CALICO_MANIFEST),
                 Rollout("DaemonSet", "calico-node", "kube-system", 600))
    plan.add(WaitNodesReady(600), Kubectl(("get", "nodes", "-o", "wide")))
