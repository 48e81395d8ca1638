"""Stage 16: MySQL on Ceph block storage."""

from __future__ import annotations

from ..evidence import Probe
from ..k8s import manifests as m
from ..k8s.plan_context import PlanContext
from ..k8s.plan_ops import Exec, Rollout, StagePlan
from ..local.parts import LocalLab
from ..model import PORTS
from ..stage import Stage

STAGE = Stage("16", "mysql", "MySQL on Ceph block storage", ("block_pool",))
LAB_STEP = (f"PVC mysql-pvc (5Gi, RWO) from StorageClass rook-ceph-block; MySQL on it, strategy "
            f"Recreate, NodePort {PORTS['mysql']}")


def sql(statement: str) -> tuple[str, ...]:
    """A statement run as MySQL's root in the MySQL container (the password from its env)."""
    return ("sh", "-c", f'MYSQL_PWD="$MYSQL_ROOT_PASSWORD" mysql -uroot -e "{statement}"')


def local(lab: LocalLab) -> None:
    lab.mysql.deploy()


def kubernetes(plan: StagePlan, ctx: PlanContext) -> None:
    plan.apply(m.mysql_secret(ctx.secrets), *m.mysql())
    plan.add(Rollout("Deployment", "mysql", m.APPS_NS, 900),
             Exec("Deployment", "mysql", m.APPS_NS, sql("SHOW DATABASES")))


def evidence(probe: Probe) -> str | None:
    return probe.answers("mysql")
