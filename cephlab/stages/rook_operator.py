"""Stage 06: the Rook operator and its CRDs."""

from __future__ import annotations

from .. import versions
from ..k8s.objects import ROOK_NS
from ..k8s.plan_context import PlanContext
from ..k8s.plan_ops import ApplyUrl, ApplyUrlEdited, Note, Rollout, StagePlan, WaitCondition
from ..stage import Stage

STAGE = Stage("06", "rook_operator", "Rook operator and CRDs", ("master_isolation",), kubernetes=True)
LAB_STEP = "deploy Rook's CRDs, common resources and operator (operator.yaml)"
#: operator.yaml's line for loop devices (Rook v1.20.6 deploy/examples/operator.yaml:32)
LOOP_DEVICES_OFF = '  ROOK_CEPH_ALLOW_LOOP_DEVICES: "false"'
LOOP_DEVICES_ON = '  ROOK_CEPH_ALLOW_LOOP_DEVICES: "true"'


def kubernetes(plan: StagePlan, ctx: PlanContext) -> None:
    crds, common, csi, operator = versions.ROOK_MANIFESTS
    plan.add(ApplyUrl(crds), ApplyUrl(common), ApplyUrl(csi))
    if ctx.loop_devices:
        plan.add(Note("the OSD devices are loop devices, which Rook skips unless its operator "
                      "config allows them: set in what is applied, never patched in later"),
                 ApplyUrlEdited(operator, ((LOOP_DEVICES_OFF, LOOP_DEVICES_ON),)))
    else:
        plan.add(ApplyUrl(operator))
    plan.add(WaitCondition("CustomResourceDefinition", "cephclusters.ceph.rook.io", None,
                           "Established", 120),
             Rollout("Deployment", "rook-ceph-operator", ROOK_NS, 600))
