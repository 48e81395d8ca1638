"""A failed scenario's report: the lab's diagnostics, the lab's own failures as the
harness's message with causes and next commands, no secret in any text, and a skip named
by its feature file and scenario."""

from __future__ import annotations

from pathlib import Path

import pytest

from .. import stages as S
from .bdd_steps import FAILED_STEP
from .session import LabSession, lab_session


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
        from ..report.scenario import scenario_of

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


def _compact_failure(item: pytest.Item, call, report, sess: LabSession) -> None:
    """The lab's own failures read as the harness's message, causes and next commands
    (cephlab.failure); --tb=long or -v keeps pytest's full traceback."""
    from ..errors import CannotHeal, LabError
    from ..failure import compact, project_frame, wants_compact

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
