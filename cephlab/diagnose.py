"""Why a lab cannot become what the harness expects, in the lab's terms, with the next command.

Pure functions over Ceph's own JSON (``ceph osd dump``, ``ceph health detail``,
``ceph osd tree``) and what the lab knows about itself (the OSDs it made, the pools of its
applied stages, whether each of its daemons runs). No I/O: the same code serves the waits'
fail-fast (:class:`Watch`), ``python -m cephlab status`` and ``repair``, and is tested on
recorded JSON.

Each :class:`Cause` names its object (``osd.1``, the flag ``noup``, pool ``replicapool``, a
daemon), says what is wrong in a sentence, and gives the next command. ``persist`` is how
long the cause must be seen before a wait gives up on it: 0 for states that cannot heal on
their own (a cluster flag, an OSD marked out by hand, a pool gone), longer for states the lab
passes through on purpose (an OSD down for a few seconds while it boots).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Optional

from . import invoke
from .errors import CannotHeal

#: Cluster flags that stop progress or keep HEALTH_WARN (OSDMAP_FLAGS) until unset; the
#: harness sets none of them. Flag -> what it does, in a few words.
CLUSTER_FLAGS: dict[str, str] = {
    "noup": "OSDs that start are not marked up",
    "nodown": "OSDs that fail are not marked down",
    "noin": "OSDs that start are not marked in",
    "noout": "down OSDs are never marked out, and health stays HEALTH_WARN",
    "pause": "all client reads and writes are blocked",
    "pauserd": "client reads are blocked",
    "pausewr": "client writes are blocked",
    "norecover": "recovery of degraded PGs is stopped",
    "nobackfill": "backfill is stopped",
    "norebalance": "rebalancing of misplaced PGs is stopped",
    "noscrub": "scrubbing is disabled, and health stays HEALTH_WARN",
    "nodeep-scrub": "deep scrubbing is disabled, and health stays HEALTH_WARN",
    "nosnaptrim": "snapshot trimming is stopped",
    "notieragent": "the cache tiering agent is stopped",
}
#: Per-OSD flags (``ceph osd add-noup 1``): flag -> (what it does, the command that clears it).
OSD_FLAGS: dict[str, tuple[str, str]] = {
    "noup": ("it is never marked up, so it stays down", "rm-noup"),
    "nodown": ("it is never marked down", "rm-nodown"),
    "noin": ("it is never marked in", "rm-noin"),
    "noout": ("it is never marked out", "rm-noout"),
}
#: Seconds an OSD may be down while its process runs before a wait gives up on it (an OSD
#: that was just started takes a few seconds to boot and be marked up).
DOWN_WHILE_RUNNING_GRACE = 10.0


@dataclass(frozen=True)
class Daemon:
    """What the lab knows about one of its daemons (``alive`` None: the target cannot tell)."""

    alive: Optional[bool]
    pid: Optional[int] = None
    log: str = ""


@dataclass(frozen=True)
class Cause:
    subject: str    #: the object: "osd.1", "flag noup", "pool replicapool", "daemon mgr.k8s-1"
    text: str       #: one sentence in the lab's terms
    fix: str        #: the next command
    persist: float = 0.0  #: seconds it must persist before a wait gives up on it
    key: str = ""   #: identity across observations (defaults to subject + text kind)

    @property
    def ident(self) -> str:
        return self.key or self.subject

    def line(self) -> str:
        return f"{self.text}; next: {self.fix}"


@dataclass(frozen=True)
class Expected:
    """What the lab should look like, and what the harness holds on purpose right now."""

    osds: Mapping[int, str] = field(default_factory=dict)  #: OSD id -> its node (k8s-2)
    pools: tuple[str, ...] = ()
    daemons: Mapping[str, Daemon] = field(default_factory=dict)
    lab_dir: str = ".lab/local"
    held_flags: frozenset[str] = frozenset()  #: cluster flags the harness set itself
    held_out: frozenset[int] = frozenset()    #: OSDs the harness marked out (remove_node)
    held_down: frozenset[int] = frozenset()   #: OSDs the harness keeps down (a fault)


def cephlab(command: str, lab_dir: str) -> str:
    return invoke.lab(command, lab_dir)


def cluster_flags(osd_dump: Mapping[str, Any]) -> list[str]:
    """The cluster-wide flags set in ``ceph osd dump`` (``flags_set`` on 17+, else ``flags``)."""
    flags = osd_dump.get("flags_set")
    if flags is None:
        flags = [f for f in str(osd_dump.get("flags", "")).split(",") if f]
    return list(flags)


def causes(osd_dump: Mapping[str, Any], expected: Expected,
           health: Optional[Mapping[str, Any]] = None,
           osd_tree: Optional[Mapping[str, Any]] = None) -> list[Cause]:
    """Why the lab is not (and may never become) what ``expected`` says, most decisive first."""
    lab = expected.lab_dir
    found: list[Cause] = []
    found += _flag_causes(osd_dump, health, expected)
    osds = {o["osd"]: o for o in osd_dump.get("osds", [])}
    where = _hosts(osd_tree) if osd_tree else {}
    for osd_id, node in sorted(expected.osds.items()):
        name = f"osd.{osd_id}"
        on = f" on {where.get(osd_id) or node}" if (where.get(osd_id) or node) else ""
        info = osds.get(osd_id)
        if info is None:
            found.append(Cause(name, f"{name}{on} is missing from the OSD map (the lab made it; "
                               f"it was removed by hand)",
                               f"{cephlab('destroy', lab)}, then run the stages again"))
            continue
        state = set(info.get("state") or [])
        for flag, (effect, verb) in OSD_FLAGS.items():
            if flag in state:
                found.append(Cause(name, f"{name}{on} has the flag {flag} set: {effect}",
                                   invoke.ceph(lab, "osd", verb, osd_id), key=f"{name} {flag}"))
        daemon = expected.daemons.get(name)
        if not info.get("up") and osd_id not in expected.held_down:
            found.append(_down_cause(name, on, daemon, lab))
        if not info.get("in") and osd_id not in expected.held_out and "new" not in state:
            if "autoout" in state:
                found.append(Cause(name, f"{name}{on} was marked out by Ceph after being down "
                                   f"too long", f"{cephlab('repair', lab)} (it is marked in "
                                   f"again once it is up)", persist=DOWN_WHILE_RUNNING_GRACE,
                                   key=f"{name} autoout"))
            else:
                found.append(Cause(name, f"{name}{on} is marked out, and no step of the harness "
                                   f"holds it out (marked out by hand)", invoke.ceph(lab, "osd", "in", osd_id),
                                   key=f"{name} out"))
    for name, daemon in sorted(expected.daemons.items()):
        if daemon.alive is False and not name.startswith("osd."):
            found.append(Cause(f"daemon {name}", f"{name}{_pid(daemon)} is not running"
                               + (f" (log {daemon.log})" if daemon.log else ""),
                               cephlab("repair", lab)))
    pools = {p.get("pool_name") for p in osd_dump.get("pools", [])}
    for pool in expected.pools:
        if pool not in pools:
            found.append(Cause(f"pool {pool}", f"pool {pool} of an applied stage does not exist "
                               f"(deleted by hand)", f"{cephlab('destroy', lab)}, then run the "
                               f"stages again"))
    return found


def _flag_causes(osd_dump, health, expected: Expected) -> list[Cause]:
    flags = cluster_flags(osd_dump)
    if not flags and health:  # older JSON: read OSDMAP_FLAGS' summary ("noup flag(s) set")
        summary = ((health.get("checks") or {}).get("OSDMAP_FLAGS") or {}).get("summary") or {}
        flags = summary.get("message", "").split(" flag")[0].split(",") if summary else []
    found = []
    set_ = [f for f in flags if f in CLUSTER_FLAGS and f not in expected.held_flags]
    if "pauserd" in set_ and "pausewr" in set_:  # `ceph osd set pause` sets both
        set_ = ["pause"] + [f for f in set_ if f not in ("pauserd", "pausewr")]
    for flag in set_:
        unset = "pause" if flag in ("pauserd", "pausewr") else flag
        found.append(Cause(f"flag {flag}", f"the cluster flag {flag} is set and the harness did "
                           f"not set it: {CLUSTER_FLAGS[flag]}",
                           invoke.ceph(expected.lab_dir, "osd", "unset", unset)))
    return found


def _down_cause(name: str, on: str, daemon: Optional[Daemon], lab: str) -> Cause:
    if daemon is None or daemon.alive is None:
        return Cause(name, f"{name}{on} is down", cephlab("status", lab),
                     persist=DOWN_WHILE_RUNNING_GRACE, key=f"{name} down")
    if daemon.alive:
        look = f"tail -n 50 {daemon.log}" if daemon.log else cephlab("status", lab)
        return Cause(name, f"{name}{on} is down although its process{_pid(daemon)} runs (held "
                     f"down, or it cannot reach the mons)", look,
                     persist=DOWN_WHILE_RUNNING_GRACE, key=f"{name} down running")
    return Cause(name, f"{name}{on} is down: its daemon{_pid(daemon)} exited"
                 + (f" (log {daemon.log})" if daemon.log else ""), cephlab("repair", lab),
                 key=f"{name} down exited")


def _pid(daemon: Daemon) -> str:
    return f" (pid {daemon.pid})" if daemon.pid else ""


def _hosts(osd_tree: Mapping[str, Any]) -> dict[int, str]:
    out = {}
    for node in osd_tree.get("nodes", []):
        if node.get("type") == "host":
            for child in node.get("children", []):
                out[child] = node.get("name")
    return out


def render(found: Iterable[Cause]) -> list[str]:
    """Lines for a person: one per cause with its next command (runnable as printed)."""
    return [f"  - {c.line()}" for c in found]


def cannot_heal(found: list[Cause]) -> CannotHeal:
    """The error a wait fails with: every cause, its object and its next command."""
    lines = [found[0].line()]
    if len(found) > 1:
        lines += ["every cause found:", *render(found)]
    return CannotHeal("\n".join(lines), found)


class Watch:
    """Fail-fast for waits: raise :class:`~cephlab.errors.CannotHeal` once a cause has
    persisted for its ``persist`` seconds (at once for a state that cannot heal by itself;
    ``confirm`` > 0 asks for a second look that much later). Looks at most every ``every``
    s; a cause not seen for ``forget`` s starts over (a later wait does not inherit an old
    observation)."""

    def __init__(self, look: Callable[[], list[Cause]], *, every: float = 2.0, confirm: float = 0.0,
                 forget: float = 6.0,
                 clock: Callable[[], float] = time.monotonic):
        self.look = look
        self.every, self.confirm, self.forget, self.clock = every, confirm, forget, clock
        self._last_look: Optional[float] = None
        self._seen: dict[str, tuple[float, float]] = {}  # ident -> (first, last)

    def check(self) -> None:
        now = self.clock()
        if self._last_look is not None and now - self._last_look < self.every:
            return
        self._last_look = now
        try:
            found = self.look()
        except Exception:  # the cluster did not answer: the wait's own probe will say so
            return
        seen = {}
        for cause in found:
            first, last = self._seen.get(cause.ident, (now, now))
            if now - last > self.forget:
                first = now
            seen[cause.ident] = (first, now)
        self._seen = seen
        ripe = [c for c in found
                if now - seen[c.ident][0] >= max(c.persist, self.confirm)]
        if ripe:
            raise cannot_heal(ripe)


#: The cluster's full ratios, in the order Ceph requires them (nearfull <= backfillfull <= full).
FULL_RATIOS = ("nearfull", "backfillfull", "full")


def full_ratios(osd_dump: Mapping[str, Any]) -> dict[str, float]:
    """The cluster's three full ratios from ``ceph osd dump``."""
    return {name: round(float(osd_dump[f"{name}_ratio"]), 4) for name in FULL_RATIOS}
