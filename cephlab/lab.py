"""The lifecycle facade the fixtures use: reach a stage, reuse a kept lab, destroy it.

Facts a stage's Then steps compare against are measured here, just before the stage is
applied, on every target (``Stage.records_before``, :data:`MEASURES`).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Callable, Optional

from . import ceph_checks, invoke, procs
from . import stages as S
from .ceph import CephRunner
from .config import LabConfig, check_lab_dir
from .errors import ConfigError, LabError
from .lock import held_here
from .stages import Stage
from .state import STATE_FILE, LabState, read_options
from .targets import Target, make_target, target_class, why_not

log = logging.getLogger("cephlab")

Announce = Callable[[str], None]

#: fact -> how the lifecycle measures it (named by ``Stage.records_before``).
MEASURES: dict[str, Callable[[CephRunner], object]] = {
    "raw_bytes_before_extend": lambda ceph: ceph_checks.raw_capacity(ceph.json("df")),
}


class Lab:
    def __init__(self, cfg: LabConfig, announce: Optional[Announce] = None, *,
                 any_schema: bool = False):
        self.verifying = cfg.mode == "verify"
        cfg.lab_dir = check_lab_dir(cfg.lab_dir, reading=self.verifying)
        kept = None if any_schema else read_options(cfg.lab_dir)
        if kept and self.verifying:  # a kept lab is graded with the options it was built with
            cfg.ip_prefix, cfg.ceph_release = kept.ip_prefix, kept.ceph_release
        if kept and cfg.ceph_reason.startswith("auto") and kept.ceph_release != cfg.ceph_release:
            # an automatic choice yields to the release a kept lab was built with
            cfg.ceph_release = kept.ceph_release
            cfg.ceph_reason = "the kept lab's release (auto would have chosen another)"
        self.cfg = cfg
        self.announce: Announce = announce or log.info
        self._target_class = target_class(cfg.target)
        self.state: LabState
        self.target: Target
        if self.verifying:  # nothing below changes the lab: cephlab.verify refuses it
            from .verify import open_readonly

            self.state, self.target = open_readonly(cfg, self._target_class)
        else:
            self.state = LabState(cfg.lab_dir, cfg.options(), any_schema=any_schema)
            self.target = make_target(cfg, self.state)
        self._resumed = False
        self._recovered = False
        self._reached: Optional[tuple[Optional[str]]] = None
        #: verify mode: stage slug -> what a scenario could not check, and the grade rows
        self.notes: dict[str, list[str]] = {}
        self.grades: list = []
        #: Fault-injection reports of this run, for the terminal summary.
        self.fault_reports: list[dict] = []
        #: The largest resident memory the lab had after a stage of this run (bytes, detail,
        #: stage), where the target can see it (Target.footprint).
        self.peak_footprint: Optional[tuple[int, str, str]] = None

    @classmethod
    def open(cls, lab_dir: Path, announce: Optional[Announce] = None, *,
             for_destroy: bool = False) -> "Lab":
        """A kept lab, with the options it was built with (a command line gives only its
        directory). ``for_destroy`` opens a lab of another state schema too."""
        path = check_lab_dir(Path(lab_dir))
        if not (path / STATE_FILE).exists():
            raise NoLab(f"no lab in {lab_dir}")
        try:
            opts = read_options(path)
        except ConfigError:
            if not for_destroy:
                raise
            import json
            doc = json.loads((path / STATE_FILE).read_text())
            cfg = LabConfig(target=doc.get("target", "local"), target_reason="the kept lab", lab_dir=path)
            return cls(cfg, announce, any_schema=True)
        if opts is None:  # the state file went away since it was looked for (a destroy meanwhile)
            raise NoLab(f"no lab in {lab_dir}")
        return cls(LabConfig.from_saved(opts, path, "the kept lab's saved options"), announce)

    # ------------------------------------------------------------------ queries
    @property
    def ceph(self) -> CephRunner:
        return self.target.ceph

    def why_not(self, stage: Stage | str) -> Optional[str]:
        """Why ``stage`` does not run in this lab (None: it does): the one answer."""
        return why_not(self._target_class, stage, self.cfg)

    def built_by_harness(self) -> bool:
        return self.state.built_by_harness

    # ------------------------------------------------------------------ lifecycle
    def sanity_checks(self) -> None:
        self.target.sanity_checks()

    def resume(self) -> None:
        """Once per run: start a kept lab that is not running (e.g. after a reboot). A lab
        in which only some daemons died is left as found, and said so: the scenarios report
        it."""
        if self._resumed:
            return
        self._resumed = True
        if self.verifying:  # a verify run starts nothing: it says what is not running
            broken = self.target.broken()
            if broken:
                self.announce(f"not running (verify mode leaves it so): {', '.join(broken)}")
            return
        # A fault a killed run left in place goes first: a partition would keep a lab that
        # is started again from forming its quorum.
        undone = self.target.undo_faults()
        started = self.target.resume()
        if started:
            self.announce(f"kept lab was not running: started {len(started)}: {', '.join(started)}")
            undone += self.target.undo_faults()
        for what in undone:
            self.announce(f"kept lab: {what}")
        broken = self.target.broken()
        if broken:
            self.announce(f"kept lab: not running, left as found: {', '.join(broken)} "
                          f"(`{invoke.lab('repair', self.cfg.lab_dir)}` restarts them)")

    def reach(self, slug: str) -> list[str]:
        """Apply ``slug`` and what it requires, skipping what the lab already has.

        Returns the slugs applied in this call. A lab that went past a stage in a way that
        invalidates it (e.g. OSDs removed) is destroyed and rebuilt first.
        """
        stage = S.get(slug)
        reason = self.why_not(stage)
        if reason:
            raise LabError(f"cannot reach stage {slug}: {reason}")
        if self.verifying:
            return self._require_reached(stage)
        self.recover()
        self._rebuild_if_invalidated(stage)
        return self._apply_closure(slug, include_self=True)

    def prepare(self, slug: str) -> list[str]:
        """Apply what ``slug`` requires (not ``slug`` itself), skipping what the lab has; a
        lab on which ``slug`` cannot hold any more is rebuilt first."""
        if self.verifying:
            return self._require_reached(S.get(slug))
        self.recover()
        self._rebuild_if_invalidated(S.get(slug))
        return self._apply_closure(slug, include_self=False)

    def _apply_closure(self, slug: str, include_self: bool) -> list[str]:
        needed = S.closure(slug, lambda st: self.why_not(st) is None)
        if not include_self:
            needed = [st for st in needed if st.slug != slug]
        self.resume()
        done = []
        for st in needed:
            if self.state.applied(st.slug):
                continue
            self._apply(st)
            done.append(st.slug)
        return done

    def _apply(self, st: Stage) -> None:
        self.announce(f"applying stage {st.key} {st.slug}: {st.title}")
        start = time.monotonic()
        for fact in st.records_before:
            if not self.state.has(fact):  # once per lab: a retried stage keeps the first one
                self.state.put(fact, MEASURES[fact](self.ceph))
        if st.builds:
            self.state.begin("stage", st.slug)  # until applied: a stopped run leaves it unfinished
            self.target.apply(st)
        seconds = time.monotonic() - start
        self.state.mark_applied(st.slug, seconds)
        self.announce(f"stage {st.slug} applied in {seconds:.1f}s")
        self._measure_footprint(st.slug)

    def _measure_footprint(self, slug: str) -> None:
        found = self.target.footprint()
        if found and (self.peak_footprint is None or found[0] > self.peak_footprint[0]):
            self.peak_footprint = (found[0], found[1], slug)
            self.announce(f"resident memory after stage {slug}: {found[1]}")

    def _rebuild_if_invalidated(self, st: Stage) -> None:
        """Only the stage whose outcome is asserted matters: what it merely requires still
        has its effect (a pool is still there after OSDs were added)."""
        applied = set(self.state.applied_slugs())
        spoiled = [later for later in st.invalidated_by if later in applied]
        if spoiled:
            self._rebuild_because(f"stage {st.slug} no longer holds on this lab (after "
                                  f"{', '.join(spoiled)})")

    def _rebuild_because(self, problem: str) -> None:
        """Destroy and rebuild the lab because of ``problem`` (a sentence), only on a lab the
        harness built and only when the target allows it; otherwise stop, saying why."""
        if not self.built_by_harness():
            raise LabError(f"{problem}, and the harness did not build this lab: it is not "
                           f"rebuilt (destroy it first, or build a new one)")
        refused = self.target.rebuild_refusal()
        if refused:
            raise LabError(f"{problem}, and the lab is not rebuilt: {refused}")
        self.announce(f"{problem}: destroying and rebuilding the lab")
        self._rebuild()

    def _rebuild(self) -> None:
        self.destroy()
        self.state = LabState(self.cfg.lab_dir, self.cfg.options())
        self.target = make_target(self.cfg, self.state)
        self.target.sanity_checks()

    # ------------------------------------------------------------------ unfinished work
    def recover(self) -> None:
        """Once per run, before any stage: what an earlier run started and did not finish
        (stopped by a signal, or failed in the middle) is picked up. A fault is undone
        (what it stopped is started again); a stage is applied again, or, when the target
        cannot pick up that stage's work where it stopped, the lab is rebuilt."""
        if self._recovered:
            return
        self._recovered = True
        left = self.state.unfinished
        if not left:
            return
        when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(left.get("since", 0)))
        what = f"{left['kind']} {left['name']}"
        said = f"the run of {when} (pid {left.get('pid')}) did not finish {what}"
        if left["kind"] == "fault":
            for what in self.target.undo_faults():  # rules and ratios first: then restart
                self.announce(f"kept lab: {what}")
            started = self.target.repair()
            self.state.done("fault", left["name"])
            self.announce(f"{said}: undone, started again: {', '.join(started) or 'nothing was down'}")
            return
        slug = left["name"]
        if slug not in self.target.rebuild_if_unfinished:
            self.announce(f"{said} (not recorded as applied): it is applied again when "
                          f"a scenario needs it")
            return
        self._rebuild_because(f"{said} (not recorded as applied), which cannot be picked up "
                              f"where it stopped")

    def inject_fault(self, fault: str, **options):
        """The target's fault, recorded as unfinished until it is undone: a run stopped in
        the middle leaves the lab broken, and the next run starts again what it stopped."""
        self.state.begin("fault", fault)
        report = self.target.inject_fault(fault, **options)
        self.state.done("fault", fault)
        return report

    def stop_unrecorded(self) -> list[str]:
        """Stop the daemons this process started that the lab does not record (a run
        stopped between starting one and recording it); by pid, as always."""
        recorded = {d.get("pid") for d in self.state.doc.get("daemons", {}).values()}
        recorded |= self.target.owned_pids()
        stopped = []
        for rec in procs.children():
            if rec.pid not in recorded and procs.is_alive(rec):
                procs.stop(rec, timeout=10)
                stopped.append(f"{rec.name} (pid {rec.pid})")
        if stopped:
            self.announce(f"stopped what this run started and the lab did not record: "
                          f"{', '.join(stopped)}")
        return stopped

    # ------------------------------------------------------------------ verify mode
    def reached(self) -> Optional[str]:
        """Verify mode: the stage the lab reached (given or detected once per run)."""
        if self._reached is None:
            from .verify import ReachedState, ReadOnlyTarget, settle

            self.resume()
            state, target = self.state, self.target
            if not isinstance(state, ReachedState) or not isinstance(target, ReadOnlyTarget):
                raise LabError("the reached stage is a question of verify mode; this lab was not "
                               "opened in verify mode")
            self._reached = (settle(self.cfg, state, target, self.announce),)
        return self._reached[0]

    def _require_reached(self, stage: Stage) -> list[str]:
        from .verify import NotReached, VerifyRefused

        if not stage.builds:
            raise VerifyRefused(f"stage {stage.slug} kills the lab's daemons; verify mode changes nothing")
        reached = self.reached()
        if not self.state.applied(stage.slug):
            raise NotReached(f"stage {stage.slug} is not reached: the lab reached "
                             f"{reached or 'no stage'}")
        return []

    def scratch(self, kind: str) -> str:
        """Verify mode: the scratch name a data round trip writes under (removed after it);
        refused with --lab-verify-readonly."""
        from .verify import SCRATCH, VerifyRefused

        if self.cfg.verify_readonly:
            raise VerifyRefused(f"the {kind} round trip writes data, and this run is --lab-verify-readonly")
        import uuid

        return f"{SCRATCH}-{uuid.uuid4().hex[:8]}"

    def note(self, slug: str, text: str) -> None:
        """Verify mode: something of stage ``slug`` that was not checked, and why."""
        self.notes.setdefault(slug, []).append(text)

    def destroy(self) -> list[str]:
        """Stop only the lab's own processes (by pid) and remove its files."""
        if not self.state.exists:
            return []
        killed = self.target.destroy()
        lock = held_here(self.cfg.lab_dir)
        if lock is not None:
            lock.restore()  # a target that removed the lock file with the lab: lock again
        self.announce(f"lab in {self.cfg.lab_dir} destroyed")
        return killed

    def causes(self, detail: bool = False) -> list:
        """What :meth:`Target.causes` finds; [] when the lab cannot be asked (the failure
        being reported is what matters)."""
        try:
            return self.target.causes(detail)
        except Exception as exc:
            log.debug("no causes: %s", exc)
            return []

    def diagnostics(self) -> str:
        try:
            return self.target.diagnostics()
        except Exception as exc:  # diagnostics must never hide the original failure
            return f"(collecting diagnostics failed: {type(exc).__name__}: {exc})"


class NoLab(LabError):
    """There is no lab in the given directory."""
