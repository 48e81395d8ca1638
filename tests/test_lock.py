"""One run per lab dir: the lock refuses a second holder at once, naming the first (pid,
command, since when), before anything is written; a lock left by a process that is gone is
taken over, saying so; ``status`` needs no lock. Bad input about the lab dir, its state file
and its addresses is refused before any work, through the harness as a user runs it.

No Ceph cluster is built here: the holders are small Python processes, and a listening
socket stands in for another lab's daemon."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cephlab.__main__ import main
from cephlab.config import LabConfig, check_lab_dir
from cephlab.lab import Lab
from cephlab.lock import LOCK_FILE, LabBusy, LabLock, clear_lab_dir
from cephlab.state import LabState
from tests.conftest import ROOT, TEST_CEPH, ceph_unavailable, loopback_prefix, run_harness

pytestmark = pytest.mark.standin

needs_ceph = pytest.mark.skipif(bool(ceph_unavailable()),
                                reason=f"the local pre-flight needs ceph {TEST_CEPH}: "
                                       f"{ceph_unavailable()}")

HOLD = """
import sys, time
from cephlab.lock import LabLock
lock = LabLock(sys.argv[1])
print(lock.acquire() or "", flush=True)
print("held", flush=True)
time.sleep(120)
"""


@pytest.fixture
def holder(tmp_path):
    """Start a process holding a lab dir's lock; yields (process, lab dir)."""
    procs = []

    def start(lab_dir: Path, name: str = "holder-run") -> subprocess.Popen:
        proc = subprocess.Popen([sys.executable, "-c", HOLD, str(lab_dir), name], cwd=ROOT,
                                stdout=subprocess.PIPE, text=True)
        procs.append(proc)
        lines = [proc.stdout.readline() for _ in range(2)]
        assert lines[-1].strip() == "held", lines
        return proc

    yield start
    for proc in procs:
        proc.kill()
        proc.wait()


def _kept_lab(lab_dir: Path, prefix: str = "127.13.1") -> None:
    """A lab's state as a run leaves it (nothing running). No Ceph of it ever runs, so its
    release is LabConfig's default: the real runs here take TEST_CEPH (run_harness)."""
    lab = Lab(LabConfig(target="local", target_reason="test", lab_dir=lab_dir, ip_prefix=prefix),
              announce=lambda text: None)
    lab.state.mark_applied("ceph_cluster", 1.0)


# ------------------------------------------------------------------ the lock itself
def test_a_second_holder_is_refused_naming_the_first(tmp_path, holder):
    lab_dir = tmp_path / "lab"
    proc = holder(lab_dir)
    doc = json.loads((lab_dir / LOCK_FILE).read_text())
    assert doc["pid"] == proc.pid and "-c" in doc["command"]
    with pytest.raises(LabBusy) as err:
        LabLock(lab_dir).acquire()
    text = str(err.value)
    assert f"the lab in {lab_dir.resolve()} is in use by pid {proc.pid} (`python" in text
    assert "since 20" in text and " UTC (" in text and "nothing was done" in text
    proc.kill()
    proc.wait()
    lock = LabLock(lab_dir)  # the kernel let go of a killed holder's lock: taken over, said so
    note = lock.acquire()
    assert note and f"left by pid {proc.pid}" in note and "is not running any more" in note
    assert json.loads((lab_dir / LOCK_FILE).read_text())["pid"] == os.getpid()
    lock.release()
    assert not (lab_dir / LOCK_FILE).exists()


def test_a_stale_lock_file_of_a_dead_process_is_taken_over(tmp_path):
    lab_dir = tmp_path / "lab"
    _kept_lab(lab_dir)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    (lab_dir / LOCK_FILE).write_text(json.dumps({"pid": int(dead), "command": "pytest features/",
                                                 "since": time.time() - 3600}))
    lock = LabLock(lab_dir)
    note = lock.acquire()
    assert f"left by pid {dead} (`pytest features/`)" in note and "(60 min ago)" in note
    lock.release()
    assert sorted(p.name for p in lab_dir.iterdir()) == ["state.json"]


def test_a_destroyed_lab_keeps_its_lock_file_until_the_holder_lets_go(tmp_path):
    lab_dir = tmp_path / "lab"
    _kept_lab(lab_dir)
    lock = LabLock(lab_dir)
    lock.acquire()
    clear_lab_dir(lab_dir)
    assert [p.name for p in lab_dir.iterdir()] == [LOCK_FILE]
    assert check_lab_dir(lab_dir) == lab_dir.resolve()  # a lock file alone is an empty lab dir
    with pytest.raises(LabBusy):
        LabLock(lab_dir).acquire()
    lock.release()
    assert not lab_dir.exists()


# ------------------------------------------------------------------ the harness and the CLI
@needs_ceph
def test_a_run_on_a_locked_lab_fails_at_once_naming_the_holder_and_writes_nothing(tmp_path, holder):
    lab_dir = tmp_path / "lab"
    proc = holder(lab_dir)
    start = time.monotonic()
    res = run_harness("--lab-target=local", f"--lab-dir={lab_dir}",
                      f"--lab-ip-prefix={loopback_prefix('lock-locked')}", "-k", "ceph_cluster", timeout=120)
    seconds = time.monotonic() - start
    out = res.stdout + res.stderr
    assert res.returncode == 4, out
    assert f"is in use by pid {proc.pid} (`python" in out and "since " in out, out
    assert sorted(p.name for p in lab_dir.iterdir()) == [LOCK_FILE]  # no keyring, no ceph.conf
    print(f"refused after {seconds:.1f}s (pytest start-up included)")


def test_commands_that_change_a_lab_wait_for_no_one_and_status_needs_no_lock(tmp_path, holder, capsys):
    lab_dir = tmp_path / "lab"
    _kept_lab(lab_dir)
    proc = holder(lab_dir)
    for command in ("repair", "destroy"):
        assert main([command, "--lab-dir", str(lab_dir)]) == 2
        err = capsys.readouterr().err
        assert f"is in use by pid {proc.pid}" in err, err
    assert (lab_dir / "state.json").exists()  # destroy did nothing
    # status reads without the lock (exit 1: nothing of this lab runs)
    assert main(["status", "--lab-dir", str(lab_dir)]) == 1
    seen = capsys.readouterr()
    assert "stages applied: ceph_cluster" in seen.out and "in use" not in seen.out + seen.err
    proc.kill()
    proc.wait()
    assert main(["destroy", "--lab-dir", str(lab_dir)]) == 0
    assert f"left by pid {proc.pid}" in capsys.readouterr().out
    assert not lab_dir.exists()


# ------------------------------------------------------------------ bad input, before any work
def test_a_lab_dir_that_is_a_file_is_refused(tmp_path):
    afile = tmp_path / "lab"
    afile.write_text("not a lab")
    res = run_harness("--lab-target=local", f"--lab-dir={afile}", "-k", "ceph_cluster", timeout=60)
    assert res.returncode == 4 and "exists and is not a directory" in res.stderr, res.stderr
    assert afile.read_text() == "not a lab"


def test_a_state_file_that_is_not_json_is_refused(tmp_path):
    lab_dir = tmp_path / "lab"
    lab_dir.mkdir()
    (lab_dir / "state.json").write_text("{ half written")
    res = run_harness("--lab-target=local", f"--lab-dir={lab_dir}", "-k", "ceph_cluster", timeout=60)
    out = res.stdout + res.stderr
    assert res.returncode == 4 and f"lab state {lab_dir / 'state.json'} is not valid JSON" in out, out
    assert sorted(p.name for p in lab_dir.iterdir()) == ["state.json"]


@pytest.mark.parametrize("schema", [1, 3])
def test_a_kept_lab_of_another_harness_version_is_refused(tmp_path, schema):
    lab_dir = tmp_path / "lab"
    lab_dir.mkdir()
    (lab_dir / "state.json").write_text(json.dumps(
        {"created_by": "cephlab", "schema": schema, "target": "local", "options": {"target": "local"},
         "stages": {}, "daemons": {}, "data": {}}))
    res = run_harness("--lab-target=local", f"--lab-dir={lab_dir}", "-k", "ceph_cluster", timeout=60)
    out = res.stdout + res.stderr
    assert res.returncode == 4, out
    assert f"schema version {schema}; this harness reads version 2" in out
    assert sorted(p.name for p in lab_dir.iterdir()) == ["state.json"]


LISTEN = """
import socket, sys, time
s = socket.socket(); s.bind((sys.argv[1], int(sys.argv[2]))); s.listen()
print("listening", flush=True); time.sleep(120)
"""


@pytest.fixture
def listener():
    procs = []

    def start(ip: str, port: int, *argv: str) -> subprocess.Popen:
        proc = subprocess.Popen([sys.executable, "-c", LISTEN, ip, str(port), *argv],
                                stdout=subprocess.PIPE, text=True)
        procs.append(proc)
        assert proc.stdout.readline().strip() == "listening"
        return proc

    yield start
    for proc in procs:
        proc.kill()
        proc.wait()


@needs_ceph
def test_addresses_another_lab_uses_are_refused_naming_that_lab(tmp_path, listener):
    prefix = loopback_prefix("lock-held")
    other = tmp_path / "other-lab"
    _kept_lab(other, prefix)
    # a daemon of the other lab (named by the ceph.conf on its command line), on k8s-2's
    # address at a port of its own choosing, as an OSD does
    proc = listener(f"{prefix}.3", 6802, "-c", str(other / "ceph.conf"))
    res = run_harness("--lab-target=local", f"--lab-dir={tmp_path / 'lab'}",
                      f"--lab-ip-prefix={prefix}", "-k", "ceph_cluster", timeout=120)
    out = res.stdout + res.stderr
    assert res.returncode == 4, out
    assert f"the lab in {other} uses these addresses: 1 ports on {prefix}.3" in out, out
    assert f"pids {proc.pid}" in out
    assert not (tmp_path / "lab").exists()


@needs_ceph
def test_a_busy_daemon_port_names_its_process(tmp_path, listener):
    prefix = loopback_prefix("lock-port")
    proc = listener(f"{prefix}.4", 6800)
    res = run_harness("--lab-target=local", f"--lab-dir={tmp_path / 'lab'}",
                      f"--lab-ip-prefix={prefix}", "-k", "ceph_cluster", timeout=120)
    out = res.stdout + res.stderr
    assert res.returncode == 4, out
    assert f"{prefix}.4:6800 (the lab's node addresses, where its daemons listen): held by " \
           f"pid {proc.pid} (`python" in out, out
    assert not (tmp_path / "lab").exists()


def test_state_records_unfinished_work_until_it_is_done(tmp_path):
    state = LabState(tmp_path / "lab", "local")
    state.begin("stage", "ceph_cluster")
    again = LabState(tmp_path / "lab", "local")
    assert again.unfinished["name"] == "ceph_cluster" and again.unfinished["pid"] == os.getpid()
    state.done("fault", "ceph_cluster")   # another kind: not this one
    assert state.unfinished is not None
    state.mark_applied("ceph_cluster", 1.0)
    assert LabState(tmp_path / "lab", "local").unfinished is None


def test_the_ceph_release_is_a_typed_fact_and_an_older_layout_is_read(tmp_path):
    state = LabState(tmp_path / "lab", "local")
    with pytest.raises(TypeError):
        state.put("ceph", "20.2.4")
    info = {"release": "host", "version": "16.2.15", "name": "pacific", "origin": "this machine"}
    state.put("ceph", info)
    doc = json.loads(state.path.read_text())
    assert doc["data"]["ceph"] == info and "ceph" not in doc
    doc["ceph"] = doc["data"].pop("ceph")  # as the same schema wrote it before
    state.path.write_text(json.dumps(doc))
    assert LabState(tmp_path / "lab", "local").get("ceph") == info
