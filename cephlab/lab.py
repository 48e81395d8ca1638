"""The lifecycle facade the fixtures use: reach a stage, reuse a kept lab, destroy it."""

from __future__ import annotations

import logging
import time
from typing import Callable, Optional

from . import stages as S
from .config import LabConfig, check_lab_dir
from .errors import LabError
from .stages import Stage
from .state import LabState
from .targets import Target, target_class

log = logging.getLogger("cephlab")

Announce = Callable[[str], None]


class Lab:
    def __init__(self, cfg: LabConfig, announce: Optional[Announce] = None):
        cfg.lab_dir = check_lab_dir(cfg.lab_dir)
        self.cfg = cfg
        self.announce: Announce = announce or log.info
        self.state = LabState(cfg.lab_dir, cfg.target)
        self.target: Target = target_class(cfg.target)(cfg, self.state)
        self._resumed = False
        #: Fault-injection reports of this run, for the terminal summary.
        self.fault_reports: list[dict] = []

    # ------------------------------------------------------------------ queries
    @property
    def ceph(self):
        return self.target.ceph

    def skip_reason(self, slug: str) -> Optional[str]:
        return self.target.skip_reason(S.get(slug))

    def built_by_harness(self) -> bool:
        return self.state.exists and self.state.doc.get("created_by") == "cephlab"

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
        started = self.target.resume()
        if started:
            self.announce(f"kept lab was not running: started {len(started)}: {', '.join(started)}")
        broken = self.target.broken()
        if broken:
            self.announce(f"kept lab: not running, left as found: {', '.join(broken)} "
                          f"(`python -m cephlab repair` restarts them)")

    def reach(self, slug: str) -> list[str]:
        """Apply ``slug`` and what it requires, skipping what the lab already has.

        Returns the slugs applied in this call. A lab that went past a stage in a way that
        invalidates it (e.g. OSDs removed) is destroyed and rebuilt first.
        """
        stage = S.get(slug)
        reason = self.target.skip_reason(stage)
        if reason:
            raise LabError(f"cannot reach stage {slug}: {reason}")
        self._rebuild_if_invalidated(stage)
        return self._apply_closure(slug, include_self=True)

    def prepare(self, slug: str) -> list[str]:
        """Apply what ``slug`` requires (not ``slug`` itself), skipping what the lab has; a
        lab on which ``slug`` cannot hold any more is rebuilt first."""
        self._rebuild_if_invalidated(S.get(slug))
        return self._apply_closure(slug, include_self=False)

    def _apply_closure(self, slug: str, include_self: bool) -> list[str]:
        needed = S.closure(slug, self.target.applicable)
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
        if st.builds:
            self.target.apply(st)
        seconds = time.monotonic() - start
        self.state.mark_applied(st.slug, seconds)
        self.announce(f"stage {st.slug} applied in {seconds:.1f}s")

    def _rebuild_if_invalidated(self, st: Stage) -> None:
        """Only the stage whose outcome is asserted matters: what it merely requires still
        has its effect (a pool is still there after OSDs were added)."""
        applied = set(self.state.applied_slugs())
        spoiled = [later for later in st.invalidated_by if later in applied]
        if not spoiled:
            return
        if not self.built_by_harness():
            raise LabError(f"stage {st.slug} no longer holds on this lab (after "
                           f"{', '.join(spoiled)}) and the harness did not build it")
        self.announce(f"stage {st.slug} no longer holds after {', '.join(spoiled)}: "
                      f"destroying and rebuilding the lab")
        self.destroy()
        self.state = LabState(self.cfg.lab_dir, self.cfg.target)
        self.target = target_class(self.cfg.target)(self.cfg, self.state)
        self.target.sanity_checks()

    def destroy(self) -> list[str]:
        """Stop only the lab's own processes (by pid) and remove its files."""
        if not self.state.exists:
            return []
        killed = self.target.destroy()
        self.announce(f"lab in {self.cfg.lab_dir} destroyed")
        return killed

    def diagnostics(self) -> str:
        try:
            return self.target.diagnostics()
        except Exception as exc:  # diagnostics must never hide the original failure
            return f"(collecting diagnostics failed: {type(exc).__name__}: {exc})"
