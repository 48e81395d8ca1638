"""The report of real runs on a real local Ceph cluster: the Ceph dashboard's screenshots
are real images of its pages, embedded in the HTML report with no secret of the lab in it;
Ctrl-C while the lab applies extend_storage gives a table and a report that say interrupted
for that stage, never passed.

Own loopback addresses (127.NET.13.x and .14.x) and a temporary lab dir; the lab is destroyed at the end.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

import pytest

from cephlab import browser as chromium
from cephlab.lab import Lab
from tests.conftest import (ROOT, TEST_CEPH, ceph_unavailable, destroyed_at_end, loopback_prefix,
                            run_harness, signals_as_a_terminal_gives_them)

pytestmark = [pytest.mark.lab, pytest.mark.skipif(bool(ceph_unavailable()),
                                reason=f"a real lab on ceph {TEST_CEPH}: {ceph_unavailable()}")]
PREFIX = loopback_prefix("local-report")
FRESH = loopback_prefix("local-report-fresh")  # a second lab, while the module's kept lab holds PREFIX
FOUND = chromium.find()


def _args(path, report, *extra):
    return ("--lab-target=local", f"--lab-dir={path}", f"--lab-ip-prefix={PREFIX}",
            "--lab-destroy=never", f"--lab-report={report}", *extra)


def _argv(path, report, *extra):
    return [sys.executable, "-m", "pytest", "features/", "-p", "no:cacheprovider",
            *_args(path, report, *extra)]


def _env():
    """As tests.conftest.run_harness gives it: no LAB_TARGET or LAB_DIR of the caller's, and
    the tests' Ceph release (TEST_CEPH)."""
    env = {k: v for k, v in os.environ.items() if k not in ("LAB_TARGET", "LAB_DIR")}
    env["LAB_CEPH"] = TEST_CEPH
    return env


def _lab(path):
    """The kept lab with the options it was built with (its Ceph release included)."""
    return Lab.open(path, announce=lambda text: None)


@pytest.fixture(scope="module")
def lab_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("report-lab") / "lab"
    with destroyed_at_end(path):
        yield path


@pytest.mark.skipif(not FOUND.usable, reason=FOUND.missing or "browser present")
def test_dashboard_screenshots_are_real_pages_in_a_report_without_secrets(lab_dir, tmp_path):
    from PIL import Image, ImageStat

    report = tmp_path / "run.html"
    res = run_harness(*_args(lab_dir, report, "-k", "ceph_dashboard"), timeout=900)
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
    shots = {p.name: p for p in (tmp_path / "run-screenshots").glob("*.png")}
    assert set(shots) == {"ceph-dashboard-login.png", "login-refused.png",
                          "ceph-dashboard-landing.png"}, sorted(shots)
    for path in shots.values():
        with Image.open(path) as img:
            stddev = ImageStat.Stat(img.convert("L")).stddev[0]
            assert stddev > 20, f"{path.name} is nearly blank (stddev {stddev:.1f})"
    html = report.read_text()
    assert html.count("data:image/png;base64,") == 3
    assert "the Ceph dashboard after login: HEALTH_" in html
    secrets = json.loads((lab_dir / "secrets.json").read_text())
    assert secrets, "the lab generated no secret"
    for value in secrets.values():
        assert value not in html and value not in res.stdout


@pytest.mark.skipif(not FOUND.usable, reason=FOUND.missing or "browser present")
def test_the_browser_check_goes_red_with_the_dashboard_off_and_the_report_shows_why(lab_dir, tmp_path):
    """Runs after the screenshot test (same kept lab, dashboard applied) and before the Ctrl-C
    test, whose interrupted extend_storage makes the next run rebuild the lab."""
    ceph = _lab(lab_dir).ceph  # the lab's own runner, whatever Ceph the lab runs
    ceph.run("mgr", "module", "disable", "dashboard")
    try:
        report = tmp_path / "red.html"
        res = run_harness(*_args(lab_dir, report, "-k", "ceph_dashboard and browser",
                                 "--lab-timeout-scale=0.5"), timeout=900)
    finally:
        ceph.run("mgr", "module", "enable", "dashboard")
    assert res.returncode == 1, res.stdout[-4000:]
    table = res.stdout[res.stdout.index("lab stages"):]
    row = next(ln for ln in table.splitlines() if "a person logs in through" in ln)
    assert "failed" in row and "passed" not in row
    assert "Gave up waiting for 'the browser to load http://" in table, table
    html = report.read_text()
    assert "does not load in the browser: unknown error: net::ERR_CONNECTION_REFUSED" in html
    assert "the page when the scenario failed" in html  # the failure's screenshot
    assert "lab diagnostics" in html and 'id="fail-0"' in html
    for value in json.loads((lab_dir / "secrets.json").read_text()).values():
        assert value not in html


def test_ctrl_c_while_the_lab_applies_a_stage_says_interrupted_for_it(lab_dir, tmp_path):
    report = tmp_path / "interrupted.html"
    child = subprocess.Popen(_argv(lab_dir, report, "-k", "extend_storage"), cwd=ROOT, env=_env(),
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             preexec_fn=signals_as_a_terminal_gives_them)
    lines: list[str] = []
    applying = threading.Event()

    def read():
        for line in child.stdout:
            lines.append(line)
            if "[lab] applying stage 11 extend_storage" in line:
                applying.set()
    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert applying.wait(600), "the run never started applying extend_storage:\n" + "".join(lines)[-3000:]
        time.sleep(2)  # inside the stage's work
        child.send_signal(signal.SIGINT)
        child.wait(timeout=300)
        reader.join(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    out = "".join(lines)
    assert child.returncode == 2, out[-4000:]
    table = out[out.index("lab stages"):]
    row = next(ln for ln in table.splitlines() if ln.startswith("11 extend_storage"))
    assert "interrupted" in row and "passed" not in row, row
    assert ("interrupted by SIGINT (Ctrl-C) during call, while the lab was applying stage "
            "11 extend_storage") in table
    html = report.read_text()
    rows = re.findall(r'<tr id="row-\d+">(.*?)</tr>', html, re.S)
    assert len(rows) == 1 and 'r-interrupted">interrupted<' in rows[0] and ">passed<" not in rows[0]
    assert "Interrupted by SIGINT (Ctrl-C): stage 11 extend_storage" in html


def test_a_destroyed_lab_is_left_alone_by_the_report(tmp_path):
    """The report asks the cluster for its versions before the last teardown destroys the
    lab, never after (a root-built Ceph would be mounted again into the removed lab dir)."""
    from cephlab.local import mounts

    path, report = tmp_path / "lab", tmp_path / "destroyed.html"
    res = run_harness("--lab-target=local", f"--lab-dir={path}", f"--lab-ip-prefix={FRESH}",
                      "--lab-destroy=always", f"--lab-report={report}", "-k", "toolbox",
                      timeout=900)
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
    assert not mounts.mounts_under(path), mounts.mounts_under(path)
    assert not path.exists()
    assert re.search(r"<th>ceph</th><td>ceph version \d+\.\d+\.\d+", report.read_text())
