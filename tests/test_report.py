"""The stage table and the HTML report say what happened: passed, failed, error, skipped,
interrupted (SIGINT, SIGTERM) and not run, each from pytest's own reports; the report is one
self-contained file, opens in the headless browser without console errors, embeds real
screenshots, and holds no secret value.

Runs are child pytest processes on a stand-in project (tests/standin: scenarios tagged with
the lab's stage slugs whose steps pass, fail, skip, sleep or use the browser), so no Ceph
cluster is built; the local target's pre-flight (Ceph programs installed, free ports on the
tests' own loopback addresses) still runs, as in a real run.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cephlab import browser as chromium
from cephlab import stages
from cephlab.report.html import render, timeline
from cephlab.report.record import Phase, Row, RunRecord, table_lines, verdict
from cephlab.report.redact import MASK, Redactor
from tests.conftest import ROOT, TEST_CEPH, ceph_unavailable, loopback_prefix

pytestmark = pytest.mark.standin

STANDIN = Path(__file__).parent / "standin"
PREFIX = loopback_prefix("report")
FOUND = chromium.find()
needs_ceph = pytest.mark.skipif(bool(ceph_unavailable()),
                                reason=f"the local target's pre-flight needs ceph {TEST_CEPH}: "
                                       f"{ceph_unavailable()}")
needs_browser = pytest.mark.skipif(not FOUND.usable, reason=FOUND.missing or "browser present")


# ------------------------------------------------------------------ the verdict, pure
def _row(slug="toolbox", **phases) -> Row:
    row = Row(f"t::{slug}", stages.get(slug), f"{slug} — a scenario", "f.feature:3")
    for when, (outcome, msg) in phases.items():
        row.phases[when] = Phase(outcome, 1.0, msg)
    if phases:
        row.started = 1.0
    return row


@pytest.mark.parametrize("phases, interrupted, expected", [
    ({"setup": ("passed", ""), "call": ("passed", ""), "teardown": ("passed", "")}, "", "passed"),
    ({"setup": ("failed", "boom")}, "", "error"),
    ({"setup": ("skipped", "why")}, "", "skipped"),
    ({"setup": ("passed", ""), "call": ("failed", "no"), "teardown": ("passed", "")}, "", "failed"),
    ({"setup": ("passed", ""), "call": ("skipped", "why")}, "", "skipped"),
    ({"setup": ("passed", ""), "call": ("passed", ""), "teardown": ("failed", "x")}, "", "error"),
    # started, no result: what today's table called "passed 0.0"
    ({"setup": ("passed", "")}, "interrupted by SIGINT (Ctrl-C) during call", "interrupted"),
    ({"setup": ("passed", "")}, "", "error"),
    ({}, "", "not run"),
])
def test_verdict_comes_from_the_reports(phases, interrupted, expected):
    row = _row(**phases)
    row.interrupted = interrupted
    result, reason = verdict(row)
    assert result == expected
    assert (reason == "") == (expected == "passed")


def test_an_interrupt_names_the_scenario_and_the_stage_the_lab_was_applying():
    record = RunRecord()
    row = _row("extend_storage", setup=("passed", ""))
    row.phases.clear()
    record.add_row(row)
    record.add_row(_row("remove_node"))
    record.rows["t::remove_node"].started = None
    record.start(row.nodeid, 10.0)
    record.phase(row.nodeid, "setup", Phase("passed", 0.1))
    record.lab_said("applying stage 11 extend_storage: sdd added", 11.0)
    record.interrupt("SIGINT (Ctrl-C)", 20.0)
    assert row.result == "interrupted"
    assert row.reason == ("interrupted by SIGINT (Ctrl-C) during call, while the lab was "
                          "applying stage 11 extend_storage")
    assert row.seconds == pytest.approx(10.0)
    assert record.rows["t::remove_node"].result == "not run"
    assert record.work[0].interrupted and record.work[0].finished == 20.0
    lines = table_lines(record)
    assert any("extend_storage" in ln and "interrupted" in ln for ln in lines)
    assert not any("passed" in ln for ln in lines)


def test_redactor_masks_every_value_of_secrets_json(tmp_path):
    (tmp_path / "secrets.json").write_text(json.dumps({"a": "Secret-Value-0123456789",
                                                       "b": "ANOTHERSECRETKEY0001"}))
    redact = Redactor()
    redact.add_secrets_file(tmp_path / "secrets.json")
    redact.add_secrets_file(tmp_path / "absent.json")  # no file: nothing to add, no error
    text = "password Secret-Value-0123456789 and key ANOTHERSECRETKEY0001 and the word admin"
    assert redact(text) == f"password {MASK} and key {MASK} and the word admin"
    assert len(redact) == 2


def test_the_rendered_report_holds_no_secret_anywhere(tmp_path):
    secret = "pw-Zq8yX2LmN0pQrS7tUvWx"
    record = RunRecord(started=100.0, finished=130.0)
    row = _row("pg_num", setup=("passed", ""), call=("failed", f"login with {secret} refused"))
    row.phases["call"].details = f"E   AssertionError: login with {secret} refused\n{secret}"
    row.finished = 120.0
    record.add_row(row)
    redact = Redactor([secret])
    html = render(record, header={"target": "local", "note": f"x {secret}"},
                  faults=[{"fault": "osd", "injected": f"kill with {secret}", "detect_seconds": 1.0,
                           "recover_seconds": 2.0, "checked": {"objects": 3}, "lost": 0}],
                  redact=redact, exitstatus=1)
    assert secret not in html
    assert html.count(MASK) >= 4
    assert 'id="fail-0"' in html and 'href="#fail-0"' in html and 'href="#row-0"' in html
    assert "<svg" in html and "<rect" in html


def test_timeline_places_bars_by_wall_time():
    record = RunRecord(started=0.0, finished=100.0)
    a, b = _row("toolbox", setup=("passed", "")), _row("pg_num", setup=("passed", ""))
    a.started, a.finished, b.started, b.finished = 0.0, 50.0, 50.0, 100.0
    record.add_row(a)
    record.add_row(b)
    chart = timeline(record, width=1000, left=300)
    first, second = chart.bars
    assert first.x == pytest.approx(300) and second.x == pytest.approx(300 + 340)
    assert first.width == pytest.approx(340) and second.width == pytest.approx(340)


def test_without_chromium_the_browser_is_missing_by_name():
    found = chromium.find(which=lambda name: None)
    assert not found.usable
    assert "chromium and chromedriver not installed" in found.missing
    assert "python3 -m cephlab setup" in found.missing


# ------------------------------------------------------------------ child runs
def _project(tmp_path: Path) -> Path:
    proj = tmp_path / "proj"
    proj.mkdir()
    shutil.copy(STANDIN / "stand_in.feature", proj / "stand_in.feature")
    shutil.copy(STANDIN / "standin_steps.py", proj / "test_stand_in.py")
    shutil.copy(STANDIN / "standin_conftest.py", proj / "conftest.py")
    shutil.copy(STANDIN / "standin_pytest.ini", proj / "pytest.ini")
    return proj


def _env(tmp_path: Path, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAB_")}
    env.update(PYTHONPATH=str(ROOT), LAB_TARGET="local", LAB_DIR=str(tmp_path / "lab"),
               LAB_IP_PREFIX=PREFIX, LAB_DESTROY="never", LAB_REPORT=str(tmp_path / "report.html"),
               STANDIN_STARTED=str(tmp_path / "started"),
               LAB_CEPH=TEST_CEPH)  # as run_harness does
    env.update(extra)
    return env


def _argv(*args):
    return [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args]


def _stage_table(stdout: str) -> list[str]:
    lines = stdout.splitlines()
    start = next(i for i, ln in enumerate(lines) if "lab stages" in ln)
    return lines[start + 1:]


def _row_line(table: list[str], slug: str, words: str) -> str:
    return next(ln for ln in table if slug in ln and words in ln)


def _secret(tmp_path: Path) -> str:
    return json.loads((tmp_path / "lab" / "secrets.json").read_text())["stand-in-password"]


@needs_ceph
def test_a_failing_run_says_failed_skipped_and_not_run_with_reasons(tmp_path):
    proj = _project(tmp_path)
    # a wide terminal: pytest's short summary then carries the whole failure line
    res = subprocess.run(_argv("-x", "-k", "not extend_storage and not browser"), cwd=proj,
                         env=_env(tmp_path, COLUMNS="300"), capture_output=True, text=True,
                         timeout=300)
    out = res.stdout
    assert res.returncode == 1, out[-3000:] + res.stderr[-2000:]
    # pytest's own FAILURES section and short summary show the failure: never the secret
    assert _secret(tmp_path) not in out + res.stderr
    assert "the stand-in check saw ***" in out
    table = _stage_table(out)
    assert re.search(r"12 toolbox\s+a stand-in check that holds\s+passed", "\n".join(table))
    assert re.search(r"15 minio\s+a stand-in on a stage the local target skips\s+skipped", "\n".join(table))
    assert re.search(r"13 pg_num\s+a stand-in check that fails\s+failed", "\n".join(table))
    assert re.search(r"14 remove_node\s+a stand-in after the slow one\s+not run", "\n".join(table))
    assert "stage minio needs Kubernetes" in "\n".join(table)
    assert "the stand-in check saw ***" in "\n".join(table)
    # the skip line points at the feature file and the scenario's line, not into pytest-bdd
    line = next(ln for ln in out.splitlines() if ln.startswith("SKIPPED"))
    assert re.search(r"SKIPPED \[1\] stand_in\.feature:\d+: scenario 'minio — a stand-in on a stage "
                     r"the local target skips': stage minio needs Kubernetes", line), line
    assert "pytest_bdd" not in line

    html = (tmp_path / "report.html").read_text()
    secret = _secret(tmp_path)
    assert secret not in html and secret not in "\n".join(table)
    assert re.search(r'id="row-\d+".*?pg_num.*?r-failed">failed<', html, re.S)
    assert "not run" in html and "stand-in output with the secret ***" in html  # captured output
    assert 'href="#fail-' in html and "<svg" in html


@needs_ceph
@pytest.mark.parametrize("sig, named", [(signal.SIGINT, "SIGINT (Ctrl-C)"),
                                        (signal.SIGTERM, "SIGTERM")])
def test_an_interrupted_run_says_interrupted_for_the_stage_in_progress(tmp_path, sig, named):
    proj = _project(tmp_path)
    env = _env(tmp_path)
    child = subprocess.Popen(_argv("-k", "extend_storage or remove_node"), cwd=proj, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not Path(env["STANDIN_STARTED"]).exists():
            assert child.poll() is None, child.communicate()[0][-3000:]
            assert time.monotonic() < deadline, "the slow stand-in stage never started"
            time.sleep(0.2)
        time.sleep(1.0)
        child.send_signal(sig)
        out, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 2, out[-3000:] + err[-2000:]  # pytest's "interrupted"
    table = _stage_table(out)
    row = _row_line(table, "11 extend_storage", "a slow stand-in stage")
    assert "interrupted" in row and "passed" not in row
    assert float(row.split()[-1]) >= 1.0  # its time runs until the interrupt
    assert f"interrupted by {named} during call" in "\n".join(table)
    assert "not run" in _row_line(table, "14 remove_node", "after the slow one")
    assert "INTERRUPTED: stage 11 extend_storage, scenario 'extend_storage — a slow stand-in stage'" in out

    html = (tmp_path / "report.html").read_text()
    assert f"Interrupted by {named}" in html
    rows = re.findall(r'<tr id="row-\d+">(.*?)</tr>', html, re.S)
    slow = next(r for r in rows if "a slow stand-in stage" in r)
    assert "r-interrupted\">interrupted<" in slow and ">passed<" not in slow


@needs_ceph
@needs_browser
def test_a_browser_screenshot_is_a_real_image_embedded_in_a_report_that_opens_cleanly(tmp_path):
    from PIL import Image, ImageStat

    proj = _project(tmp_path)
    res = subprocess.run(_argv("-k", "browser or holds"), cwd=proj, env=_env(tmp_path),
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    shots = sorted((tmp_path / "report-screenshots").glob("*.png"))
    assert [p.name for p in shots] == ["stand-in-page.png"]
    with Image.open(shots[0]) as img:
        # the whole viewport (the window less the browser's own bar), not an empty crop
        assert img.width == chromium.WINDOW[0] and img.height > chromium.WINDOW[1] * 0.7, img.size
        stat = ImageStat.Stat(img.convert("L"))
        assert stat.stddev[0] > 20, f"the screenshot is nearly blank (stddev {stat.stddev[0]:.1f})"
        colours = img.convert("RGB").getcolors(maxcolors=1 << 16) or []
        assert len(colours) > 10, "the screenshot has almost no colours: not the page"
    html = (tmp_path / "report.html").read_text()
    assert "data:image/png;base64," in html and "the stand-in page" in html

    viewer = chromium.Browser(FOUND, tmp_path / "view")
    try:
        viewer.open((tmp_path / "report.html").as_uri())
        assert viewer.title.startswith("cephlab run — local")
        assert viewer.console() == [], "the report logs errors in the browser"
        assert viewer.has("#row-0") and viewer.has("svg rect") and viewer.has("figure img")
        loaded = viewer.driver.execute_script(
            "return Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)")
        assert loaded, "an embedded screenshot does not load"
    finally:
        viewer.close()


@needs_ceph
def test_without_a_browser_the_browser_checks_skip_saying_so_and_the_others_run(tmp_path):
    """PATH without chromium and chromedriver (every other program of /usr/bin kept)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for prog in Path("/usr/bin").iterdir():
        if not re.search(r"chromium|chromedriver", prog.name):
            (bin_dir / prog.name).symlink_to(prog)
    path = os.pathsep.join([str(Path(sys.executable).parent), str(bin_dir), "/usr/sbin", "/sbin"])
    proj = _project(tmp_path)
    res = subprocess.run(_argv("-k", "browser or holds", "-m", "toolbox"), cwd=proj,
                         env=_env(tmp_path, PATH=path), capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    table = "\n".join(_stage_table(res.stdout))
    assert re.search(r"a stand-in page in a browser\s+skipped", table), table
    assert "browser check skipped: no headless browser: chromium and chromedriver not installed" in table
    assert re.search(r"a stand-in check that holds\s+passed", table), table


def test_the_stage_column_leaves_a_space_after_the_longest_stage():
    record = RunRecord()
    for slug in ("toolbox", "shared_filesystem"):
        record.add_row(_row(slug, call=("passed", "")))
    lines = table_lines(record)
    assert any("10 shared_filesystem a scenario" in ln for ln in lines), lines
    rows = [ln for ln in lines if "a scenario" in ln]
    assert len(rows) == 2 and {ln.index("a scenario") for ln in rows} == {lines[0].index("scenario")}
