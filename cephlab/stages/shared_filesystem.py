"""Stage 10: CephFS k8s-fs with an active and a standby-replay MDS."""

from __future__ import annotations

from ..evidence import Probe
from ..k8s import manifests as m
from ..k8s.objects import ROOK_NS
from ..k8s.plan_context import PlanContext
from ..k8s.plan_ops import Kubectl, StagePlan, WaitPhase
from ..local.parts import MDS_NODES, OSD_RULE, POOL_INITIAL_PG_NUM, LocalLab
from ..model import FS_DATA, FS_METADATA, FS_NAME, POOL_SIZE
from ..stage import Stage

STAGE = Stage("10", "shared_filesystem", "CephFS k8s-fs with active and standby-replay MDS",
              ("ceph_cluster",))
LAB_STEP = (f"CephFilesystem {FS_NAME}: metadataPool replicated.size {POOL_SIZE}, "
            f"one data pool replicated.size {POOL_SIZE} (failureDomain osd), "
            f"metadataServer activeCount: 1, activeStandby: true")
POOLS = (FS_METADATA, FS_DATA)


def local(lab: LocalLab) -> None:
    ceph, daemons = lab.ceph, lab.daemons
    # The MDS daemons start first and boot as standbys while the pools are made.
    for node in MDS_NODES:
        daemons.start_mds(node)
    daemons.run_at_once(
        ("osd", "crush", "rule", "create-replicated", OSD_RULE, "default", "osd"),
        ("osd", "pool", "create", FS_METADATA, "16", "16", "replicated"))
    ceph.run("osd", "pool", "create", FS_DATA, str(POOL_INITIAL_PG_NUM),
             str(POOL_INITIAL_PG_NUM), "replicated", OSD_RULE)
    daemons.run_at_once(*[("osd", "pool", "set", pool, "size", str(POOL_SIZE))
                          for pool in (FS_METADATA, FS_DATA)])
    res = ceph.run("fs", "new", FS_NAME, FS_METADATA, FS_DATA, check=False)
    if res.rc != 0 and "already exists" not in res.stderr:
        res.check()
    ceph.run("fs", "set", FS_NAME, "allow_standby_replay", "true")


def kubernetes(plan: StagePlan, ctx: PlanContext) -> None:
    plan.apply(m.filesystem())
    plan.add(WaitPhase("CephFilesystem", FS_NAME, ROOK_NS, "Ready", 900),
             Kubectl(("-n", ROOK_NS, "get", "pods", "-l",
                      f"app=rook-ceph-mds,rook_file_system={FS_NAME}")))


def evidence(probe: Probe) -> str | None:
    return f"pool {FS_DATA}" if FS_DATA in probe.pools else None
