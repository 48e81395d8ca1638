"""pytest hooks of verify mode (registered by :mod:`cephlab.plugin` only with
``--lab-mode=verify``): a step that would change the lab reports "cannot check here" instead
of an error; each scenario's grade goes into its junit properties; the grade table ends the
run and goes into the HTML report (``Lab.grades``)."""

from __future__ import annotations

import pytest

from .. import stages
from .grading import LAB_STEPS, grade, grade_lines
from .rules import NotReached, VerifyRefused


class VerifyHooks:
    def __init__(self, session_state):
        self.sess = session_state  #: cephlab.plugin.LabSession

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call):
        outcome = yield
        report = outcome.get_result()
        excinfo = call.excinfo
        if excinfo is not None and excinfo.errisinstance((VerifyRefused, NotReached)):
            why = str(excinfo.value)
            prefix = "" if excinfo.errisinstance(NotReached) else "cannot check here: "
            report.outcome = "skipped"
            report.longrepr = (str(item.path), (item.location[1] or 0) + 1, f"Skipped: {prefix}{why}")
        stage = stages.of_item(item)
        if stage is None or not (report.when == "call" or (report.when == "setup" and not report.passed)):
            return
        if report.passed:
            text = f"{stage.key} {stage.slug}: holds"
        elif report.skipped:
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
            reason = reason.removeprefix("Skipped: ")
            verdict = "not reached" if "is not reached" in reason else "cannot check here"
            text = f"{stage.key} {stage.slug}: {verdict}: {reason.removeprefix('cannot check here: ')}"
        else:
            from ..report.record import short_message

            text = (f"{stage.key} {stage.slug}: does not hold: {short_message(report.longreprtext)}; "
                    f"lab step: {LAB_STEPS.get(stage.slug, '')}")
        item.user_properties.append(("lab grade", text))

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        lab, report = self.sess.lab, self.sess.report
        if lab is None or report is None:
            return
        lab.grades = grade(report.record.ordered(), lab.state.applied_slugs(), lab.notes)

    def pytest_terminal_summary(self, terminalreporter) -> None:
        lab = self.sess.lab
        if lab is None or not lab.grades:
            return
        tr = terminalreporter
        tr.section("lab grade (verify mode: nothing was changed)")
        reached = lab.reached()
        tr.write_line(f"the lab reached stage {reached or 'none'}"
                      + (" (--lab-reached)" if lab.cfg.reached else " (detected)")
                      + ("; data round trips skipped (--lab-verify-readonly)"
                         if lab.cfg.verify_readonly else
                         f"; data round trips wrote under {SCRATCH_NOTE} and removed it"))
        redact = self.sess.report.redact if self.sess.report is not None else (lambda s: s)
        for line in grade_lines(lab.grades):
            tr.write_line(redact(line))


SCRATCH_NOTE = "the scratch prefix cephlab-verify-scratch"
