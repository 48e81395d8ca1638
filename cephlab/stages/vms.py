"""Stage 01: three VMs from the Vagrantfile."""

from __future__ import annotations

from ..k8s.plan_context import PlanContext
from ..k8s.plan_ops import Kubectl, Note, Ssh, StagePlan
from ..model import NODES, SUBNET
from ..stage import Stage

STAGE = Stage("01", "vms", "three VMs from the Vagrantfile", kubernetes=True)
LAB_STEP = (f"`vagrant up` from the Vagrantfile: {', '.join(NODES)} on {SUBNET}.2-4, "
            f"two empty 10 GiB disks sdc and sdd")


def kubernetes(plan: StagePlan, ctx: PlanContext) -> None:
    if ctx.hosts.builds_kubernetes:
        plan.add(*ctx.hosts.machines, *(
            Ssh(n, ("sh", "-c", "hostname; ip -4 -o addr show; lsblk -dno NAME,SIZE,TYPE"), sudo=False,
                via=ctx.via)
            for n in ctx.nodes))
    else:
        plan.add(Note(f"{ctx.hosts.target} target: the nodes exist already; nothing is created"),
                 Kubectl(("get", "nodes", "-o", "wide")))
