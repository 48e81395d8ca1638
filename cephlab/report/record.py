"""The run's record: one row per scenario, its result taken from what pytest reported for it
(setup, call and teardown reports), never assumed.

A scenario that was started but has no result when the run stopped (Ctrl-C, SIGTERM) is
*interrupted*; one that never started is *not run*. :func:`verdict` is the one place that
turns a row's phase reports into its result and reason.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Optional

from ..stages import Stage

RESULTS = ("passed", "failed", "error", "skipped", "interrupted", "not run")


@dataclass
class Phase:
    """What pytest reported for one phase (setup, call or teardown) of a scenario."""

    outcome: str          #: passed, failed or skipped
    seconds: float
    message: str = ""     #: one line: the skip reason or the failure's own message
    details: str = ""     #: a failure's full text: traceback, captured output, lab diagnostics


@dataclass
class Row:
    nodeid: str
    stage: Stage
    scenario: str         #: the scenario's name as the feature file spells it
    location: str         #: features/NN_slug.feature:LINE
    phases: dict[str, Phase] = field(default_factory=dict)
    started: Optional[float] = None   #: wall clock, when pytest started the scenario
    finished: Optional[float] = None  #: wall clock, when pytest was done with it
    interrupted: str = ""  #: how the run was stopped while this scenario ran

    @property
    def result(self) -> str:
        return verdict(self)[0]

    @property
    def reason(self) -> str:
        return verdict(self)[1]

    @property
    def seconds(self) -> float:
        """Time in setup and call (the last teardown also carries the lab's destroy); for an
        interrupted scenario, from its start to the interrupt."""
        if self.interrupted and self.started is not None and self.finished is not None:
            return max(0.0, self.finished - self.started)
        return sum(p.seconds for w, p in self.phases.items() if w != "teardown")

    @property
    def failure(self) -> Optional[Phase]:
        return next((p for w in ("setup", "call", "teardown")
                     if (p := self.phases.get(w)) and p.outcome == "failed"), None)


def verdict(row: Row) -> tuple[str, str]:
    """(result, reason) of a row from its phase reports; reason is "" for passed."""
    setup, call, teardown = (row.phases.get(w) for w in ("setup", "call", "teardown"))
    if setup and setup.outcome == "failed":
        return "error", f"setup: {setup.message}"
    if setup and setup.outcome == "skipped":
        return "skipped", setup.message
    if call and call.outcome == "failed":
        return "failed", call.message
    if call and call.outcome == "skipped":
        return "skipped", call.message
    if row.interrupted:
        return "interrupted", row.interrupted
    if teardown and teardown.outcome == "failed":
        return "error", f"teardown: {teardown.message}"
    if call and call.outcome == "passed" and teardown:
        return "passed", ""
    if row.started is None:
        return "not run", "the run ended before this scenario started"
    missing = next(w for w in ("setup", "call", "teardown") if w not in row.phases)
    return "error", f"no {missing} result: the run stopped during its {missing}"


def short_message(text: str, limit: int = 300) -> str:
    """The line of a failure that says what went wrong (pytest's ``E   …`` lines first)."""
    lines = [ln for ln in (text or "").splitlines() if ln.strip()]
    e_lines = [ln[1:].strip() for ln in lines if ln.startswith("E ")]
    picked = e_lines[0] if e_lines else (lines[-1].strip() if lines else "")
    picked = re.sub(r"^(?:[a-z_]+\.)*[A-Z][A-Za-z]*:\s*", "", picked)  # the exception's class
    return picked[:limit]


@dataclass
class Shot:
    nodeid: str
    path: str
    caption: str
    at: float


@dataclass
class StageWork:
    """A stage the lab applied during the run (from the lab's own announcements)."""

    slug: str
    label: str
    started: float
    finished: Optional[float] = None
    interrupted: bool = False


APPLYING = re.compile(r"^applying stage (?P<key>\S+) (?P<slug>[a-z_]+)")
APPLIED = re.compile(r"^stage (?P<slug>[a-z_]+) applied in")


@dataclass
class RunRecord:
    rows: dict[str, Row] = field(default_factory=dict)
    shots: list[Shot] = field(default_factory=list)
    work: list[StageWork] = field(default_factory=list)
    started: float = field(default_factory=time.time)
    finished: Optional[float] = None
    current: Optional[str] = None     #: nodeid of the scenario pytest is running
    interrupted: str = ""             #: "SIGINT (Ctrl-C)" or "SIGTERM" when the run was stopped
    last_lab_line: str = ""

    # -------------------------------------------------------------- what happened
    def add_row(self, row: Row) -> None:
        self.rows[row.nodeid] = row

    def start(self, nodeid: str, now: float) -> None:
        if nodeid in self.rows:
            self.rows[nodeid].started = now
            self.current = nodeid

    def phase(self, nodeid: str, when: str, phase: Phase) -> None:
        if nodeid in self.rows:
            self.rows[nodeid].phases[when] = phase

    def finish(self, nodeid: str, now: float) -> None:
        if nodeid in self.rows:
            self.rows[nodeid].finished = now
        if self.current == nodeid:
            self.current = None

    def lab_said(self, text: str, now: float) -> None:
        """The lab's announcements: which stage it is applying, and when it is done."""
        self.last_lab_line = text
        if m := APPLYING.match(text):
            self.work.append(StageWork(m["slug"], f"{m['key']} {m['slug']}", now))
        elif m := APPLIED.match(text):
            for w in reversed(self.work):
                if w.slug == m["slug"] and w.finished is None:
                    w.finished = now
                    break

    def interrupt(self, how: str, now: float) -> None:
        """The run was stopped: the scenario in progress, and the stage the lab was applying,
        are interrupted."""
        self.interrupted = how
        work = next((w for w in reversed(self.work) if w.finished is None), None)
        if work is not None:
            work.finished, work.interrupted = now, True
        row = self.rows.get(self.current) if self.current else None
        if row is None:
            return
        during = next((w for w in ("setup", "call", "teardown") if w not in row.phases), "teardown")
        text = f"interrupted by {how} during {during}"
        if work is not None:
            text += f", while the lab was applying stage {work.label}"
        elif self.last_lab_line:
            text += f" (last lab activity: {self.last_lab_line[:120]})"
        row.interrupted, row.finished = text, now

    def shot(self, nodeid: str, path: str, caption: str) -> None:
        self.shots.append(Shot(nodeid, path, caption, time.time()))

    # -------------------------------------------------------------- views
    def ordered(self) -> list[Row]:
        """Rows in the order pytest ran (or would have run) them: stage order."""
        return sorted(self.rows.values(), key=lambda r: r.stage.order)

    def counts(self) -> dict[str, int]:
        out = {r: 0 for r in RESULTS}
        for row in self.rows.values():
            out[row.result] += 1
        return out

    def in_progress(self) -> Optional[str]:
        """What was in progress when the run was interrupted, in words."""
        if not self.interrupted:
            return None
        row = next((r for r in self.rows.values() if r.result == "interrupted"), None)
        if row is None:
            return f"the run was interrupted by {self.interrupted} between scenarios"
        return f"stage {row.stage.key} {row.stage.slug}, scenario '{row.scenario}': {row.reason}"


def scenario_label(row: Row) -> str:
    """The scenario's name without its leading ``slug — `` (the stage column has it)."""
    prefix = f"{row.stage.slug} — "
    return row.scenario[len(prefix):] if row.scenario.startswith(prefix) else row.scenario


def table_lines(record: RunRecord, redact=lambda s: s, width: int = 160) -> list[str]:
    """The stage table for the terminal: one line per scenario, the reason for anything not
    passed on the line under it."""
    rows = record.ordered()
    # The stage column fits the longest "key slug" and one space ("10 shared_filesystem").
    col = max([20, *(len(f"{r.stage.key} {r.stage.slug}") + 1 for r in rows)])
    lines = [f"{'stage':<{col}}{'scenario':<46}{'result':<12}{'seconds':>8}"]
    for row in rows:
        label = scenario_label(row)
        label = label if len(label) <= 44 else label[:43] + "…"
        lines.append(f"{row.stage.key + ' ' + row.stage.slug:<{col}}{label:<46}{row.result:<12}"
                     f"{row.seconds:>8.1f}")
        if row.result != "passed":
            lines.append(f"{'':<{col}}↳ {redact(row.reason)[:width]}")
    return lines
