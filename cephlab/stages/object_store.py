"""Stage 10b: S3 object storage on RGW (the lab names object storage but never deploys it)."""

from __future__ import annotations

from ..evidence import Probe
from ..k8s import manifests as m
from ..k8s.objects import ROOK_NS
from ..k8s.plan_context import PlanContext
from ..k8s.plan_ops import StagePlan, WaitPhase
from ..local.parts import LocalLab
from ..stage import Stage

STAGE = Stage("10b", "object_store", "S3 object storage on RGW", ("ceph_cluster",))
LAB_STEP = "a CephObjectStore (RGW) with a user; the lab names object storage but never deploys it"


def local(lab: LocalLab) -> None:
    lab.rgw.deploy()


def kubernetes(plan: StagePlan, ctx: PlanContext) -> None:
    plan.apply(*m.object_store())
    plan.add(WaitPhase("CephObjectStore", m.OBJECT_STORE, ROOK_NS, "Ready", 900),
             WaitPhase("ObjectBucketClaim", "lab-bucket", m.APPS_NS, "Bound", 300))


def evidence(probe: Probe) -> str | None:
    return probe.answers("s3")
