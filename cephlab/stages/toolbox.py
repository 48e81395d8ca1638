"""Stage 12: the Ceph CLI answers and agrees with the lab."""

from __future__ import annotations

from .. import invoke
from ..k8s.objects import ROOK_NS, TOOLBOX
from ..k8s.plan_context import PlanContext
from ..k8s.plan_ops import Note, Rollout, StagePlan, Toolbox
from ..local.parts import LocalLab
from ..stage import Stage

STAGE = Stage("12", "toolbox", "Ceph CLI answers and agrees with the lab", ("ceph_cluster",))
LAB_STEP = ("deploy the Rook toolbox (toolbox.yaml) and run `ceph status`, `ceph osd status`, "
            "`ceph df`, `rados df` in it")


def local(lab: LocalLab) -> None:
    # The local toolbox is the lab's own Ceph client (its release, its root, its ceph.conf);
    # toolbox.env makes ceph, rados and rbd that client in a shell.
    (lab.cfg.lab_dir / "toolbox.env").write_text(
        invoke.toolbox_env(lab.cfg.lab_dir, lab.daemons.describe_ceph()))


def kubernetes(plan: StagePlan, ctx: PlanContext) -> None:
    plan.add(Note("the toolbox came with stage ceph_cluster: it must still be there"),
             Rollout("Deployment", TOOLBOX, ROOK_NS, 300),
             Toolbox(("status",)), Toolbox(("osd", "status")), Toolbox(("df",)),
             Toolbox(("df",), tool="rados"))
