"""Ghost on the local target: its installer's refusals (offline), and the ghost scenarios
going red for the right reason on a real lab: Ghost killed before the Then steps, MariaDB
stopped, Ghost exiting while it boots; ``repair`` brings each back; destroy leaves no
process and no mount.

The real lab (own loopback addresses 127.NET.9, temporary dir) is built once with
``-k ghost``; it needs Ceph, MariaDB, ceph-fuse, root, and Ghost in the set-up cache.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from cephlab import procs, stages
from cephlab.lab import Lab
from cephlab.targets import why_not
from cephlab.local import blockdb, ghost, ghost_install, mounts
from cephlab.local.cephfs import fuse_unavailable
from cephlab.local.target import LocalTarget
from tests.conftest import (TEST_CEPH, ceph_unavailable, destroyed_at_end, loopback_prefix,
                            run_harness)


PREFIX = loopback_prefix("local-ghost")
TABLES = "ghost and own_tables"  # the first scenario: blog, version, tables, migrations


# ------------------------------------------------------------------ offline
def test_ghost_runs_on_local_and_builds_only_what_it_needs():
    local = lambda s: not s.kubernetes  # noqa: E731
    order = [s.slug for s in stages.closure("ghost", local)]
    assert sorted(order) == sorted(["ceph_cluster", "block_pool", "shared_filesystem", "mysql",
                                    "ghost"])
    assert order[-1] == "ghost" and order.index("block_pool") < order.index("mysql")
    assert "minio" in stages.get("ghost").requires  # on Kubernetes MinIO's stage makes /ghost
    assert not stages.get("ghost").kubernetes


@pytest.fixture
def empty_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CEPHLAB_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_without_npm_setup_says_so_and_the_stage_skips_saying_it(empty_cache, monkeypatch):
    said = []
    with monkeypatch.context() as patch:  # no npm, and no apt-get to install it with
        patch.setattr(ghost_install.shutil, "which", lambda name: None)
        assert ghost_install.setup(said.append) is False
    assert said == ["setup: Ghost stage will skip: npm is not installed (apt-get install npm)"]
    reason = ghost.unavailable()  # recorded by set-up: npm being back does not hide it
    assert reason == (f"Ghost {ghost_install.GHOST} could not be installed: npm is not installed "
                      f"(apt-get install npm)")
    if not (blockdb.unavailable() or fuse_unavailable()):
        assert why_not(LocalTarget, stages.get("ghost")) == (
            f"stage ghost cannot run here: {reason}")


@pytest.mark.skipif(not ghost_install.shutil.which("npm"), reason="needs npm")
def test_with_the_registry_unreachable_setup_says_so(empty_cache, monkeypatch, tmp_path):
    # a registry address where nothing listens, and an empty npm cache: a real npm, offline
    monkeypatch.setenv("npm_config_registry", f"http://{loopback_prefix('local-ghost')}.250:9/")
    monkeypatch.setenv("npm_config_cache", str(tmp_path / "npm-cache"))
    monkeypatch.setenv("npm_config_fetch_retries", "0")
    said = []
    assert ghost_install.setup(said.append) is False
    assert "the npm registry is unreachable" in said[-1], said
    assert "the npm registry is unreachable" in ghost.unavailable()
    assert not ghost_install.installed()
    assert not list(empty_cache.glob(".node-*")), "a half-made cache entry was left"


def test_an_empty_cache_names_setup(empty_cache):
    assert "`python3 -m cephlab setup` installs" in ghost_install.unavailable()


def test_unused_sqlite_driver_is_dropped_from_the_manifest(tmp_path):
    manifest = tmp_path / "package.json"
    manifest.write_text('{"dependencies": {"mysql2": "3"}, '
                        '"optionalDependencies": {"better-sqlite3": "12", "sharp": "0.34"}}')
    ghost_install._drop_unused(manifest)
    text = manifest.read_text()
    assert "better-sqlite3" not in text and '"sharp"' in text and '"mysql2"' in text


# ------------------------------------------------------------------ on a real lab
def _why_no_lab():
    return ((ceph_unavailable() and f"ceph {TEST_CEPH}: {ceph_unavailable()}")
            or blockdb.unavailable() or fuse_unavailable() or ghost.unavailable())


lab_only = pytest.mark.skipif(bool(_why_no_lab()), reason=f"needs a real lab: {_why_no_lab()}")


def _args(path, *extra):
    return ("--lab-target=local", f"--lab-dir={path}", f"--lab-ip-prefix={PREFIX}",
            "--lab-destroy=never", *extra)


def _lab(path):
    """The kept lab with the options it was built with (its Ceph release included)."""
    return Lab.open(path, announce=lambda text: None)


@pytest.fixture(scope="module")
def lab_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("ghost") / "lab"
    with destroyed_at_end(path):
        res = run_harness(*_args(path), "-k", "ghost", timeout=1800)
        assert res.returncode == 0, res.stdout[-5000:] + res.stderr[-2000:]
        yield path


@lab_only
@pytest.mark.lab
def test_ghost_killed_fails_the_scenario_naming_ghost(lab_dir):
    lab = _lab(lab_dir)
    procs.kill(lab.target.daemons.record(ghost.NAME), signal.SIGKILL)
    res = run_harness(*_args(lab_dir), "-k", TABLES)
    assert res.returncode == 1, res.stdout[-3000:]
    assert f"daemon {ghost.NAME} (pid" in res.stdout and "is not running any more" in res.stdout
    assert "daemon mariadb" not in res.stdout
    assert "ghost" in _repair(lab_dir)
    assert run_harness(*_args(lab_dir), "-k", TABLES).returncode == 0


@lab_only
@pytest.mark.lab
def test_mariadb_stopped_fails_the_scenario_naming_mariadb(lab_dir):
    lab = _lab(lab_dir)
    lab.target.stop_service("mysql")
    res = run_harness(*_args(lab_dir), "-k", TABLES)
    assert res.returncode == 1, res.stdout[-3000:]
    assert f"daemon {blockdb.MARIADB} (pid" in res.stdout and "is not running any more" in res.stdout
    assert "mysql chain: mariadb" in _repair(lab_dir)
    assert run_harness(*_args(lab_dir), "-k", TABLES).returncode == 0


def _repair(lab_dir: Path) -> str:
    """`python -m cephlab repair`, as a user would run it."""
    res = subprocess.run([sys.executable, "-m", "cephlab", "repair", "--lab-dir", str(lab_dir)],
                         cwd=Path(__file__).resolve().parent.parent, capture_output=True,
                         text=True, timeout=600)
    assert res.returncode == 0, res.stdout + res.stderr
    return res.stdout


@lab_only
@pytest.mark.lab
def test_a_ghost_that_exits_during_boot_fails_the_wait_at_once_with_its_log(lab_dir):
    """Ghost given a wrong database password exits while booting: the boot wait ends at
    once (not at its 10-minute bound) with Ghost's own log lines, and no password."""
    import json
    import time

    from cephlab.errors import DaemonExited

    lab = _lab(lab_dir)
    lab.target.ghost.stop()
    secrets = lab_dir / "secrets.json"
    saved = secrets.read_text()
    wrong = "w" * 24
    secrets.write_text(json.dumps({**json.loads(saved), "ghost-db": wrong}))
    start = time.monotonic()
    try:
        with pytest.raises(DaemonExited) as err:
            lab.target.ghost.start(first=True)
    finally:
        secrets.write_text(saved)
    assert time.monotonic() - start < 120
    text = str(err.value)
    assert text.startswith(f"daemon {ghost.NAME} (pid") and "Access denied" in text, text
    assert wrong not in text
    assert lab.target.repair() == [ghost.NAME]


@lab_only
@pytest.mark.lab
def test_a_lab_whose_every_process_was_killed_comes_back_whole(lab_dir):
    """A machine that lost power: every daemon, client and mount of the lab SIGKILLed. The
    next run starts it all again and the ghost scenarios pass. (It used to fail: mounting the
    first CephFS client again waited for an active MDS with a fail-fast that counted the
    other, not yet restarted, clients as dead daemons.)"""
    lab = _lab(lab_dir)
    records = lab.target.daemons.records()
    names = {r.name for r in records}
    assert {f"client.fuse-{ghost.MOUNT}", "client.fuse-ghost-reader", ghost.NAME} <= names, names
    for rec in records:
        procs.kill(rec, signal.SIGKILL)
    res = run_harness(*_args(lab_dir), "-k", "ghost", timeout=900)
    assert res.returncode == 0, res.stdout[-4000:]
    started = [line for line in res.stdout.splitlines() if "kept lab was not running: started" in line]
    assert started, res.stdout[-3000:]
    for name in ("mon.k8s-1", "osd.2", "mds.k8s-2", "client.fuse-ghost-reader", "mysql chain: mariadb",
                 ghost.NAME):
        assert name in started[0], started[0]


@lab_only
@pytest.mark.lab
def test_destroy_leaves_no_process_and_no_mount(lab_dir):
    lab = _lab(lab_dir)
    records = lab.target.daemons.records()
    assert {ghost.NAME, blockdb.MARIADB, f"client.fuse-{ghost.MOUNT}"} <= {r.name for r in records}
    lab.destroy()
    assert not [r.name for r in records if procs.is_alive(r)]
    assert not mounts.mounts_under(lab_dir)
    assert not lab_dir.exists()


def test_the_cli_acts_on_a_kept_lab_at_its_own_addresses(tmp_path):
    """`python -m cephlab repair` restarts MariaDB and Ghost where the lab's clients reach
    them: on the addresses the lab was built on (saved with it), not the default prefix."""
    from cephlab.config import LabConfig
    from cephlab.lab import Lab

    built = Lab(LabConfig(target="local", target_reason="test", lab_dir=tmp_path / "lab",
                          ip_prefix="127.15.9"), announce=lambda text: None)
    built.state.mark_applied("ceph_cluster", 1.0)
    lab = Lab.open(tmp_path / "lab")
    assert lab.target.endpoint("ghost")[0] == lab.target.endpoint("mysql")[0] == "127.15.9.2"


def test_kubernetes_targets_serve_ghost_under_the_same_names(tmp_path):
    """The ghost steps go through endpoint/credentials on every target: on Kubernetes the
    NodePort on the first storage node, and an owner password generated once per lab."""
    from cephlab.model import GHOST_OWNER_EMAIL, PORTS
    from tests.test_cluster_target import FakeKube, make_target

    target = make_target(tmp_path, kube=FakeKube())
    (tmp_path / "lab").mkdir()  # a run's lab dir exists once its state is saved
    host, port = target.endpoint("ghost")
    assert port == PORTS["ghost"] == 30030 and host == target.node_address("k8s-1")
    creds = target.credentials("ghost")
    assert creds["email"] == GHOST_OWNER_EMAIL and len(creds["password"]) >= 20
    assert target.credentials("ghost") == creds, "the owner's password changed between calls"
    assert (tmp_path / "lab" / "secrets.json").stat().st_mode & 0o077 == 0
