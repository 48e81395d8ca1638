"""The data scenarios go red, naming the fault, when their service is broken.

A kept local lab with the dashboard, S3 and MySQL is built once (own loopback addresses
127.0.6.x, temporary dir); each test breaks one thing, runs the scenario as a user would,
and puts the lab right again.

The one lab module on this machine's Ceph (``--lab-ceph=host``), on purpose: every other one
runs on the release users get by default (tests/conftest.py, TEST_CEPH: 20, a root the
harness builds). This one keeps covered what ``--lab-ceph=auto`` falls back to when a Ceph 20
root cannot be built here, e.g. once Debian testing no longer ships the pinned release
(cephlab/local/releases.py ``choose``, rootfs.why_unbuildable): the host's Ceph (Debian 12:
16.2 Pacific), its CLI, and its Python bindings (rados, ceph_argparse) that the command
servers of cephlab/ceph_server.py run with; the data stages here use the most of it (the
dashboard module, radosgw, rbd-fuse under MySQL).
"""

from __future__ import annotations

import json
import signal

import pytest

from cephlab import procs
from cephlab.lab import Lab
from cephlab.local import blockdb
from tests.conftest import ceph_unavailable, destroyed_at_end, loopback_prefix, run_harness

#: Not TEST_CEPH: the release --lab-ceph=auto falls back to, this machine's own (see above).
FALLBACK_CEPH = "host"

pytestmark = [pytest.mark.lab, pytest.mark.skipif(
    bool(ceph_unavailable(FALLBACK_CEPH)) or bool(blockdb.unavailable()),
    reason=f"covers --lab-ceph=auto's fallback, so it runs on this machine's Ceph, not the "
           f"tests' release; needs it, MariaDB and root: "
           f"{ceph_unavailable(FALLBACK_CEPH) or blockdb.unavailable()}")]

PREFIX = loopback_prefix("local-data")
#: The mysql stage's scenarios only: ghost's scenario names say mysql too, and Ghost has its
#: own lab tests (tests/test_local_ghost.py).
MYSQL = "mysql and not ghost"
SELECT = f"ceph_dashboard or object_store or ({MYSQL})"


def _args(path, *extra, scale: str = "0.3"):
    """A broken lab goes red fast (waits at 0.3 of their timeouts); the module's lab is built
    and checked healthy at full timeouts (a busy CI machine must not fail the set-up)."""
    return ("--lab-target=local", f"--lab-dir={path}", f"--lab-ip-prefix={PREFIX}",
            f"--lab-ceph={FALLBACK_CEPH}", "--lab-destroy=never", f"--lab-timeout-scale={scale}",
            *extra)


def _lab(path):
    """The kept lab with the options it was built with (its Ceph release included)."""
    return Lab.open(path, announce=lambda text: None)


@pytest.fixture(scope="module")
def lab_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "lab"
    with destroyed_at_end(path):
        res = run_harness(*_args(path, scale="1"), "-k", SELECT)
        assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
        yield path


def test_radosgw_stopped(lab_dir):
    lab = _lab(lab_dir)
    lab.target.stop_service("s3")
    res = run_harness(*_args(lab_dir), "-k", "object_store")
    lab.target.repair()
    assert res.returncode == 1, res.stdout[-3000:]
    assert "daemon client.rgw.k8s-1" in res.stdout and "not running" in res.stdout
    assert run_harness(*_args(lab_dir), "-k", "object_store").returncode == 0


def test_wrong_s3_keys(lab_dir):
    secrets = lab_dir / "secrets.json"
    saved = secrets.read_text()
    doc = json.loads(saved)
    doc["rgw-secret-key"] = "0" * 40
    secrets.write_text(json.dumps(doc))
    try:
        res = run_harness(*_args(lab_dir), "-k", "object_store")
    finally:
        secrets.write_text(saved)
    assert res.returncode == 1, res.stdout[-3000:]
    assert "SignatureDoesNotMatch" in res.stdout
    assert "0" * 40 not in res.stdout, "a secret was printed"


def test_dashboard_module_off(lab_dir):
    lab = _lab(lab_dir)
    lab.ceph.run("mgr", "module", "disable", "dashboard")
    try:
        res = run_harness(*_args(lab_dir), "-k", "ceph_dashboard")
    finally:
        lab.ceph.run("mgr", "module", "enable", "dashboard")
    assert res.returncode == 1, res.stdout[-3000:]
    assert f"http://{PREFIX}.2:30001 does not answer" in res.stdout


def test_rbd_mount_gone(lab_dir):
    lab = _lab(lab_dir)
    procs.kill(lab.target.daemons.record(blockdb.RBD_FUSE), signal.SIGKILL)
    res = run_harness(*_args(lab_dir), "-k", MYSQL)
    assert res.returncode == 1, res.stdout[-3000:]
    assert f"daemon {blockdb.RBD_FUSE}" in res.stdout and "not running" in res.stdout
    started = lab.target.repair()
    assert "mysql chain: rbd-fuse" in started
    res = run_harness(*_args(lab_dir), "-k", MYSQL)
    assert res.returncode == 0, res.stdout[-3000:]


def test_a_crashed_lab_is_cleaned_and_started_by_the_next_run(lab_dir):
    """Every process of the lab killed at once (what a crash or an OOM kill of everything
    leaves): stale FUSE mounts, a loop device on a dead file, XFS still mounted. The next
    run finds nothing running, releases all of it, and starts the lab again."""
    from cephlab.local import mounts

    lab = _lab(lab_dir)
    for rec in lab.target.daemons.records():
        procs.kill(rec, signal.SIGKILL)
    assert mounts.mounts_under(lab_dir), "the lab had no mounts to leave behind"
    res = run_harness(*_args(lab_dir), "-k", f"({MYSQL}) or object_store or shared_filesystem")
    assert res.returncode == 0, res.stdout[-4000:]
    assert "kept lab was not running: started" in res.stdout
    lab = _lab(lab_dir)
    live = {r.name for r in lab.target.daemons.records() if procs.is_alive(r)}
    assert {"mariadb", blockdb.RBD_FUSE, "client.rgw.k8s-1"} <= live
    table = mounts.mount_table()
    for mnt in mounts.mounts_under(lab_dir):
        assert table[mnt] in ("fuse.ceph-fuse", "fuse.rbd-fuse", "xfs"), (mnt, table[mnt])
    assert len(mounts.mounts_under(lab_dir)) == len(set(mounts.mounts_under(lab_dir)))
