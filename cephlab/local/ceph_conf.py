"""The local lab's ceph.conf: every path inside the lab directory, every daemon on its node's
loopback address, and the clocks and throttles sized for a lab this small."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from ..config import LabConfig
from .listeners import MON_PORTS

#: ceph.conf [global] lines that size Ceph's clocks and throttles for this lab: three nodes
#: on loopback, a few megabytes of data, BlueStore on sparse files that report themselves
#: rotational (device class hdd), so Ceph's HDD throttles would apply. None changes what the
#: lab is (pools, sizes, failure domains); each only makes Ceph notice or finish sooner.
#: Every option exists in 16, 18 and 20; what only 18/20 have is in releases.py.
LAB_TIMING = (
    # The mons run their periodic checks (MDS beacons, OSD reports, health) every second,
    # not every 5 s: the detection below cannot be faster than this tick.
    "mon tick interval = 1",
    # MDS beacons every second (default 4 s), declared failed after 4 s without one
    # (default 15 s), so a standby-replay takes over within ~5 s. The mons skip the check
    # after a tick gap longer than grace - interval (20: 3 s) or half the grace (16: 2 s);
    # with a 1 s tick that only happens when the machine stalls, which delays, never fails.
    "mds beacon interval = 1",
    "mds beacon grace = 4",
    # A quorum younger than this defers failing an MDS (default 60 s): the node fault
    # restarts a mon just before the MDS fault, so this must not exceed the grace above.
    "mds beacon mon down grace = 4",
    # Mon leases of 2 s (default 5 s): a mon that died while in quorum is noticed when its
    # lease ack / accept is 2 x lease = 4 s late (default 10 s), then 2 mons re-elect.
    "mon lease = 2",
    # Map changes (OSD down/up, up_thru for peering, pg_temp) are proposed 0.2 s after they
    # arrive, not batched for 1 s: peering waits on several of them in a row.
    "paxos propose interval = 0.2",
    # OSDs resend failure reports and their state to the mons every second (default 5 s).
    "osd mon report interval = 1",
    # OSDs send PG stats to the mgr every second (default 5 s), and the mgr reports health
    # and the PG summary to the mons (and steps pg_num) every second (default 2 s): what
    # `ceph status` and `health detail` say lags the cluster by ~1 s, not up to 7 s.
    "mgr stats period = 1",
    "mgr tick period = 1",
    # Peer heartbeats every second, a silent peer reported after 6 s (defaults 6 s / 20 s):
    # what bounds noticing an OSD cut off by the partition fault. A killed OSD is reported
    # at once anyway (connection refused). Not lower: at load 12-20 on 2 cores (CI) an OSD
    # answers late, and a wrongly-marked-down OSD would make waits slower, not faster.
    "osd heartbeat interval = 1",
    "osd heartbeat grace = 6",
    # ... and the grace stays 6 s: the mons otherwise stretch it for an OSD with a history of
    # being marked down (8.1 s seen), and every fault marks k8s-3's OSD down on purpose.
    "mon osd adjust heartbeat grace = false",
    # Every daemon and client pings its mon every second and looks for another after 5 s
    # without an answer (defaults 10 s / 30 s): a daemon whose mon session was on the node
    # the partition fault cuts off (k8s-2's MDS was, in a run) otherwise sits 30 s unheard.
    "mon client ping interval = 1",
    "mon client ping timeout = 5",
    # A client whose request has gone unanswered for 2 s asks the mons for a newer OSD map,
    # looking every second (defaults 10 s and 5 s): a write in flight to an OSD that was just
    # killed otherwise learns only 10-15 s later that the OSD is down and its PG elsewhere
    # (a `rados put` of the OSD fault sat 10 s). Asking costs one map request, nothing else.
    "objecter timeout = 2",
    "objecter tick interval = 1",
    # A connection that is not ready after 4 s is dropped and dialled again (default 10 s),
    # after at most 1 s of back-off (default 15 s): after the partition fault heals, a
    # connect whose SYNs were dropped would otherwise sit in the kernel's SYN back-off and
    # then the messenger's, and the cut-off node rejoined 13 s after the heal.
    "ms connection ready timeout = 4",
    "ms max backoff = 1",
    # The disks are files on one fast disk, not spindles: no sleep between recovery,
    # PG-deletion or snap-trim operations on "hdd" OSDs (defaults 0.1 s, 5 s, 5 s). Under
    # mClock (18, 20) Ceph zeroes these itself; the wpq scheduler (16) honours them.
    "osd recovery sleep hdd = 0",
    "osd delete sleep hdd = 0",
    "osd snap trim sleep hdd = 0",
    # Up to 8 PGs backfill to/from one OSD at once, 8 recovery ops in flight (defaults 1
    # and 3 for hdd): draining k8s-1 moves hundreds of tiny PGs. mClock (18, 20) applies
    # these only with osd_mclock_override_recovery_settings (releases.py).
    "osd max backfills = 8",
    "osd recovery max active = 8",
    # A backfill or recovery whose reservation was refused retries after 2 s, not 30 s.
    "osd backfill retry interval = 2",
    "osd recovery retry interval = 2",
    # The mgr moves pgp_num to pg_num in one step, not in steps that misplace at most 5% of
    # the objects each (a few MB here): the pg_num stage's 32 -> 150 split otherwise waits
    # for one mgr tick and a round of peering per step.
    "target max misplaced ratio = 1",
    # Each BlueStore OSD (and each mkfs) reserves 2 x this many kernel AIO events from the
    # machine-wide fs.aio-max-nr (65536 here): at the default 1024, 32 OSDs of all the labs
    # on a machine exhaust it and the next mkfs aborts (io_setup EAGAIN, seen here). A lab
    # OSD on a sparse file never has more than a few dozen I/Os in flight.
    "bdev aio max queue depth = 128",
)



def mon_addrs(ip: str) -> str:
    """A mon's addresses on its node's ``ip``: messenger v2 and v1 on the mon ports."""
    return f"[v2:{ip}:{MON_PORTS[0]},v1:{ip}:{MON_PORTS[1]}]"


def render(cfg: LabConfig, fsid: str, keyring: Path, release_lines: Sequence[str] = ()) -> str:
    """ceph.conf of the lab in ``cfg.lab_dir``: one mon per node, ``release_lines`` being
    what only the running release has (:meth:`cephlab.local.releases.Release.conf_lines`)."""
    d = cfg.lab_dir
    mon_host = ",".join(mon_addrs(cfg.loopback_ip(n)) for n in cfg.nodes)
    return "\n".join([
        "# Written by cephlab for the local lab; every path is inside the lab directory.",
        "[global]",
        f"fsid = {fsid}",
        f"mon initial members = {', '.join(cfg.nodes)}",
        f"mon host = {mon_host}",
        "auth cluster required = cephx",
        "auth service required = cephx",
        "auth client required = cephx",
        f"keyring = {keyring}",
        f"run dir = {d / 'run'}",
        f"crash dir = {d / 'crash'}",
        f"log file = {d / 'log'}/$cluster-$name.log",
        # The mons' cluster and audit logs in the lab too (default /var/log/ceph: the
        # host's, or the root's read-only one, where every entry failed to be written);
        # one file per mon, as every mon writes each entry.
        f"mon cluster log file = {d / 'log'}/$cluster-$name.$channel.log",
        "ms bind ipv4 = true",
        "ms bind ipv6 = false",
        # Daemons connect from their node's own address, not 127.0.0.1, so the partition
        # fault can cut one node off by its address (cephlab/local/partition.py).
        "ms bind before connect = true",
        "osd pool default size = 2",
        "osd pool default min size = 1",
        "osd pool default pg num = 8",
        "osd pool default pgp num = 8",
        "osd pool default pg autoscale mode = off",
        "osd crush chooseleaf type = 1",
        "mon allow pool delete = true",
        "mon allow pool size one = false",
        "mon max pg per osd = 500",
        "mon warn on pool no redundancy = true",
        # The lab shares this machine's disk with everything else on it: warn only when
        # it is really full, not at the default 30 % free.
        "mon data avail warn = 5",
        "mon data avail crit = 2",
        "auth allow insecure global id reclaim = false",
        # Loopback mons: a lost election is retried after 1 s, not 5 s.
        "mon election timeout = 1",
        # restful cannot load on Debian's pacific (PyO3 may be initialised only once per
        # process) and would raise MGR_MODULE_DEPENDENCY; the lab does not use it.
        "mgr initial modules = iostat",
        *LAB_TIMING,
        *release_lines,
        "",
        "[mon]",
        f"mon data = {d / 'mon'}/$cluster-$id",
        "",
        "[mgr]",
        f"mgr data = {d / 'mgr'}/$cluster-$id",
        "",
        "[osd]",
        f"osd data = {d / 'osd'}/$cluster-$id",
        "osd objectstore = bluestore",
        "osd memory target = 939524096",
        "bluestore fsck on mkfs = false",
        "bluestore fsck on mount = false",
        "osd crush update on start = true",
        "",
        "[mds]",
        f"mds data = {d / 'mds'}/$cluster-$id",
        "",
        "[client]",
        # CLI calls: no admin socket, no log file (every call would leave one behind).
        "admin socket =",
        "log to file = false",
        "",
    ])

