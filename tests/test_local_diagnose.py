"""A broken real local lab as a user meets it: the failure names the object and the next
command within seconds, `python -m cephlab status` exits non-zero saying the same, `repair`
brings back what it can and waits for health (and changes nothing a person did on purpose),
and the CLI survives a closed pipe.

The lab uses its own loopback addresses (127.NET.15) and a temporary lab dir.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time

import pytest

from cephlab import procs
from cephlab.__main__ import main
from cephlab.lab import Lab
from cephlab.redtime import time_to_red
from tests.conftest import (ROOT, TEST_CEPH, ceph_unavailable, destroyed_at_end, loopback_prefix,
                            run_harness)

pytestmark = [pytest.mark.lab, pytest.mark.skipif(bool(ceph_unavailable()),
                                reason=f"a real lab on ceph {TEST_CEPH}: {ceph_unavailable()}")]

PREFIX = loopback_prefix("local-diagnose")


@pytest.fixture(scope="module")
def lab_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("diagnose") / "lab"
    with destroyed_at_end(path):
        res = run_harness(*_args(path), "-k", "ceph_cluster")
        assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
        yield path


def _args(path, *extra):
    return ("--lab-target=local", f"--lab-dir={path}", f"--lab-ip-prefix={PREFIX}",
            "--lab-destroy=never", *extra)


def _ceph(path):
    return Lab.open(path, announce=lambda _: None).ceph


def _failure(stdout: str) -> list[str]:
    """The FAILURES text of the run's one failure, up to its captured sections."""
    body = stdout.split(" FAILURES ", 1)[1].split("\n", 2)[2]
    return re.split(r"\n-+ (?:lab diagnostics|Captured)", body, maxsplit=1)[0].splitlines()


def _row_reason(stdout: str) -> str:
    table = stdout.split(" lab stages ", 1)[1]
    return next(ln for ln in table.splitlines() if "↳" in ln)


def _cli(*argv, capsys) -> tuple[int, str]:
    capsys.readouterr()
    rc = main(list(argv))
    return rc, capsys.readouterr().out


def test_an_osd_out_by_hand_goes_red_fast_naming_it_and_ceph_osd_in(lab_dir, capsys):
    ceph = _ceph(lab_dir)
    ceph.run("osd", "out", "1")
    try:
        res = run_harness(*_args(lab_dir), "-k", "ceph_cluster")
        rc_status, status = _cli("status", "--lab-dir", str(lab_dir), capsys=capsys)
        rc_repair, repaired = _cli("repair", "--lab-dir", str(lab_dir), capsys=capsys)
        still_out = not next(o for o in ceph.json("osd", "dump")["osds"] if o["osd"] == 1)["in"]
    finally:
        ceph.run("osd", "in", "1")
    print(res.stdout)
    assert res.returncode == 1
    failure = _failure(res.stdout)
    assert failure[0].startswith("E   osd.1 on k8s-2 is marked out"), failure[:3]
    osd_in = f"cephlab ceph --lab-dir {lab_dir} -- osd in 1"  # the lab's own ceph, as printed
    assert failure[0].endswith(osd_in)
    assert "last observed: osd.1 is up and out" in "\n".join(failure)
    assert len(failure) < 20 and "tenacity" not in res.stdout and "Traceback" not in res.stdout
    seconds = float(re.search(r"^07 ceph_cluster .*failed\s+([\d.]+)$", res.stdout, re.M)[1])
    assert seconds < 15, f"red after {seconds}s"
    assert "next: .venv/bin/cephlab ceph --lab-dir" in _row_reason(res.stdout)  # the row is cut to the width
    for command in ("status", "repair", "destroy"):
        assert f"cephlab {command} --lab-dir {lab_dir}" in res.stdout.split(" lab stages ")[1]
    assert f"toolbox: .venv/bin/cephlab ceph --lab-dir {lab_dir} -- status" in res.stdout
    # status: non-zero, the same cause and command
    assert rc_status == 1 and "osd.1 on k8s-2 is marked out" in status
    assert osd_in in status and "NOT HEALTHY" in status
    # repair reports it, and does not change it
    assert rc_repair == 1 and osd_in in repaired and still_out


def test_the_full_traceback_stays_behind_tb_long(lab_dir):
    ceph = _ceph(lab_dir)
    ceph.run("osd", "out", "1")
    try:
        res = run_harness(*_args(lab_dir, "--tb=long"), "-k", "ceph_cluster")
    finally:
        ceph.run("osd", "in", "1")
    assert res.returncode == 1
    assert "cephlab/waits.py" in res.stdout and "CannotHeal" in res.stdout
    assert "osd.1 on k8s-2 is marked out" in res.stdout


def test_a_killed_osd_is_named_on_the_first_screen_and_repair_waits_for_health(lab_dir, capsys):
    rec = Lab.open(lab_dir, announce=lambda _: None).target.daemons.record("osd.2")
    procs.kill(rec, signal.SIGKILL)
    res = run_harness(*_args(lab_dir), "-k", "ceph_cluster")
    print(res.stdout)
    assert res.returncode == 1
    failure = _failure(res.stdout)
    repair = f".venv/bin/cephlab repair --lab-dir {lab_dir}"  # run_harness runs in the checkout
    assert failure[0] == f"E   daemon osd.2 (pid {rec.pid}) is not running any more; next: {repair}"
    assert len(failure) < 20 and "tenacity" not in res.stdout
    # its log tail is shown once, in the lab diagnostics
    assert res.stdout.count(f"last lines of {rec.log}") == 1
    assert "last lines:" not in "\n".join(failure)
    assert repair in _row_reason(res.stdout)

    rc, status = _cli("status", "--lab-dir", str(lab_dir), capsys=capsys)
    assert rc == 1 and re.search(r"daemon osd\.2 +pid \d+ +NOT RUNNING", status)
    assert "osd.2 on k8s-3 is down: its daemon" in status and repair in status

    start = time.monotonic()
    rc, out = _cli("repair", "--lab-dir", str(lab_dir), capsys=capsys)
    assert rc == 0 and "started: osd.2" in out and "healthy: HEALTH_OK" in out, out
    health = _ceph(lab_dir).json("health", "detail")
    assert health["status"] == "HEALTH_OK", (health, time.monotonic() - start)
    rc, status = _cli("status", "--lab-dir", str(lab_dir), capsys=capsys)
    assert rc == 0 and "NOT RUNNING" not in status, status


def test_the_cli_survives_a_closed_pipe_and_repair_still_finishes(lab_dir):
    rec = Lab.open(lab_dir, announce=lambda _: None).target.daemons.record("osd.0")
    procs.kill(rec, signal.SIGKILL)
    for command in ("status", "repair"):
        proc = subprocess.Popen([sys.executable, "-m", "cephlab", command, "--lab-dir", str(lab_dir)],
                                cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        proc.stdout.readline()  # like `| head -1`
        proc.stdout.close()
        err = proc.stderr.read().decode()
        rc = proc.wait(timeout=300)
        assert "Traceback" not in err and "BrokenPipe" not in err, err
        assert rc == (1 if command == "status" else 0), (command, rc, err)
    assert _ceph(lab_dir).json("health", "detail")["status"] == "HEALTH_OK"
    state = json.loads((lab_dir / "state.json").read_text())
    assert state["daemons"]["osd.0"]["pid"] != rec.pid


@pytest.mark.parametrize("how", ["osd_held_down", "noup"])
def test_a_held_down_osd_or_a_blocking_flag_goes_red_within_15s(lab_dir, how):
    red = time_to_red(lab_dir, how, osd=1)
    assert red.named, red.message
    assert red.seconds < 15, red
    assert "gave up after" in red.message and "last observed:" in red.message
