"""pytest hooks that fill the run's record from pytest's own reports, and write the HTML
report at the end of the session. Registered by :mod:`cephlab.plugin` as a plugin object.

SIGTERM is turned into an interrupt (like Ctrl-C), so a stopped run still ends with its
table, its report and its lab teardown.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, Callable, Optional, Union

import pytest

from .. import profile
from ..failure import CompactFailure
from ..secrets import SecretStore
from ..stages import Stage
from .record import Phase, Row, RunRecord, short_message
from .redact import Redactor
from .scenario import scenario_of

if TYPE_CHECKING:
    from ..lab import Lab

#: What signal.signal() returns: a handler, SIG_DFL/SIG_IGN, or None (not set from Python).
SignalHandler = Union[Callable[[int, Optional[FrameType]], Any], int, None]


class Terminated(KeyboardInterrupt):
    """The run got SIGTERM: handled as an interrupt, named as SIGTERM."""


def _on_sigterm(signum, frame):
    raise Terminated("SIGTERM")


class Collector:
    def __init__(self, *, stage_of: Callable[[pytest.Item], Optional[Stage]], lab_dir: Path,
                 report_path: Optional[Path], lab: Callable[[], Optional[Lab]], header: dict):
        self.record = RunRecord()
        self.redact = Redactor()
        self.stage_of = stage_of
        self.lab_dir = Path(lab_dir)
        self.report_path = report_path
        self.lab = lab          #: the run's Lab, or None when nothing built one
        self.header = header    #: target and versions, for the report
        self.written: Optional[Path] = None
        self.write_error = ""
        self._old_sigterm: SignalHandler = None

    # -------------------------------------------------------------- signals
    def install_sigterm(self) -> None:
        try:
            self._old_sigterm = signal.signal(signal.SIGTERM, _on_sigterm)
        except ValueError:  # not the main thread (pytest run inside a thread): leave it
            self._old_sigterm = None

    def restore_sigterm(self) -> None:
        if self._old_sigterm is not None:
            signal.signal(signal.SIGTERM, self._old_sigterm)
            self._old_sigterm = None

    # -------------------------------------------------------------- where screenshots go
    @property
    def shots_dir(self) -> Optional[Path]:
        """Next to the HTML report (``REPORT-screenshots/``); None without a report."""
        if self.report_path is None:
            return None
        return self.report_path.parent / f"{self.report_path.stem}-screenshots"

    def add_shot(self, nodeid: str, path: Path, caption: str) -> None:
        self.record.shot(nodeid, str(path), caption)

    def add_secret(self, value: str) -> None:
        """A secret that is not in the lab's secrets.json (e.g. a short-lived token)."""
        self.redact.add(value)

    def learn_secrets(self) -> None:
        # read on every report: a destroyed lab takes its secrets.json with it
        self.redact.add_secrets_file(SecretStore(self.lab_dir).path)

    # -------------------------------------------------------------- pytest hooks
    @pytest.hookimpl(trylast=True)
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        root = Path(session.config.rootpath)
        for item in session.items:
            stage = self.stage_of(item)
            if stage is None:
                continue
            ref = scenario_of(item, root)
            name, location = (ref.name, ref.location) if ref else (item.name, item.nodeid)
            self.record.add_row(Row(item.nodeid, stage, name, location))

    def pytest_runtest_logstart(self, nodeid: str) -> None:
        self.record.start(nodeid, time.time())

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.nodeid not in self.record.rows:
            return
        self.learn_secrets()
        if report.skipped:
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
            row = self.record.rows[report.nodeid]
            message = reason.removeprefix("Skipped: ").removeprefix(f"scenario '{row.scenario}': ")
            details = ""
        elif report.failed:
            message = short_message(report.longreprtext)
            # the full traceback, also when the terminal showed the compact failure
            full = report.longrepr.full if isinstance(report.longrepr, CompactFailure) else ""
            details = "\n\n".join([full or report.longreprtext] + [f"----- {title} -----\n{text}"
                                                           for title, text in report.sections])
        else:
            message = details = ""
        self.record.phase(report.nodeid, report.when,
                          Phase(report.outcome, report.duration, message, details))
        stage = self.record.rows[report.nodeid].stage
        if report.when == "call" and report.passed and not stage.kubernetes \
                and "ceph" not in self.header:
            self._ceph_versions()

    def pytest_runtest_logfinish(self, nodeid: str) -> None:
        self.record.finish(nodeid, time.time())

    def _ceph_versions(self) -> None:
        """Once, after the first passed step phase of a Ceph stage, before its teardown (the
        last teardown destroys the lab): the versions the cluster's daemons run."""
        lab = self.lab()
        if lab is None or not lab.state.exists:  # never touch a destroyed lab (nor re-mount it)
            return
        self.header["ceph"] = "unknown"
        try:
            overall = lab.ceph.json("versions", timeout=15).get("overall", {})
        except Exception:  # no cluster (yet) on this target: the header says unknown
            return
        self.header["ceph"] = "; ".join(f"{v} ({n} daemons)" for v, n in overall.items()) or "unknown"

    def pytest_keyboard_interrupt(self, excinfo) -> None:
        how = "SIGTERM" if isinstance(excinfo.value, Terminated) else "SIGINT (Ctrl-C)"
        self.learn_secrets()
        self.record.interrupt(how, time.time())

    def lab_said(self, text: str) -> None:
        self.record.lab_said(text, time.time())

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus) -> None:
        """After the lab's teardown (the runner's own sessionfinish runs first)."""
        self.record.finished = time.time()
        self.learn_secrets()
        if self.report_path is None:
            return
        from .html import write_report

        lab = self.lab()
        if "ceph" not in self.header:
            self._ceph_versions()  # nothing passed: ask a kept lab
        if lab is not None and lab.peak_footprint:
            _, detail, slug = lab.peak_footprint
            self.header["resident memory"] = f"{detail} (largest, after stage {slug})"
        faults = list(lab.fault_reports) if lab is not None else []
        grades = [g.to_json() for g in lab.grades] if lab is not None else []
        try:
            with profile.timed("phase", "the HTML report written"):
                self.written = write_report(self.report_path, self.record, header=self.header,
                                            faults=faults, grades=grades, redact=self.redact,
                                            exitstatus=int(exitstatus))
        except Exception as exc:  # the report must not hide the run's own result
            self.write_error = f"{type(exc).__name__}: {exc}"
