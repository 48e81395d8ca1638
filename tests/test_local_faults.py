"""The partition and disk-full scenarios on a real local lab: green, red when their undo
step is sabotaged, and nothing of either fault survives a run (teardown undoes what a failed
heal left; the next run undoes what a killed run left, and says so).

One kept lab (own loopback addresses, temporary dir) serves the module. Each run is a child
``pytest features/`` as a user would start it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from cephlab import ceph_checks
from cephlab.lab import Lab
from cephlab.local import blockdb, diskfull, nft
from cephlab.waits import wait_for
from tests.conftest import (ROOT, TEST_CEPH, ceph_unavailable, destroyed_at_end, loopback_prefix,
                            run_harness)

pytestmark = [pytest.mark.lab, pytest.mark.skipif(
    bool(ceph_unavailable()) or bool(blockdb.unavailable()) or bool(nft.unavailable()),
    reason=f"needs ceph {TEST_CEPH}, MariaDB, root and nft: "
           f"{ceph_unavailable() or blockdb.unavailable() or nft.unavailable()}")]

PREFIX = loopback_prefix("local-faults")
PARTITION = "faults and partition"
FULL = "faults and nearfull"
DEFAULT_RATIOS = {"nearfull": 0.85, "backfillfull": 0.9, "full": 0.95}


def _args(path, *extra, scale="1"):
    return ("--lab-target=local", f"--lab-dir={path}", f"--lab-ip-prefix={PREFIX}",
            "--lab-destroy=never", f"--lab-timeout-scale={scale}", "-s", *extra)


def _lab(path):
    """The kept lab with the options it was built with (its Ceph release included)."""
    return Lab.open(path, announce=lambda text: None)


def _nothing_left(path) -> None:
    """No nftables table of the lab, ratios the cluster's own, none recorded as lowered."""
    lab = _lab(path)
    table = nft.table_name(path)
    assert not nft.present(table), f"nftables table {table} survived the run"
    assert diskfull.ratios(lab.ceph.json("osd", "dump")) == DEFAULT_RATIOS
    assert not lab.state.has(diskfull.FACT)


def _healthy(path, why: str) -> None:
    """Each test starts from a healthy lab (a sabotaged heal leaves k8s-3 rejoining late:
    TCP's connect retries back off while the rules are in place)."""
    ceph = _lab(path).ceph

    def probe():
        ceph_checks.assert_quorum(ceph.json("quorum_status"), ["k8s-1", "k8s-2", "k8s-3"])
        ceph_checks.assert_pgs_clean(ceph.json("status"))
        ceph_checks.assert_health(ceph.json("health", "detail"))
    wait_for(why, probe, timeout=300, interval=2)


def _tail(res) -> str:
    """Why a child run failed: its failure lines first (they are far from the end), then its tail."""
    lines = [line for line in res.stdout.splitlines() if not line.startswith("[wait]")]
    why = [line for line in lines if "Gave up" in line or "↳" in line or line.startswith("E   ")]
    return "\n".join(why[:40])[:6000] + "\n…\n" + "\n".join(lines)[-3000:]


@pytest.fixture(scope="module")
def lab_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("faults") / "lab"
    with destroyed_at_end(path):
        res = run_harness(*_args(path), "-k", f"({PARTITION}) or ({FULL})", timeout=1500)
        assert res.returncode == 0, _tail(res) + res.stderr[-2000:]
        assert "network_partition" in res.stdout and "disk_full" in res.stdout
        yield path
    assert not nft.present(nft.table_name(path)), "destroy left the partition table"


def test_both_scenarios_pass_and_leave_no_rule_and_no_lowered_ratio(lab_dir):
    _nothing_left(lab_dir)


def test_partition_goes_red_naming_k8s_3_when_heal_does_nothing(lab_dir):
    _healthy(lab_dir, "a healthy lab before the sabotaged partition")
    res = run_harness(*_args(lab_dir, "-p", "tests.sabotage.no_heal", scale="0.4"),
                      "-k", PARTITION, timeout=900)
    assert res.returncode == 1, _tail(res)
    assert "Gave up waiting for 'k8s-3 to rejoin" in res.stdout, _tail(res)
    assert "mons not in quorum: k8s-3" in res.stdout, _tail(res)
    assert "after the scenario: removed the network partition left in place" in res.stdout, _tail(res)
    _nothing_left(lab_dir)
    _healthy(lab_dir, "k8s-3 back once the scenario's teardown removed the rules")


def test_disk_full_goes_red_naming_the_full_checks_when_the_ratios_stay_lowered(lab_dir):
    _healthy(lab_dir, "a healthy lab before the sabotaged disk-full fault")
    res = run_harness(*_args(lab_dir, "-p", "tests.sabotage.no_restore", scale="0.4"),
                      "-k", FULL, timeout=900)
    assert res.returncode == 1, _tail(res)
    gave_up = [line for line in res.stdout.splitlines()
               if "Gave up waiting for 'health back after the full ratios were restored" in line]
    assert gave_up, _tail(res)
    assert any("OSD_FULL" in line or "OSD_NEARFULL" in line for line in gave_up), gave_up
    assert "after the scenario: restored the full ratios an earlier run left lowered" in res.stdout, _tail(res)
    _nothing_left(lab_dir)


def _killed_during(lab_dir, select: str, in_place) -> None:
    """Start a run, SIGKILL it (its process group: pytest and its CLI children; the lab's
    daemons run in their own sessions) once ``in_place()`` holds."""
    env = dict(os.environ, LAB_CEPH=TEST_CEPH)
    env.pop("LAB_DIR", None)
    child = subprocess.Popen([sys.executable, "-m", "pytest", "features/", "-p", "no:cacheprovider",
                              *_args(lab_dir), "-k", select], cwd=ROOT, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)
    try:
        deadline = time.monotonic() + 600
        while not in_place():
            assert child.poll() is None, f"the run ended (exit {child.returncode}) before the fault"
            assert time.monotonic() < deadline, "the fault never came"
            time.sleep(0.5)
    finally:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait()


def test_a_killed_run_leaves_rules_and_ratios_that_the_next_run_undoes(lab_dir):
    _healthy(lab_dir, "a healthy lab before the killed runs")
    table = nft.table_name(lab_dir)
    _killed_during(lab_dir, PARTITION, lambda: nft.present(table))
    assert nft.present(table), "the killed run left no rules: nothing to test"
    res = run_harness(*_args(lab_dir), "-k", FULL, timeout=900)
    assert res.returncode == 0, _tail(res)
    assert f"kept lab: removed the network partition left in place (nftables table inet {table})" \
        in res.stdout
    _nothing_left(lab_dir)

    state = lab_dir / "state.json"
    _killed_during(lab_dir, FULL,
                   lambda: diskfull.FACT in json.loads(state.read_text()).get("data", {}))
    lab = _lab(lab_dir)
    assert lab.state.has(diskfull.FACT)
    res = run_harness(*_args(lab_dir), "-k", PARTITION, timeout=900)
    assert res.returncode == 0, _tail(res)
    assert "kept lab: restored the full ratios an earlier run left lowered" in res.stdout
    _nothing_left(lab_dir)
