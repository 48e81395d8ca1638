"""Verify mode (``--lab-mode=verify``): grade a lab somebody built by hand, stage by stage,
and change nothing.

Enforced here, in one place, by what the lifecycle hands the steps in verify mode:

- :class:`ReadOnlyTarget` stands for the target: every mutating method of the target
  contract (apply, resume, repair, destroy, restart, inject_fault, and a CephFS mount, which
  starts a client daemon) raises :class:`VerifyRefused`; reads go to the real target;
- :class:`GuardedCeph` stands for the Ceph runner: read-only commands only, plus writes
  whose every name is under the one scratch prefix :data:`SCRATCH` (the data round trips),
  which the scenario removes again; ``--lab-verify-readonly`` refuses those too;
- :class:`ReadOnlyKube` stands for the Kubernetes API: no apply, create, patch or delete;
- :class:`ReachedState` stands for the lab state: it is never written, and the stages it
  calls applied are the stages up to the reached one (``--lab-reached``, or the furthest
  stage whose evidence holds: :func:`detect_reached`), so every progress-dependent
  expectation comes from :mod:`cephlab.model` as in build mode.

The grade (:func:`grade`) turns each stage's scenario results into one row: holds, does not
hold, not reached, cannot check here; a failure names what was found, what the lab
expects, and which step of the lab makes it (:data:`LAB_STEPS`, the lab spec's own terms).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, NoReturn, Optional, Sequence

from . import checks
from . import stages as S
from .evidence import NoCeph, Probe
from .ceph import CephRunner, CommandResult
from .config import LabConfig
from .errors import ConfigError, LabError
from .stages import Stage
from .state import LabState
from .targets import Target, make_target, why_not

MODES = ("build", "verify")
#: Every name a verify run writes (RBD image, RADOS object, S3 bucket, MySQL database) starts
#: with this; the scenario that wrote it removes it.
SCRATCH = "cephlab-verify-scratch"
SCRATCH_DB = SCRATCH.replace("-", "_")
#: Longest a verify-mode wait polls: the lab is as it is, nothing is being built.
WAIT_CAP = 30.0

GRADES = ("holds", "does not hold", "not reached", "cannot check here")

#: Which step of the lab makes each stage's outcome, in the lab's own terms (lab spec), from
#: each stage's module.
LAB_STEPS: dict[str, str] = S.lab_steps()


class VerifyRefused(LabError):
    """Verify mode changes nothing: this call would have changed the lab."""


class NotReached(LabError):
    """The stage lies beyond the stage the lab reached."""


# ---------------------------------------------------------------------------- progress
def reached_stages(reached: Optional[str], runs_here: Callable[[Stage], bool]) -> list[str]:
    """The stages a learner who got to ``reached`` has done: every stage of the lab up to it,
    in the lab's order, that runs on this target (faults is not a step of the lab)."""
    if reached is None:
        return []
    last = S.get(reached).order
    return [s.slug for s in S.STAGES if s.order <= last and s.slug != "faults" and runs_here(s)]


def evidence(target: Target, ceph: CephRunner) -> dict[str, str]:
    """Stage slug -> what shows the stage was done (read-only probes; a stage without
    evidence is absent), as each stage's module reads it (``evidence(probe)``). Cheap signs,
    not the outcome: the grade checks the outcome. Where no Ceph answers, the Ceph stages
    have none and "(ceph)" says why."""
    probe = Probe(ceph, target.endpoint, target.crush_host)
    found: dict[str, str] = {}
    for stage in S.STAGES:
        sign = getattr(S.module(stage), "evidence", None)
        if sign is None:
            continue
        try:
            shown = sign(probe)
        except NoCeph:
            continue
        if shown:
            found[stage.slug] = shown
    if probe.ceph_error:
        found["(ceph)"] = probe.ceph_error
    return found


def detect_reached(target: Target, ceph: CephRunner, runs_here: Callable[[Stage], bool]
                   ) -> tuple[Optional[str], dict[str, str]]:
    """The furthest stage (in the lab's order, among those that run here) with evidence."""
    found = evidence(target, ceph)
    ordered = [s for s in S.STAGES if s.slug in found and runs_here(s)]
    found = {k: v for k, v in found.items() if k in S.BY_SLUG or k == "(ceph)"}
    return (ordered[-1].slug if ordered else None), found


# ---------------------------------------------------------------------------- the state
class ReachedState(LabState):
    """The lab's state, read only; "applied" means reached (``stages``)."""

    def __init__(self, lab_dir: Path, options, stages: Sequence[str] = ()):
        super().__init__(lab_dir, options)
        self.reached = list(stages)

    def applied(self, slug: str) -> bool:
        return slug in self.reached

    def applied_slugs(self) -> list[str]:
        return list(self.reached)

    def save(self) -> None:
        """Nothing is written; a save that would change nothing (a pre-flight re-recording
        what the state already says) is let pass, any other is refused."""
        import json

        on_disk = json.loads(self.path.read_text()) if self.path.exists() else None
        if on_disk != self.doc:
            raise VerifyRefused(f"verify mode does not write the lab state ({self.path})")

    def mark_applied(self, slug: str, seconds: float) -> None:
        raise VerifyRefused(f"verify mode does not mark stage {slug} applied")

    def put(self, key, value, *, save: bool = True) -> None:
        """A fact re-recorded as the state already has it (the pre-flight's Ceph release)
        passes; any other is refused."""
        if self.has(key) and self.get(key) == value:
            return
        raise VerifyRefused(f"verify mode does not record lab fact {key}")

    def remove(self, key) -> None:
        raise VerifyRefused(f"verify mode does not forget lab fact {key}")

    def begin(self, kind: str, name: str) -> None:
        raise VerifyRefused(f"verify mode does not begin {kind} {name}")


# ---------------------------------------------------------------------------- Ceph
#: Read-only Ceph commands (argv prefixes after the tool name).
READ_ONLY = {
    "ceph": (("status",), ("health", "detail"), ("quorum_status",), ("mon", "dump"), ("mon", "stat"),
             ("mgr", "stat"), ("mgr", "services"), ("mgr", "module", "ls"), ("versions",),
             ("version",), ("osd", "dump"), ("osd", "tree"), ("osd", "stat"), ("osd", "status"),
             ("osd", "df"), ("osd", "ls"), ("osd", "metadata"), ("osd", "pool", "ls"),
             ("osd", "pool", "get"), ("osd", "pool", "autoscale-status"), ("osd", "crush", "rule", "dump"),
             ("osd", "crush", "rule", "ls"), ("osd", "safe-to-destroy"), ("osd", "ok-to-stop"),
             ("pg", "ls"), ("pg", "stat"), ("pg", "dump"), ("df",), ("fs", "status"), ("fs", "ls"),
             ("fs", "dump"), ("fs", "get"), ("mds", "stat"), ("config", "dump"), ("config", "get"),
             ("config", "show"), ("auth", "ls"), ("auth", "get"), ("crash", "ls"), ("log", "last")),
    "rados": (("df",), ("lspools",), ("ls",), ("get",), ("stat",)),
    "rbd": (("ls",), ("info",), ("du",), ("status",), ("export",)),
    "radosgw-admin": (("user", "info"), ("bucket", "list"), ("bucket", "stats")),
}
#: Writes allowed on scratch names only.
SCRATCH_WRITES = {"rbd": ("create", "resize", "rm", "import"), "rados": ("put", "rm")}
#: Options that take a value (the value is not a command word).
VALUED = {"-p", "--pool", "--size", "--format", "-f", "--connect-timeout", "--image-feature"}


def _words(args: Sequence[str]) -> list[str]:
    words, skip = [], False
    for a in args:
        if skip:
            skip = False
        elif a in VALUED:
            skip = True
        elif not a.startswith("-"):
            words.append(a)
    return words


def ceph_refusal(tool: str, args: Sequence[str], readonly: bool) -> Optional[str]:
    """Why verify mode refuses ``TOOL ARGS`` (None: allowed)."""
    words = _words(args)
    if tool == "ceph" and words == ["health"]:
        return None
    for prefix in READ_ONLY.get(tool, ()):
        if tuple(words[:len(prefix)]) == prefix:
            return None
    verbs = SCRATCH_WRITES.get(tool, ())
    if verbs and words and words[0] in verbs:
        names = [w.split("/", 1)[1] if "/" in w else w for w in words[1:]
                 if not w[:1].isdigit()]   # a size such as 64M is not a name
        if names and all(n.startswith(SCRATCH) for n in names):
            if readonly:
                return (f"`{tool} {' '.join(args)}` writes scratch data, and this run is "
                        f"--lab-verify-readonly")
            return None
    return f"`{tool} {' '.join(args)}` would change the lab"


class GuardedCeph(CephRunner):
    def __init__(self, inner: CephRunner, readonly: bool = False):
        self.inner, self.readonly = inner, readonly
        self.timeout = inner.timeout

    def command(self, argv: Sequence[str]) -> list[str]:
        return self.inner.command(argv)

    def run(self, *args: str, tool: str = "ceph", **kw) -> CommandResult:
        why = ceph_refusal(tool, args, self.readonly)
        if why:
            raise VerifyRefused(f"verify mode: {why}")
        return self.inner.run(*args, tool=tool, **kw)


# ---------------------------------------------------------------------------- Kubernetes
class ReadOnlyKube:
    """The reading half of :class:`cephlab.k8s.kube.Kube`; writes are refused."""

    def __init__(self, inner):
        self.inner = inner
        self.kubeconfig, self.context = inner.kubeconfig, inner.context

    def where(self) -> str:
        return self.inner.where()

    def probe_api(self, timeout: float = 5.0) -> str:
        return self.inner.probe_api(timeout)

    def get_json(self, *args, **kw):
        return self.inner.get_json(*args, **kw)

    def exists(self, obj) -> bool:
        return self.inner.exists(obj)

    def secret_value(self, name: str, namespace: str, key: str) -> str:
        return self.inner.secret_value(name, namespace, key)

    def pod_log(self, *args, **kw) -> str:
        return self.inner.pod_log(*args, **kw)

    def events(self, namespace: str, limit: int = 20) -> list[str]:
        return self.inner.events(namespace, limit)

    def create_token(self, service_account: str, namespace: str, seconds: int = 600) -> str:
        # a TokenRequest is answered, not stored: the cluster keeps nothing of it
        return self.inner.create_token(service_account, namespace, seconds)

    def exec(self, pod: str, namespace: str, argv: list[str], timeout: float = 60):
        if argv[:1] not in (["ls"], ["cat"], ["stat"]):
            raise VerifyRefused(f"verify mode: `{' '.join(argv)}` in pod {pod} may change the lab")
        return self.inner.exec(pod, namespace, argv, timeout)

    def _refuse(self, what: str, obj) -> NoReturn:
        kind = obj.get("kind", "?")
        name = (obj.get("metadata") or {}).get("name") or obj.get("name", "?")
        raise VerifyRefused(f"verify mode does not {what} {kind} {name}")

    def apply(self, obj) -> bool:
        self._refuse("apply", obj)

    def create_if_absent(self, obj) -> bool:
        self._refuse("create", obj)

    def delete(self, ref) -> bool:
        self._refuse("delete", ref)

    def merge_patch(self, ref, patch) -> None:
        self._refuse("patch", ref)


class ReadOnlyMachines:
    """The reading half of :class:`cephlab.k8s.vagrant.VagrantLab`: state and read-only
    commands over ``vagrant ssh``; never ``vagrant up``, ``halt`` or ``destroy``."""

    READ_COMMANDS = ("ip ", "lsblk ", "hostname", "uname", "cat /etc/hosts")

    def __init__(self, inner):
        self.inner = inner

    @property
    def disk_types(self) -> tuple[str, ...]:
        return self.inner.disk_types

    def status(self) -> dict[str, str]:
        return self.inner.status()

    def running(self) -> bool:
        return self.inner.running()

    def ssh(self, node: str, command: str) -> str:
        if not command.startswith(self.READ_COMMANDS):
            raise VerifyRefused(f"verify mode: `{command}` on {node} may change the machine")
        return self.inner.ssh(node, command)

    def up(self, *args, **kw) -> None:
        raise VerifyRefused("verify mode never runs `vagrant up`")

    def destroy(self, *args, **kw) -> None:
        raise VerifyRefused("verify mode never runs `vagrant destroy`")


# ---------------------------------------------------------------------------- the target
#: The target contract's methods, by what they do to the lab (a test keeps this complete).
MUTATING = frozenset({"apply", "resume", "repair", "destroy", "restart", "inject_fault",
                      "undo_faults", "cephfs_root"})
READING = frozenset({"sanity_checks", "header_lines", "ceph", "broken", "status", "fail_fast", "causes", "diagnostics",
                     "describe", "rebuild_refusal", "fault_leftovers", "mon_names", "node_name", "crush_host",
                     "node_address", "expected_address", "kube_api", "machines", "endpoint",
                     "credentials", "block_volume", "unavailable", "refusal", "owned_pids",
                     "footprint"})


class ReadOnlyTarget(Target):
    """A target in verify mode: reads go to ``inner``, anything that changes the lab is
    refused before it reaches it."""

    def __init__(self, inner: Target, readonly_data: bool = False):
        super().__init__(inner.cfg, inner.state)
        self.inner = inner
        # Target.name is a class variable; the wrapper takes the wrapped target's name per instance
        self.name = inner.name  # type: ignore[misc]
        self.readonly_data = readonly_data
        self._ceph: Optional[GuardedCeph] = None

    def _refuse(self, what: str) -> NoReturn:
        raise VerifyRefused(f"verify mode changes nothing: it does not {what} "
                            f"(the {self.inner.name} target)")

    # mutating ------------------------------------------------------------------------
    def apply(self, stage: Stage) -> None:
        self._refuse(f"apply stage {stage.slug}")

    def resume(self) -> list[str]:
        self._refuse("start a stopped lab")

    def repair(self) -> list[str]:
        self._refuse("restart what is not running")

    def destroy(self) -> list[str]:
        self._refuse("destroy the lab")

    def restart(self, service: str) -> None:
        self._refuse(f"restart {service}")

    def inject_fault(self, fault: str, **options: Any):
        self._refuse(f"inject fault {fault}")

    def undo_faults(self) -> list[str]:
        self._refuse("undo a fault left in place (remove partition rules, restore full ratios)")

    def cephfs_root(self, name: str):
        return None, ("verify mode starts no CephFS client (a mount is a daemon of its own and "
                      "is recorded in the lab state)")

    # reading -------------------------------------------------------------------------
    def sanity_checks(self) -> None:
        try:
            self.inner.sanity_checks()
        except VerifyRefused as exc:
            if not self.inner.state.exists:
                from . import invoke

                where = self.inner.cfg.lab_dir
                keep = invoke.pytest_run(f"--lab-target={self.inner.name}", f"--lab-dir={where}",
                                         "--lab-destroy=never")
                raise ConfigError(
                    f"verify mode grades a lab that exists and builds nothing; {where} holds no "
                    f"lab (no state.json). Give the kept lab's --lab-dir, or keep one first: {keep}"
                ) from None
            raise ConfigError(f"verify mode cannot read this lab: {exc}") from None

    @property
    def ceph(self) -> CephRunner:
        if self._ceph is None:
            self._ceph = GuardedCeph(self.inner.ceph, self.readonly_data)
        return self._ceph

    def broken(self) -> list[str]:
        return self.inner.broken()

    def status(self) -> list[str]:
        return self.inner.status()

    def fail_fast(self) -> None:
        self.inner.fail_fast()

    def causes(self, detail: bool = False) -> list:
        return self.inner.causes(detail)

    def diagnostics(self) -> str:
        return self.inner.diagnostics()

    def fault_leftovers(self) -> list[str]:
        return self.inner.fault_leftovers()

    def describe(self) -> str:
        return self.inner.describe()

    def rebuild_refusal(self) -> Optional[str]:
        return "verify mode rebuilds nothing"

    def mon_names(self):
        return self.inner.mon_names()

    def node_name(self, lab_node: str) -> str:
        return self.inner.node_name(lab_node)

    def crush_host(self, lab_node: str) -> str:
        return self.inner.crush_host(lab_node)

    def node_address(self, lab_node: str) -> str:
        return self.inner.node_address(lab_node)

    def expected_address(self, lab_node: str):
        return self.inner.expected_address(lab_node)

    def kube_api(self):
        return ReadOnlyKube(self.inner.kube_api())

    def machines(self):
        return ReadOnlyMachines(self.inner.machines())

    def endpoint(self, service: str) -> tuple[str, int]:
        return self.inner.endpoint(service)

    def credentials(self, service: str) -> dict[str, str]:
        return self.inner.credentials(service)

    def block_volume(self, service: str) -> tuple[str, str]:
        return self.inner.block_volume(service)

    def owned_pids(self) -> set[int]:
        return self.inner.owned_pids()

    def footprint(self):
        return self.inner.footprint()


def open_readonly(cfg: LabConfig, target_class: type[Target]) -> tuple[ReachedState, ReadOnlyTarget]:
    """The state and target of a verify run; the reached stages are set by :func:`settle`."""
    state = ReachedState(cfg.lab_dir, cfg.options())
    return state, ReadOnlyTarget(make_target(cfg, state), cfg.verify_readonly)


def settle(cfg: LabConfig, state: ReachedState, target: ReadOnlyTarget, announce) -> Optional[str]:
    """Fix the reached stage (given, or detected) and tell the state; returns it."""
    runs_here = lambda st: why_not(cfg.target, st, cfg) is None  # noqa: E731
    reached: Optional[str]
    if cfg.reached:
        reached, how = cfg.reached, "given with --lab-reached"
    else:
        reached, found = detect_reached(target.inner, target.ceph, runs_here)
        how = ("found: furthest stage with evidence; " +
               ", ".join(f"{k} ({v})" for k, v in found.items())) if found else "nothing of the lab was found"
    state.reached = reached_stages(reached, runs_here)
    announce(f"verify mode: the lab reached stage {reached or 'none'} ({how}); "
             f"nothing will be changed")
    return reached


# ---------------------------------------------------------------------------- grading
def stage_pools(slug: str) -> list[str]:
    """The pools a stage makes (from its module)."""
    return S.lab_pools([slug])


pool_owner = S.pool_owner


def assert_stage_health(slug: str, health: Mapping[str, Any], pg_ls: Mapping[str, Any],
                        pools: Iterable[Mapping[str, Any]]) -> None:
    """Health as one stage sees it: PG states are judged per pool, by the stage that makes
    the pool (a stage without pools of its own judges the pools no lab stage makes); every
    other health check counts for every stage."""
    names = {int(p.get("pool_id", p.get("pool", -1))): p["pool_name"] for p in pools}
    own = set(stage_pools(slug))
    bad: dict[str, list[str]] = {}
    for pg in pg_ls.get("pg_stats", pg_ls if isinstance(pg_ls, list) else []):
        if pg.get("state") == "active+clean":
            continue
        pool = names.get(int(str(pg["pgid"]).split(".")[0]), "?")
        owner = pool_owner(pool)
        if (own and pool in own) or (not own and owner is None):
            bad.setdefault(pool, []).append(f"{pg['pgid']} {pg['state']}")
    problems = [f"pool {p}: {len(v)} PGs not active+clean ({', '.join(v[:3])})" for p, v in sorted(bad.items())]
    other = {k: v for k, v in (health.get("checks") or {}).items() if not k.startswith("PG_")}
    try:
        checks.assert_health({"status": health.get("status") if other else "HEALTH_OK", "checks": other})
    except AssertionError as exc:
        problems.append(str(exc))
    assert not problems, "; ".join(problems)


def assert_osds_for(slug: str, applied: Sequence[str], dump: Mapping[str, Any],
                    tree: Mapping[str, Any], crush_host: Callable[[str], str]) -> None:
    layout = {crush_host(n): c for n, c in S.osd_layout(applied).items()}
    hosts = checks.osd_hosts(tree)
    problems = []
    if slug == "ceph_cluster":
        for osd, (up, inn) in sorted(checks.osd_states(dump).items()):
            if not (up and inn):
                problems.append(f"osd.{osd} is {'up' if up else 'down'} and {'in' if inn else 'out'}")
        problems += [f"host {h} holds no OSD" for h in layout if not hosts.get(h)]
    elif slug == "extend_storage":
        problems += [f"host {h} holds {len(hosts.get(h, []))} OSD(s), expected {n} (sdc and sdd)"
                     for h, n in sorted(layout.items()) if len(hosts.get(h, [])) != n]
    else:  # remove_node
        extra = sorted(h for h, ids in hosts.items() if ids and h not in layout)
        problems += [f"host {h} still holds {', '.join(f'osd.{i}' for i in hosts[h])}" for h in extra]
        problems += [f"host {h} holds no OSD" for h in layout if not hosts.get(h)]
    assert not problems, "; ".join(problems) + f" (the lab at this stage: {layout})"


def assert_status_agrees(status: Mapping[str, Any], dump: Mapping[str, Any], mons: int) -> None:
    """Toolbox in verify mode: ``ceph status`` agrees with ``ceph osd dump`` (how many OSDs
    exist, are up, are in) and counts the lab's mons; the OSD stages grade the layout."""
    states = checks.osd_states(dump)
    monmap, osdmap = status.get("monmap", {}), status.get("osdmap", {})
    osdmap = osdmap.get("osdmap", osdmap)
    seen = {"mons": monmap.get("num_mons"), "OSDs": osdmap.get("num_osds"),
            "OSDs up": osdmap.get("num_up_osds"), "OSDs in": osdmap.get("num_in_osds")}
    want = {"mons": mons, "OSDs": len(states), "OSDs up": sum(u for u, _ in states.values()),
            "OSDs in": sum(i for _, i in states.values())}
    wrong = [f"{k}: {seen[k]}, expected {want[k]}" for k in want if seen[k] != want[k]]
    assert not wrong, "ceph status disagrees with ceph osd dump: " + "; ".join(wrong)


@dataclass
class Grade:
    stage: Stage
    grade: str
    found: str = ""
    expected: str = ""
    lab_step: str = ""
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"stage": f"{self.stage.key} {self.stage.slug}", "grade": self.grade,
                "found": self.found, "expected": self.expected, "lab_step": self.lab_step,
                "notes": list(self.notes)}


def grade(rows: Iterable, reached: Sequence[str], notes: Mapping[str, list[str]]) -> list[Grade]:
    """One grade per stage from the scenario rows (``cephlab.report.record.Row``)."""
    by_stage: dict[str, list] = {}
    for row in rows:
        by_stage.setdefault(row.stage.slug, []).append(row)
    out = []
    for stage in S.STAGES:
        rs = by_stage.get(stage.slug)
        if not rs:
            continue
        results = [(r.result, r.reason) for r in rs]
        extra = list(notes.get(stage.slug, []))
        failed = [why for res, why in results if res in ("failed", "error")]
        if failed:
            found, expected = _found_expected(failed[0])
            out.append(Grade(stage, "does not hold", found, expected or stage.title,
                             LAB_STEPS.get(stage.slug, ""), extra + failed[1:]))
        elif any(res == "passed" for res, _ in results):
            skipped = [f"not checked: {why}" for res, why in results if res == "skipped"]
            out.append(Grade(stage, "holds", notes=extra + skipped))
        elif stage.slug not in reached and any("not reached" in why for _, why in results):
            out.append(Grade(stage, "not reached", notes=[results[0][1]]))
        else:
            out.append(Grade(stage, "cannot check here", notes=[results[0][1]] + extra))
    return out


def _found_expected(message: str) -> tuple[str, str]:
    """Split a check's message "X, expected Y" into what was found and what is expected."""
    text = message.strip()
    if ", expected " in text:
        found, _, expected = text.partition(", expected ")
        return found, expected
    return text, ""


def grade_lines(grades: Sequence[Grade], width: int = 160) -> list[str]:
    lines = [f"{'stage':<22}{'grade':<20}what was found / what the lab expects / which step makes it"]
    for g in grades:
        lines.append(f"{g.stage.key + ' ' + g.stage.slug:<22}{g.grade:<20}")
        if g.grade == "does not hold":
            lines.append(f"{'':<22}  found:    {g.found[:width]}")
            lines.append(f"{'':<22}  expected: {g.expected[:width]}")
            lines.append(f"{'':<22}  lab step: {g.lab_step[:width]}")
        for note in g.notes:
            lines.append(f"{'':<22}  {note[:width]}")
    return lines


__all__ = ["GRADES", "LAB_STEPS", "MODES", "SCRATCH", "SCRATCH_DB", "Grade", "GuardedCeph",
           "NotReached", "ReachedState", "ReadOnlyKube", "ReadOnlyTarget", "VerifyRefused",
           "assert_osds_for", "assert_stage_health", "detect_reached", "grade", "grade_lines",
           "open_readonly", "settle"]
