"""The harness against a real local Ceph cluster: it reuses a kept lab, goes red when the
lab is broken (naming the fault), and leaves nothing behind when it destroys the lab.

The lab here uses its own loopback addresses (127.0.7.x) and a temporary lab dir, so it
never meets a lab the user keeps in .lab/.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time

import pytest

from cephlab import invoke, procs, stages
from cephlab.__main__ import main
from cephlab.config import LabConfig, Timeouts
from cephlab.errors import DaemonExited
from cephlab.lab import Lab
from tests.conftest import (ROOT, TEST_CEPH, ceph_unavailable, destroyed_at_end, loopback_prefix,
                            run_harness)

pytestmark = [pytest.mark.smoke, pytest.mark.skipif(bool(ceph_unavailable()),
                                                    reason=f"a real lab on ceph {TEST_CEPH}: {ceph_unavailable()}")]

PREFIX = loopback_prefix("local-lab")


@pytest.fixture(scope="module")
def lab_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("kept") / "lab"
    with destroyed_at_end(path):
        res = run_harness(*_args(path), "-k", "ceph_cluster")
        assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
        yield path


def _args(path, *extra):
    return ("--lab-target=local", f"--lab-dir={path}", f"--lab-ip-prefix={PREFIX}",
            "--lab-destroy=never", *extra)


def _lab(path, scale=1.0):
    cfg = LabConfig(target="local", target_reason="test", lab_dir=path, ip_prefix=PREFIX,
                    ceph_release=TEST_CEPH, timeouts=Timeouts().scaled(scale))
    return Lab(cfg, announce=lambda text: None)


def _pids(path):
    doc = json.loads((path / "state.json").read_text())
    return {name: d["pid"] for name, d in doc["daemons"].items()}


def test_a_kept_lab_is_reused_without_starting_anything(lab_dir):
    before = _pids(lab_dir)
    start = time.monotonic()
    res = run_harness(*_args(lab_dir), "-k", "ceph_cluster")
    seconds = time.monotonic() - start
    assert res.returncode == 0, res.stdout[-3000:]
    assert "applying stage" not in res.stdout
    assert "restarted" not in res.stdout
    assert _pids(lab_dir) == before
    assert seconds < 60, f"reuse run took {seconds:.0f}s"


def test_an_out_osd_turns_the_stage_red_and_names_it(lab_dir, tmp_path):
    lab = _lab(lab_dir)
    lab.ceph.run("osd", "out", "1")
    junit = tmp_path / "junit.xml"
    try:
        res = run_harness(*_args(lab_dir, "--lab-timeout-scale=0.1", f"--junitxml={junit}"),
                          "-k", "ceph_cluster")
    finally:
        lab.ceph.run("osd", "in", "1")
    assert res.returncode == 1, res.stdout[-3000:]
    assert "FAILED features/test_stages.py::test_ceph_cluster" in res.stdout
    assert "osd.1 is up and out" in res.stdout
    assert "lab diagnostics" in res.stdout and "ceph osd tree" in res.stdout
    assert re.search(r"^07 ceph_cluster .*\bfailed\b", res.stdout, re.M), res.stdout[-3000:]
    xml = junit.read_text()
    assert 'property name="lab diagnostics"' in xml and "osd.1" in xml


def test_a_killed_osd_fails_the_wait_at_once_and_repair_heals_it(lab_dir, capsys):
    lab = _lab(lab_dir)
    daemons = lab.target.daemons
    rec = daemons.record("osd.2")
    procs.kill(rec, signal.SIGKILL)
    start = time.monotonic()
    with pytest.raises(DaemonExited, match=r"daemon osd.2 \(pid \d+\) is not running any more"):
        daemons.wait_osds()
    assert time.monotonic() - start < 5, "the wait did not fail fast"
    lab.resume()  # a partly broken lab is left as found, for the scenarios to report
    assert not procs.is_alive(daemons.record("osd.2"))
    res = run_harness(*_args(lab_dir), "-k", "ceph_cluster")
    assert res.returncode == 1 and "daemon osd.2" in res.stdout and "not running" in res.stdout
    # the command line opens the lab with the prefix it was built with (saved in its state)
    capsys.readouterr()
    assert main(["repair", "--lab-dir", str(lab_dir)]) == 0
    out = capsys.readouterr().out
    assert "started: osd.2" in out and "healthy: HEALTH_OK" in out
    assert main(["status", "--lab-dir", str(lab_dir)]) == 0
    out = capsys.readouterr().out
    assert f"k8s-1={PREFIX}.2" in out and "osd.2" in out and "NOT RUNNING" not in out
    daemons = _lab(lab_dir).target.daemons
    assert procs.is_alive(daemons.record("osd.2"))
    daemons.wait_osds()


def test_a_stopped_lab_is_started_again_by_the_next_run(lab_dir):
    lab = _lab(lab_dir)
    lab.target.daemons.stop_all()  # as after a reboot: nothing of the lab runs
    res = run_harness(*_args(lab_dir), "-k", "ceph_cluster")
    assert res.returncode == 0, res.stdout[-3000:]
    assert "kept lab was not running: started" in res.stdout


#: Commands the harness sends, errors among them: the server must answer each exactly as the
#: CLI does (exit code, stderr, and stdout or its JSON).
SAME_AS_CLI = [("status",), ("osd", "dump", "--format", "json"), ("osd", "tree", "-f", "json"),
               ("health", "detail", "--format", "json"), ("quorum_status", "--format", "json"),
               ("osd", "pool", "get", "no-such-pool", "size"), ("no-such", "command"),
               ("config", "get", "mon", "mon_lease"), ("osd", "status", "--format", "json"),
               ("osd", "pool", "create", "bad-pg-num", "-1")]


def test_the_command_server_answers_as_the_cli_does(lab_dir, monkeypatch):
    from cephlab import ceph_server
    from cephlab.ceph import LocalCeph

    daemons = _lab(lab_dir).target.daemons
    served = daemons.ceph
    cli = LocalCeph(daemons.conf, wrap=daemons.env.wrap)
    try:
        for args in SAME_AS_CLI:
            a, b = served.run(*args, check=False), cli.run(*args, check=False)
            assert (a.rc, a.stderr) == (b.rc, b.stderr), args
            if a.stdout != b.stdout and args != ("status",):  # a live cluster: maps move on
                assert "json" in args, (args, a.stdout, b.stdout)
                assert json.loads(a.stdout).keys() == json.loads(b.stdout).keys(), args
        assert served.servers is not None and served.servers.unavailable is None
        pids = served.servers.pids()
        assert pids, "no command server ran"

        # what it must not answer goes to the CLI: a tell target, an option of the CLI
        assert served.run("tell", "mon.k8s-1", "version").rc == 0
        assert ceph_server.split_args(["--admin-daemon", "x", "help"]) is None

        # a server that died answers through the CLI, and the next command starts a new one
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        assert json.loads(served.run("osd", "dump", "--format", "json").stdout)["fsid"]
        assert served.json("osd", "dump")["fsid"]
        assert set(served.servers.pids()).isdisjoint(pids)

        # one that stalls is stopped and the CLI answers in the time left
        monkeypatch.setattr(ceph_server, "STALL", 0.0001)
        stalled = served.servers.pids()
        assert served.json("quorum_status")["quorum_names"]
        assert all(not _running(pid) for pid in stalled)
    finally:
        cli.close()
        served.close()
    assert served.servers.pids() == []


def _printed(text: str, label: str) -> list[str]:
    """The commands after ``label`` in the harness's output (``next: CMD``, ``toolbox: CMD``)."""
    found = []
    for line in text.splitlines():
        if label in line:
            cmd = line.split(label, 1)[1]
            found.append(cmd.split("   (", 1)[0].strip())  # a note in parentheses follows
    return found


def _as_printed(command: str, hide_host_ceph: bool) -> subprocess.CompletedProcess:
    """Run a printed command as pasted into a shell in the project root; with
    ``hide_host_ceph`` this machine's ceph, rados and rbd fail in it (/bin/false over them)."""
    script = command
    if hide_host_ceph:
        hide = "; ".join(f"mount --bind /bin/false {p}" for p in
                         ("/usr/bin/ceph", "/usr/bin/rados", "/usr/bin/rbd") if os.path.exists(p))
        script = f"{hide}; {command}" if hide else command
        argv = ["unshare", "-m", "bash", "-c", script]
    else:
        argv = ["bash", "-c", script]
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_every_command_the_harness_prints_runs_as_printed(lab_dir):
    """A lab broken by hand (a flag, an OSD out): status names each cause with its next
    command; pasted as printed (no host ceph unless the lab runs the host's), they heal it,
    and the toolbox line and toolbox.env run the lab's own client."""
    lab = _lab(lab_dir)
    hide = lab.target.daemons.release != "host"  # the release the kept lab runs
    lab.ceph.run("osd", "set", "noout")
    lab.ceph.run("osd", "out", "1")
    status = _as_printed(f"{invoke.lab('status', lab_dir)}", hide)
    assert status.returncode == 1, status.stdout + status.stderr
    fixes = _printed(status.stdout, "; next: ")
    assert any("osd unset noout" in f for f in fixes) and any("osd in 1" in f for f in fixes), fixes
    for fix in fixes:
        assert fix.startswith(invoke.command()), fix  # the front door, not a host `ceph`
        res = _as_printed(fix, hide)
        assert res.returncode == 0, (fix, res.stdout, res.stderr)
    toolbox = _printed(status.stdout, "toolbox: ")
    nexts = [_printed(status.stdout, f"{name}: ")[-1] for name in ("status", "repair")]
    for cmd in [*toolbox, *nexts]:
        res = _as_printed(cmd, hide)
        assert res.returncode == 0, (cmd, res.stdout, res.stderr)
    assert "HEALTH_OK" in _as_printed(toolbox[-1], hide).stdout
    # toolbox.env: sourced, ceph is the lab's own
    lab.target.apply(stages.get("toolbox"))
    env = lab_dir / "toolbox.env"
    tree = _as_printed(f". {env} && ceph osd tree -f json", hide)
    assert tree.returncode == 0 and json.loads(tree.stdout)["nodes"], tree.stdout + tree.stderr
    assert _as_printed(f". {env} && rados df && rbd --version", hide).returncode == 0
    version = _as_printed(f". {env} && ceph --version", hide).stdout.split()  # ceph version X (…)
    assert version[:2] == ["ceph", "version"]
    assert version[2] == lab.target.daemons.describe_ceph().split()[1]  # "ceph 20.2.4 …": the lab's


def _running(pid: int) -> bool:
    try:
        state = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_destroy_stops_every_daemon_and_removes_the_lab(lab_dir):
    lab = _lab(lab_dir)
    records = lab.target.daemons.records()
    assert len(records) >= 7  # 3 mons, 1 mgr, 3 OSDs
    assert lab.ceph.json("osd", "dump")["fsid"]
    servers = lab.target.daemons.ceph.servers.pids()
    assert servers  # the command server of that call runs in the lab's root
    lab.destroy()
    assert not any(procs.is_alive(r) for r in records)
    assert not any(_running(pid) for pid in servers)
    assert not lab_dir.exists()
