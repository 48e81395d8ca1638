"""What a stage's work on the local target uses of it (:class:`LocalLab`), and the local
lab's own choices that more than one stage's work shares.

The local target (:class:`cephlab.local.target.LocalTarget`) is the one implementation; the
stage modules (:mod:`cephlab.stages`) see only this, so they need not import the target.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ContextManager, Iterable, Protocol

from ..model import NODES

if TYPE_CHECKING:
    from ..ceph import CephRunner
    from ..config import LabConfig
    from .blockdb import BlockDatabase
    from .daemons import CephDaemons
    from .ghost import GhostBlog
    from .services import RGW, Dashboard

POOL_INITIAL_PG_NUM = 32  # a power of two: HEALTH_OK until the pg_num stage sets 150
OSD_RULE = "replicated_osd"  # the lab's CephFS data pool has failure domain osd
MDS_NODES = NODES[1:]  # active + standby-replay on two nodes, as Rook spreads them


class LocalLab(Protocol):
    cfg: LabConfig
    daemons: CephDaemons
    dashboard: Dashboard
    rgw: RGW
    mysql: BlockDatabase
    ghost: GhostBlog

    @property
    def ceph(self) -> CephRunner: ...

    def holding(self, *, flags: Iterable = (), out: Iterable = (),
                down: Iterable = ()) -> ContextManager[None]:
        """While inside, the harness itself holds these states (see the target)."""
        ...
