"""Stage 02: kubeadm init and join."""

from __future__ import annotations

from ..k8s import manifests as m
from .. import versions
from ..k8s.plan_context import PlanContext
from ..k8s.plan_ops import FetchKubeconfig, KubeadmJoin, Kubectl, Note, Ssh, StagePlan
from ..model import NODES, POD_CIDR, SUBNET
from ..stage import Stage

STAGE = Stage("02", "kubernetes", "kubeadm init and join", ("vms",), kubernetes=True)
LAB_STEP = (f"`kubeadm init --pod-network-cidr={POD_CIDR} --apiserver-advertise-address={SUBNET}.2` "
            f"on {NODES[0]}, `kubeadm join` on {NODES[1]} and {NODES[2]}")
ADMIN_CONF = "/etc/kubernetes/admin.conf"


def kubernetes(plan: StagePlan, ctx: PlanContext) -> None:
    if ctx.hosts.builds_kubernetes:
        via = ctx.via
        plan.add(*(Ssh(n, ("swapoff", "-a"), via=via) for n in ctx.nodes))
        plan.add(Note("kubeadm init only where it never ran: a second run finds admin.conf"),
                 Ssh(ctx.first, ("kubeadm", "init", f"--kubernetes-version=v{versions.KUBERNETES}",
                                 f"--pod-network-cidr={POD_CIDR}",
                                 f"--apiserver-advertise-address={m.lab_ip(0)}", *ctx.hosts.kubeadm_flags),
                     unless_exists=ADMIN_CONF, via=via),
                 KubeadmJoin(ctx.first, ctx.rest, via=via),
                 FetchKubeconfig(ctx.first, via=via, server=ctx.hosts.api_server))
    plan.add(Kubectl(("version",)), Kubectl(("get", "nodes", "-o", "wide")))
