"""Stage 14: k8s-1's storage removed without data loss."""

from __future__ import annotations

from typing import Sequence

from ..evidence import Probe
from ..k8s.objects import ROOK_NS, crush_host_name
from ..k8s.plan_context import PlanContext
from ..k8s.plan_ops import NodeScript, Note, RemoveOsds, Scale, StagePlan, Toolbox
from ..local.parts import LocalLab
from ..model import REMOVED_NODE
from ..stage import Stage

STAGE = Stage("14", "remove_node", "k8s-1's storage removed without data loss",
              ("extend_storage", "block_pool", "shared_filesystem"), destructive=True)
LAB_STEP = (f"remove {REMOVED_NODE} from the CephCluster's storage.nodes: its OSDs out, "
            f"drained, purged, its CRUSH host removed")
WIPE_SCRIPT = "wipe-disks.sh"
#: BlueStore keeps copies of its label past the start of the disk: Rook's teardown guide
#: (Documentation/Storage-Configuration/ceph-teardown.md, "Zapping Devices") clears 200 KiB
#: at 0, 1, 10, 100 and 1000 GiB.
ZAP_OFFSETS_GIB = (0, 1, 10, 100, 1000)


def osds(layout: dict[str, int], nodes: tuple[str, ...]) -> dict[str, int]:
    layout.pop(REMOVED_NODE, None)
    return layout


def local(lab: LocalLab) -> None:
    leaving = [int(k.split(".")[1]) for k, v in lab.daemons.osd_map().items()
               if v["node"] == REMOVED_NODE]
    with lab.holding(out=leaving, down=leaving):  # out, drained, stopped: on purpose
        lab.daemons.remove_node_osds(REMOVED_NODE)


def wipe_script(devices: Sequence[str]) -> str:
    devs = " ".join(d if d.startswith("/dev/") else f"/dev/{d}" for d in devices)
    offsets = " ".join(str(o) for o in ZAP_OFFSETS_GIB)
    return f"""#!/bin/sh
# Make the removed node's OSD disks empty again, or Rook recreates OSDs on its next scan.
set -eu
for dev in {devs}; do
  wipefs --all "$dev"
  sgdisk --zap-all "$dev" || true
  size=$(blockdev --getsize64 "$dev")
  # 200 KiB at each offset the disk has (dd past the end would fail)
  for gib in {offsets}; do
    if [ $((gib * 1073741824 + 204800)) -le "$size" ]; then
      dd if=/dev/zero of="$dev" bs=1K count=200 seek=$((gib * 1048576)) oflag=direct,dsync status=none
    fi
  done
  blkdiscard "$dev" || true
  partprobe "$dev" || true
done
# ceph-volume LVM leftovers, if the OSDs were created in LVM mode
for mapping in /dev/mapper/ceph--*; do [ -e "$mapping" ] && dmsetup remove "$mapping"; done
rm -rf /dev/ceph-*
"""


def kubernetes(plan: StagePlan, ctx: PlanContext) -> None:
    removed = ctx.removed
    kept = tuple(n for n in ctx.nodes if n != removed)
    plan.add(Note("the operator would re-create what is being removed: stop it for the duration"),
             Scale("rook-ceph-operator", ROOK_NS, 0))
    plan.apply(ctx.ceph_cluster(kept, 2))
    plan.add(RemoveOsds(crush_host_name(ctx.hostnames[removed])), *ctx.osd_cleanup)
    plan.add(NodeScript(removed, WIPE_SCRIPT, wipe_script(ctx.devices[removed]), via=ctx.via))
    plan.add(Scale("rook-ceph-operator", ROOK_NS, 1), Toolbox(("osd", "tree")), Toolbox(("status",)))


def evidence(probe: Probe) -> str | None:
    removed = probe.crush_host(REMOVED_NODE)
    hosts = probe.hosts
    if probe.osd_dump.get("osds") and hosts and not hosts.get(removed):
        return f"CRUSH host {removed} holds no OSD"
    return None
