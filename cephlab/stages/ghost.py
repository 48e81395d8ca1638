"""Stage 17: Ghost on CephFS and MySQL.

On Kubernetes MinIO's stage makes /ghost on CephFS; locally Ghost's own stage does.
"""

from __future__ import annotations

from ..evidence import Probe
from ..k8s import manifests as m
from ..k8s.plan_context import PlanContext
from ..k8s.plan_ops import Exec, HttpCheck, Rollout, StagePlan, WaitCondition
from ..local.parts import LocalLab
from ..model import PORTS
from ..stage import Stage
from .mysql import sql

STAGE = Stage("17", "ghost", "Ghost on CephFS and MySQL", ("mysql", "shared_filesystem", "minio"))
LAB_STEP = (f"create database ghost; Ghost with database__client=mysql, content on CephFS path /ghost, "
            f"NodePort {PORTS['ghost']}")


def local(lab: LocalLab) -> None:
    lab.ghost.deploy()


def kubernetes(plan: StagePlan, ctx: PlanContext) -> None:
    plan.apply(m.ghost_database_job())
    plan.add(WaitCondition("Job", "ghost-db-init", m.APPS_NS, "Complete", 600))
    plan.apply(*m.ghost(ctx.url("ghost", "")))
    plan.add(Rollout("Deployment", "ghost", m.APPS_NS, 900),
             HttpCheck(ctx.url("ghost")),
             Exec("Deployment", "mysql", m.APPS_NS, sql("SHOW TABLES FROM ghost")))


def evidence(probe: Probe) -> str | None:
    return probe.answers("ghost")
