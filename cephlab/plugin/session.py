"""The plugin's session: options, markers, the run's configuration and lab, the report header,
the lab dir's lock and live progress.

Each stage's feature carries the stage slug as a tag (``@extend_storage``), registered here
as a marker, which is how an item is tied to its stage.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import pytest

from .. import options, profile
from .. import stages as S
from .. import waits
from ..config import LabConfig
from ..errors import ConfigError

if TYPE_CHECKING:
    from ..lab import Lab
    from ..lock import LabLock
    from ..report.collector import Collector

EXTRA_MARKERS = {
    "k8s": "the stage needs a Kubernetes API (skipped on the local target)",
    "ceph": "the stage asserts on Ceph's own JSON",
    "destructive": "the stage removes storage; runs only on a lab the harness built",
    "data": "the scenario writes data and reads it back",
    "pods": "the scenario runs pods and talks to them (the harness's stand-ins do not model that)",
}


def pytest_addoption(parser: pytest.Parser) -> None:
    options.add_options(parser)


class LabSession:
    """Per-run plugin state, kept on ``config.stash``."""

    def __init__(self, cfg: LabConfig):
        self.cfg = cfg
        self.lab: Optional[Lab] = None  # created lazily: tests of the harness itself never build a lab
        self.report: Optional[Collector] = None  # the run's record and HTML report
        self.lock: Optional[LabLock] = None  # the lab dir's lock, once the run touches it
        self.step_seconds: list[tuple[float, str, str]] = []  # (seconds, step, where), as run


SESSION = pytest.StashKey[LabSession]()


def pytest_configure(config: pytest.Config) -> None:
    for stage in S.STAGES:
        config.addinivalue_line("markers", f"{stage.slug}: lab stage {stage.key} ({stage.title})")
    for name, text in EXTRA_MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {text}")
    try:
        cfg = options.build_config(config)
    except ConfigError as exc:
        raise pytest.UsageError(f"cephlab: {exc}") from None
    sess = config.stash[SESSION] = LabSession(cfg)
    _start_report(config, sess)
    if cfg.mode == "verify":
        from ..verify.hooks import VerifyHooks

        config.pluginmanager.register(VerifyHooks(sess), "cephlab-verify")


def _start_report(config: pytest.Config, sess: LabSession) -> None:
    """The stage table and HTML report: a plugin object fed by pytest's own reports."""
    import platform
    from importlib.metadata import PackageNotFoundError, version

    from ..report.collector import Collector

    path = options.value(config, "--lab-report")
    report_path = Path(path) if path else None
    if report_path is not None and not report_path.is_absolute():
        report_path = Path(config.invocation_params.dir) / report_path
    header = {"target": f"{sess.cfg.target} ({sess.cfg.target_reason})", "lab dir": str(sess.cfg.lab_dir),
              "python": platform.python_version()}
    from ..targets import target_class

    for i, text in enumerate(target_class(sess.cfg.target).substitutes, 1):
        header[f"substitute {i}"] = text
    for i, text in enumerate(target_class(sess.cfg.target).origins, 1):
        header[f"origin {i}"] = text
    for i, text in enumerate(target_class(sess.cfg.target).limits, 1):
        header[f"not proven here {i}"] = text
    for dist in ("pytest", "pytest-bdd", "selenium"):
        try:
            header[dist] = version(dist)
        except PackageNotFoundError:
            header[dist] = "not installed"
    sess.report = Collector(stage_of=S.of_item, lab_dir=sess.cfg.lab_dir, report_path=report_path,
                            lab=lambda: sess.lab, header=header)
    config.pluginmanager.register(sess.report, "cephlab-report")
    sess.report.install_sigterm()


def pytest_unconfigure(config: pytest.Config) -> None:
    sess = config.stash.get(SESSION, None)
    if sess is not None and sess.report is not None:
        sess.report.restore_sigterm()
    if sess is not None and sess.lock is not None:
        sess.lock.release()


def lab_session(config: pytest.Config) -> LabSession:
    return config.stash[SESSION]


def pytest_report_header(config: pytest.Config) -> list[str]:
    cfg = lab_session(config).cfg
    lines = [f"lab target: {cfg.target} ({cfg.target_reason})",
             f"lab dir: {cfg.lab_dir}, teardown policy: {cfg.destroy}"]
    from ..targets import target_class

    lines += target_class(cfg.target).header_lines(cfg)
    lines += [f"lab substitute: {text}" for text in target_class(cfg.target).substitutes]
    lines += [f"lab origin: {text}" for text in target_class(cfg.target).origins]
    lines += [f"lab limit: {text}" for text in target_class(cfg.target).limits]
    return lines


def pytest_collection_finish(session: pytest.Session) -> None:
    """Bad input is refused before any work starts: run the target's checks when (and only
    when) this run will touch the lab."""
    if profile.enabled():
        profile.record("phase", "start-up: Python, pytest, collection", profile.since_process_start())
    if session.config.option.collectonly:
        return
    wanted = [i for i in session.items
              if S.of_item(i) is not None and not i.get_closest_marker("skip")]
    if not wanted:
        return
    try:
        _hold_lab(session.config)  # first: a lab another run uses is not even looked at
        get_lab(session.config).sanity_checks()
    except ConfigError as exc:
        pytest.exit(f"cephlab: {exc}", returncode=pytest.ExitCode.USAGE_ERROR)


def _hold_lab(config: pytest.Config) -> None:
    """The lab dir's lock, held until the session ends (:func:`pytest_unconfigure`)."""
    from ..lock import LabLock

    sess = lab_session(config)
    if sess.cfg.mode == "verify":
        return  # verify mode writes nothing, not even a lock file, into a lab it only reads
    sess.lock = LabLock(sess.cfg.lab_dir)
    note = sess.lock.acquire()
    if note:
        _live_writer(config)(f"[lab] {note}")


def get_lab(config: pytest.Config):
    from ..lab import Lab

    sess = lab_session(config)
    if sess.lab is None:
        say = _live_writer(config)

        def announce(text: str) -> None:
            if sess.report is not None:
                sess.report.lab_said(text)  # which stage is in progress, for the table
            say(f"[lab] {text}")

        sess.lab = Lab(sess.cfg, announce=announce)
        waits.set_progress(_progress_printer(say))
    return sess.lab


def _live_writer(config: pytest.Config):
    """A line writer that reaches the terminal even while pytest captures output."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capman = config.pluginmanager.get_plugin("capturemanager")

    def say(line: str) -> None:
        if reporter is None:
            return
        if capman is not None:
            with capman.global_and_fixture_disabled():
                reporter.write_line(line)
        else:
            reporter.write_line(line)

    return say


def _progress_printer(say):
    """Live progress of long waits: at most one line every 5 s per wait."""
    last: dict[str, float] = {}

    def show(name: str, seen: str, elapsed: float) -> None:
        now = time.monotonic()
        if seen == "done":
            if name in last:
                say(f"[wait] {name}: done after {elapsed:.0f}s")
                last.pop(name, None)
            return
        if elapsed < 5 or now - last.get(name, 0) < 5:
            return
        last[name] = now
        say(f"[wait] {name}: {elapsed:.0f}s, last seen: {seen[:160]}")

    return show


