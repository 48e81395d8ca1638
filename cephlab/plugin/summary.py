"""The end of a run in the terminal: the stage table, the slowest steps, fault reports,
the lab's memory, the kept lab with what to run next, and where the HTML report is."""

from __future__ import annotations

import pytest

from .session import SESSION

#: How many of the slowest steps the terminal summary lists.
SLOWEST_STEPS = 8


def pytest_terminal_summary(terminalreporter, exitstatus, config: pytest.Config) -> None:
    from ..report.record import table_lines

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
        from ..failure import next_commands

        describe = sess.lab.target.describe()
        tr.write_line(f"lab kept in {sess.cfg.lab_dir}: {describe}")
        for line in next_commands(sess.cfg.lab_dir, describe):
            tr.write_line(f"  {line}")
    if sess.report.written is not None:
        tr.write_line(f"HTML report: {sess.report.written}"
                      + (f" (screenshots in {sess.report.shots_dir})" if record.shots else ""))
    elif sess.report.write_error:
        tr.write_line(f"the HTML report could not be written: {sess.report.write_error}", red=True)
