"""Runs stopped by SIGINT or SIGTERM at named points, on a real local lab: the stage in
progress is not recorded as applied, the lab is kept (the default policy, as after a
failure) and says so, no daemon of the lab runs that the lab does not record, the stage
table says interrupted (never passed), and the next run on the same lab dir passes the stage.

The points are found from the run itself: its state file (daemons recorded, the unfinished
stage or fault) and the daemons' processes. Slow (real labs): few, with small stage sets.
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
from pathlib import Path

import pytest

from cephlab import procs
from cephlab.lab import Lab
from cephlab.__main__ import main
from cephlab.procs import DaemonRecord
from tests.conftest import (ROOT, TEST_CEPH, ceph_unavailable, destroyed_at_end, loopback_prefix,
                            run_harness, signals_as_a_terminal_gives_them)

pytestmark = [pytest.mark.lab, pytest.mark.skipif(bool(ceph_unavailable()),
                                reason=f"a real lab on ceph {TEST_CEPH}: {ceph_unavailable()}")]


def _args(lab_dir: Path, prefix: str, *extra: str) -> list[str]:
    return ["--lab-target=local", f"--lab-dir={lab_dir}", f"--lab-ip-prefix={prefix}", *extra]


def _state(lab_dir: Path) -> dict:
    try:
        return json.loads((lab_dir / "state.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def _interrupt(lab_dir: Path, prefix: str, k: str, sig: int, when, timeout: float = 900):
    """Run ``pytest features/ -k K`` and send ``sig`` once ``when(state)`` holds."""
    env = dict(os.environ, LAB_CEPH=TEST_CEPH)
    env.pop("LAB_TARGET", None)
    env.pop("LAB_DIR", None)
    proc = subprocess.Popen([sys.executable, "-m", "pytest", "features/", "-p", "no:cacheprovider",
                             *_args(lab_dir, prefix), "-k", k], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            preexec_fn=signals_as_a_terminal_gives_them)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
    reader.start()
    deadline = time.monotonic() + timeout
    sent = False
    while proc.poll() is None and time.monotonic() < deadline:
        if when(_state(lab_dir)):
            proc.send_signal(sig)
            sent = True
            break
        time.sleep(0.1)
    try:
        proc.wait(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    reader.join(timeout=10)
    out = "".join(lines)
    assert sent, f"the run ended before the point was reached:\n{out[-3000:]}"
    return proc.returncode, out


def _lab_processes(lab_dir: Path) -> set[int]:
    """Every process whose command line names a path inside the lab dir."""
    found = set()
    for d in Path("/proc").iterdir():
        if not d.name.isdigit() or int(d.name) == os.getpid():
            continue
        try:
            cmd = (d / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if f"{lab_dir}/" in cmd.replace("\0", " ") and "pytest" not in cmd:
            if procs.proc_starttime(int(d.name)) is not None:  # not a zombie
                found.add(int(d.name))
    return found


def _recorded_alive(lab_dir: Path) -> set[int]:
    return {d["pid"] for d in _state(lab_dir).get("daemons", {}).values()
            if procs.is_alive(DaemonRecord.from_json(d))}


def _check_stopped_run(rc: int, out: str, lab_dir: Path, slug: str, key: str, how: str) -> None:
    assert rc == 2, out[-4000:]
    state = _state(lab_dir)
    assert slug not in state.get("stages", {}), state.get("stages")
    assert re.search(rf"^{key} {slug} .*\binterrupted\b", out, re.M), out[-4000:]
    assert not re.search(rf"^{key} {slug} .*\bpassed\b", out, re.M), out[-4000:]
    assert f"interrupted by {how}" in out
    assert "keeping the lab in " in out and "(the run was interrupted)" in out, out[-3000:]
    stray = _lab_processes(lab_dir) - _recorded_alive(lab_dir)
    assert not stray, f"processes of the lab it does not record: {stray}"


def _next_run_passes(lab_dir: Path, prefix: str, k: str, key: str, slug: str, *extra: str) -> str:
    res = run_harness(*_args(lab_dir, prefix, *extra), "-k", k, timeout=1200)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-5000:]
    assert re.search(rf"^{key} {slug} .*\bpassed\b", out, re.M), out[-3000:]
    return out


@pytest.fixture(autouse=True)
def no_lab_left(tmp_path):
    """A test that fails half way leaves no lab running behind it (each test's lab is
    tmp_path/lab; one that passed has destroyed it already)."""
    with destroyed_at_end(tmp_path / "lab"):
        yield


def test_bootstrap_and_osd_creation_stopped_then_rebuilt(tmp_path):
    lab_dir, prefix = tmp_path / "lab", loopback_prefix("interrupt-bootstrap")
    mons_up = lambda st: any(n.startswith("mon.") for n in st.get("daemons", {})) \
        and not st.get("data", {}).get("osds")
    rc, out = _interrupt(lab_dir, prefix, "ceph_cluster", signal.SIGINT, mons_up)
    _check_stopped_run(rc, out, lab_dir, "ceph_cluster", "07", "SIGINT (Ctrl-C)")
    assert _state(lab_dir)["unfinished"]["name"] == "ceph_cluster"

    # the next run rebuilds, and is stopped in turn while its OSDs are being made
    osds_made = lambda st: bool(st.get("data", {}).get("osds")) and "ceph_cluster" not in st.get("stages", {})
    rc, out = _interrupt(lab_dir, prefix, "ceph_cluster", signal.SIGTERM, osds_made)
    assert "destroying and rebuilding the lab" in out, out[-3000:]
    _check_stopped_run(rc, out, lab_dir, "ceph_cluster", "07", "SIGTERM")

    out = _next_run_passes(lab_dir, prefix, "ceph_cluster", "07", "ceph_cluster")
    assert "did not finish stage ceph_cluster" in out and "destroying and rebuilding" in out
    assert not lab_dir.exists() and not _lab_processes(lab_dir)  # passed: destroyed


def test_remove_node_stopped_while_draining_is_applied_again(tmp_path):
    lab_dir, prefix = tmp_path / "lab", loopback_prefix("interrupt-drain")

    def draining(st) -> bool:
        """remove_node is under way and an OSD is marked out while still up: k8s-1's PGs are
        being moved off it. (A fixed 3 s after the stage began raced the drain, which the
        lab's timing made shorter: the run ended before the signal.)"""
        if (st.get("unfinished") or {}).get("name") != "remove_node":
            return False
        try:
            dump = Lab.open(lab_dir, announce=lambda _: None).ceph.json("osd", "dump")
        except Exception:  # noqa: BLE001 - a look that failed is no answer; poll again
            return False
        return any(o.get("up") and not o.get("in") for o in dump.get("osds", []))
    rc, out = _interrupt(lab_dir, prefix, "remove_node", signal.SIGTERM, draining)
    _check_stopped_run(rc, out, lab_dir, "remove_node", "14", "SIGTERM")
    out = _next_run_passes(lab_dir, prefix, "remove_node", "14", "remove_node")
    assert "did not finish stage remove_node (not recorded as applied): it is applied again" in out
    assert not lab_dir.exists() and not _lab_processes(lab_dir)


def test_a_fault_stopped_half_way_is_undone_by_the_next_run(tmp_path):
    lab_dir, prefix = tmp_path / "lab", loopback_prefix("interrupt-fault")

    def node_down(st):
        if (st.get("unfinished") or {}).get("kind") != "fault":
            return False
        mon = st.get("daemons", {}).get("mon.k8s-3")
        return mon is not None and not procs.is_alive(DaemonRecord.from_json(mon))

    k = "faults and whole_node"
    rc, out = _interrupt(lab_dir, prefix, k, signal.SIGINT, node_down)
    assert rc == 2, out[-4000:]
    assert re.search(r"^10c faults .*\binterrupted\b", out, re.M), out[-4000:]
    assert "keeping the lab in " in out and "(the run was interrupted)" in out
    assert _state(lab_dir)["unfinished"]["name"] == "node_stopped"
    assert not _lab_processes(lab_dir) - _recorded_alive(lab_dir)
    out = _next_run_passes(lab_dir, prefix, k, "10c", "faults")
    assert "did not finish fault node_stopped: undone, started again: " in out
    assert "mon.k8s-3" in out
    assert not lab_dir.exists() and not _lab_processes(lab_dir)


def test_two_runs_on_one_lab_dir_the_second_fails_at_once_naming_the_first(tmp_path):
    lab_dir, prefix = tmp_path / "lab", loopback_prefix("interrupt-twice")
    env = dict(os.environ, LAB_CEPH=TEST_CEPH)
    env.pop("LAB_TARGET", None)
    env.pop("LAB_DIR", None)
    first = subprocess.Popen([sys.executable, "-m", "pytest", "features/", "-p", "no:cacheprovider",
                              *_args(lab_dir, prefix), "-k", "ceph_cluster"], cwd=ROOT, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             preexec_fn=signals_as_a_terminal_gives_them)
    try:
        deadline = time.monotonic() + 300
        while not _state(lab_dir).get("daemons") and time.monotonic() < deadline:
            time.sleep(0.2)  # the first run is building: its mons are started
        start = time.monotonic()
        second = run_harness(*_args(lab_dir, prefix), "-k", "ceph_cluster", timeout=300)
        print(f"the second run ended after {time.monotonic() - start:.1f}s (pytest start-up included)")
        out = second.stdout + second.stderr
        assert second.returncode == 4, out[-3000:]
        assert f"is in use by pid {first.pid} (`python" in out and "-k ceph_cluster" in out, out[-2000:]
        assert "[lab]" not in out  # not even the pre-flight: it comes after the lock
        out1, _ = first.communicate(timeout=900)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
            main(["destroy", "--lab-dir", str(lab_dir)])
    assert first.returncode == 0, out1[-4000:]
    assert re.search(r"^07 ceph_cluster .*\bpassed\b", out1, re.M)
