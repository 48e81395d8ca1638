"""Stage 15: MinIO on CephFS."""

from __future__ import annotations

from ..k8s import manifests as m
from ..k8s.plan_context import PlanContext
from ..k8s.plan_ops import Exec, HttpCheck, Rollout, StagePlan, WaitCondition
from ..model import PORTS
from ..stage import Stage

STAGE = Stage("15", "minio", "MinIO on CephFS", ("shared_filesystem",), kubernetes=True)
LAB_STEP = (f"a helper pod makes /minio and /ghost on CephFS; MinIO with /data on CephFS path /minio, "
            f"NodePort {PORTS['minio']}")


def kubernetes(plan: StagePlan, ctx: PlanContext) -> None:
    plan.apply(*m.cephfs_helper())
    plan.add(WaitCondition("Pod", "cephfs-helper", m.APPS_NS, "Ready", 300),
             Exec("Pod", "cephfs-helper", m.APPS_NS,
                  ("mkdir", "-p", f"{m.CEPHFS_MOUNT}/minio", f"{m.CEPHFS_MOUNT}/ghost")))
    plan.apply(m.minio_secret(ctx.secrets), *m.minio())
    plan.add(Rollout("Deployment", "minio", m.APPS_NS, 600),
             HttpCheck(ctx.url("minio", "/minio/health/ready"), path_ok=True))
