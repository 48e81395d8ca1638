"""The pytest plugin: options, target choice, skips, diagnostics, progress and the stage table.

Each stage's feature carries the stage slug as a tag (``@extend_storage``), registered here
as a marker, which is how an item is tied to its stage.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import pytest

from . import options, profile
from . import stages as S
from . import waits
from .config import LabConfig
from .errors import ConfigError

if TYPE_CHECKING:
    from .lab import Lab
    from .lock import LabLock
    from .report.collector import Collector

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
        from .verify_hooks import VerifyHooks

        config.pluginmanager.register(VerifyHooks(sess), "cephlab-verify")


def _start_report(config: pytest.Config, sess: LabSession) -> None:
    """The stage table and HTML report: a plugin object fed by pytest's own reports."""
    import platform
    from importlib.metadata import PackageNotFoundError, version

    from .report.collector import Collector

    path = options.value(config, "--lab-report")
    report_path = Path(path) if path else None
    if report_path is not None and not report_path.is_absolute():
        report_path = Path(config.invocation_params.dir) / report_path
    header = {"target": f"{sess.cfg.target} ({sess.cfg.target_reason})", "lab dir": str(sess.cfg.lab_dir),
              "python": platform.python_version()}
    from .targets import target_class

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
    if cfg.target == "local":
        from .local.rootfs import describe_choice

        lines.append(f"lab ceph: {describe_choice(cfg.ceph_release)} ({cfg.ceph_reason})")
    from .targets import target_class

    lines += [f"lab substitute: {text}" for text in target_class(cfg.target).substitutes]
    lines += [f"lab origin: {text}" for text in target_class(cfg.target).origins]
    lines += [f"lab limit: {text}" for text in target_class(cfg.target).limits]
    return lines


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items) -> None:
    """The one skip path: a stage that does not run on this run's target (or that this run's
    options forbid) is skipped here, with the reason :func:`cephlab.targets.why_not` gives."""
    from .targets import why_not

    cfg = lab_session(config).cfg
    for item in items:
        stage = S.of_item(item)
        reason = why_not(cfg.target, stage, cfg, needs_kubernetes=item.get_closest_marker("k8s") is not None
                         ) if stage is not None else None
        if reason:
            item.add_marker(pytest.mark.skip(reason=reason))


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
    from .lock import LabLock

    sess = lab_session(config)
    if sess.cfg.mode == "verify":
        return  # verify mode writes nothing, not even a lock file, into a lab it only reads
    sess.lock = LabLock(sess.cfg.lab_dir)
    note = sess.lock.acquire()
    if note:
        _live_writer(config)(f"[lab] {note}")


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> Optional[int]:
    """Plan mode (``--lab-plan DIR``): write the plan, say so in one line, run nothing. It
    ends the run here, before a session starts (no collection, no lab)."""
    plan_dir = options.value(config, "--lab-plan")
    if not plan_dir or config.option.collectonly or config.getoption("help") \
            or config.getoption("version"):
        return None
    try:
        cfg = options.build_config(config)
        force = options.yes_no(config, "--lab-plan-force")
        out_dir = Path(plan_dir)
        if not out_dir.is_absolute():
            out_dir = Path(config.invocation_params.dir) / out_dir
        message = _write_plan(cfg, out_dir, force=force)
    except (ValueError, FileExistsError, ConfigError) as exc:
        sys.stderr.write(f"cephlab: {exc}\n")
        return int(pytest.ExitCode.USAGE_ERROR)
    sys.stdout.write(message + "\n")
    return int(pytest.ExitCode.OK)


#: the spellings of yes/no an option accepts


def _write_plan(cfg: LabConfig, out_dir: Path, force: bool) -> str:
    """Plan mode: render the whole lab for review, run nothing; the one-line message."""
    from .k8s.plan import write_plan
    from .targets import target_class

    if not target_class(cfg.target).has_kubernetes:
        raise ConfigError(f"--lab-plan is for the vagrant and cluster targets (this run's "
                          f"target is {cfg.target}: {cfg.target_reason})")
    # the cluster target's plan is for the configured nodes and devices, when given
    conf = None
    if cfg.target == "cluster" and cfg.cluster_config:
        from .k8s import cluster_config

        conf = cluster_config.load(cfg.cluster_config)
    # write_plan runs the plan checker first: a plan that fails it is refused, unwritten
    written = write_plan(out_dir, target=cfg.target, cluster_config=conf, force=force)
    return (f"cephlab: wrote the {cfg.target} plan ({len(written)} files) to {out_dir}; "
            f"read {out_dir / 'plan.md'} first. Nothing was run.")


def get_lab(config: pytest.Config):
    from .lab import Lab

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


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call):
    outcome = yield
    report = outcome.get_result()
    stage = S.of_item(item)
    if stage is None:
        return
    sess = lab_session(item.config)
    if report.skipped and isinstance(report.longrepr, tuple):
        # pytest places a skip at the scenario function, inside pytest-bdd's package: name
        # the feature file, the scenario's line and the scenario instead
        from .report.scenario import scenario_of

        ref = scenario_of(item, Path(item.config.rootpath))
        if ref is not None:
            reason = str(report.longrepr[2]).removeprefix("Skipped: ")
            report.longrepr = (ref.path, ref.line, f"{ref.skip_prefix}{reason}")
    elif report.failed and sess.lab is not None:
        text = sess.lab.diagnostics()
        report.sections.append(("lab diagnostics", text))
        if sess.report is not None:
            text = sess.report.redact(text)
        item.user_properties.append(("lab diagnostics", text))  # lands in --junitxml
        _compact_failure(item, call, report, sess)
    if report.failed and sess.report is not None:
        # pytest prints a failure's text (its assertion introspection, captured output) in
        # FAILURES and the short summary: no value of the lab's secrets may reach them
        sess.report.learn_secrets()
        redact = sess.report.redact
        text = report.longreprtext
        if redact(text) != text:
            report.longrepr = redact(text)
        report.sections = [(title, redact(body)) for title, body in report.sections]


FAILED_STEP = pytest.StashKey[str]()
STEP_START = pytest.StashKey[float]()
#: How many of the slowest steps the terminal summary lists.
SLOWEST_STEPS = 8


def pytest_bdd_before_step(request, feature, scenario, step, step_func):
    request.node.stash[STEP_START] = time.monotonic()


def _step_done(request, feature, step) -> None:
    sess = request.config.stash.get(SESSION, None)
    start = request.node.stash.get(STEP_START, None)
    if sess is None or start is None:
        return
    seconds = time.monotonic() - start
    where = f"{feature.rel_filename}:{step.line_number}"
    sess.step_seconds.append((seconds, f"{step.keyword} {step.name}", where))
    request.node.user_properties.append(("step seconds", f"{seconds:.1f} {where}"))


def pytest_bdd_after_step(request, feature, scenario, step, step_func, step_func_args):
    _step_done(request, feature, step)


def pytest_bdd_step_error(request, feature, scenario, step, step_func, step_func_args, exception):
    _step_done(request, feature, step)
    request.node.stash[FAILED_STEP] = (f"{step.keyword} {step.name}  "
                                       f"({feature.rel_filename}:{step.line_number})")


def _compact_failure(item: pytest.Item, call, report, sess: LabSession) -> None:
    """The lab's own failures read as the harness's message, causes and next commands
    (cephlab.failure); --tb=long or -v keeps pytest's full traceback."""
    from .errors import CannotHeal, LabError
    from .failure import compact, project_frame, wants_compact

    opt = item.config.option
    if call.excinfo is None or not isinstance(call.excinfo.value, LabError) \
            or not wants_compact(opt.tbstyle, opt.verbose):
        return
    exc = call.excinfo.value
    short = compact(exc, lab_dir=sess.cfg.lab_dir, step=item.stash.get(FAILED_STEP, ""),
                    where=project_frame(call.excinfo.traceback, Path(item.config.rootpath)),
                    causes=[] if isinstance(exc, CannotHeal) or sess.lab is None else sess.lab.causes(),
                    full=report.longreprtext)
    if short is not None:
        report.longrepr = short


def pytest_terminal_summary(terminalreporter, exitstatus, config: pytest.Config) -> None:
    from .report.record import table_lines

    sess = config.stash.get(SESSION, None)
    if not sess or sess.report is None or not sess.report.record.rows:
        return
    tr = terminalreporter
    record = sess.report.record
    if not record.interrupted and not any(r.started for r in record.rows.values()):
        return  # nothing ran (--collect-only, --generate-missing): no table to show
    tr.section("lab stages")
    for line in table_lines(record, redact=sess.report.redact):
        tr.write_line(line)
    stopped = record.in_progress()  # None unless the run was interrupted
    if stopped is not None:
        tr.write_line(f"INTERRUPTED: {sess.report.redact(stopped)}", red=True, bold=True)
    if sess.step_seconds:
        slow = sorted(sess.step_seconds, reverse=True)[:SLOWEST_STEPS]
        tr.write_line(f"slowest steps ({len(sess.step_seconds)} steps took "
                      f"{sum(s for s, _, _ in sess.step_seconds):.1f}s in all):")
        for seconds, text, where in slow:
            tr.write_line(f"  {seconds:6.1f}s  {text[:70]}  ({where})")
    if sess.lab is not None and sess.lab.fault_reports:
        tr.section("fault injection")
        tr.write_line(f"{'fault':<26}{'detect s':>9}{'recover s':>10}{'lost':>6}  checked; injected")
        for rep in sess.lab.fault_reports:
            checked = ", ".join(f"{v} {k}" for k, v in rep["checked"].items())
            tr.write_line(f"{rep['fault']:<26}{rep['detect_seconds']:>9.2f}{rep['recover_seconds']:>10.2f}"
                          f"{rep['lost']:>6}  {checked}; {rep['injected'][:70]}")
    if sess.lab is not None and sess.lab.peak_footprint is not None:
        _, detail, slug = sess.lab.peak_footprint
        tr.write_line(f"resident memory of the lab, largest after a stage ({slug}): {detail}")
    if sess.lab is not None and sess.lab.state.exists:
        from .failure import next_commands

        describe = sess.lab.target.describe()
        tr.write_line(f"lab kept in {sess.cfg.lab_dir}: {describe}")
        for line in next_commands(sess.cfg.lab_dir, describe):
            tr.write_line(f"  {line}")
    if sess.report.written is not None:
        tr.write_line(f"HTML report: {sess.report.written}"
                      + (f" (screenshots in {sess.report.shots_dir})" if record.shots else ""))
    elif sess.report.write_error:
        tr.write_line(f"the HTML report could not be written: {sess.report.write_error}", red=True)
