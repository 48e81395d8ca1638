"""Helpers for the harness's own tests."""

from __future__ import annotations

import functools
import json
import os
import signal
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"

#: The tests' tiers, one marker per test module. A module says its tier in its own
#: ``pytestmark``; a module that says none is ``standin`` (the safe default: no guard).
#:
#: - ``make test-unit`` runs ``-m unit``, seconds: pure functions and objects in this process.
#:   A unit test that starts a child process fails (:func:`_unit_tests_start_no_process`).
#: - ``make test`` (the fast tier) runs ``-m "not lab"``: the unit tier, the ``standin`` tier
#:   (the harness against stand-ins of kubectl, Vagrant, the Kubernetes API and Ceph, plan
#:   checks, child pytest runs, set-up and image builds) and ``smoke``, tests/test_local_lab.py,
#:   one real local lab as the smoke test of the lifecycle core.
#: - ``make test-lab`` runs ``-m lab``: every suite that builds its own real lab (faults,
#:   interrupts, verify, Ghost, reports, diagnosis, the contract on the local target, the nodes
#:   target's cluster). `make test-all` runs the fast tier and then this one.
TIERS = {
    "unit": "pure functions and objects in this process, no child process: `make test-unit`",
    "standin": "the harness against stand-ins, plan checks, child processes and child pytest "
               "runs, no real lab (the default of a module that names no tier)",
    "smoke": "the one real local lab of the fast tier: the smoke test of the lifecycle core",
    "lab": "builds a real lab of its own (Ceph daemons, MariaDB, Ghost or node containers): "
           "the second tier, `make test-lab`",
}


def tier_of(item: pytest.Item) -> str:
    """The test's tier: the tier its module names, ``standin`` where it names none. A module is
    in one tier (-m selects on every marker up the chain, so a test cannot leave its module's)."""
    named = [name for name in TIERS if item.get_closest_marker(name)]
    if len(named) > 1:
        raise pytest.UsageError(f"{item.nodeid} is in {len(named)} tiers ({', '.join(named)}); "
                                f"a test module names one (tests/conftest.py, TIERS)")
    return named[0] if named else "standin"


def pytest_collection_modifyitems(items):
    for item in items:
        tier = tier_of(item)
        if not item.get_closest_marker(tier):
            item.add_marker(tier)


class ChildProcess(AssertionError):
    """A unit test started a child process."""


@pytest.fixture(autouse=True)
def _unit_tests_start_no_process(request, monkeypatch):
    """The unit tier's promise, kept: a test marked ``unit`` that starts a child process
    (subprocess, os.system, a fork) fails, naming what it ran. Such a test belongs in the
    stand-in tier."""
    if request.node.get_closest_marker("unit") is None:
        yield
        return

    def refuse(what):
        def refused(*args, **kw):
            shown = args[1] if what == "subprocess" and len(args) > 1 else (args[0] if args else kw)
            raise ChildProcess(f"a unit test started a child process ({what}: {shown!r}); "
                               f"mark its module `pytestmark = pytest.mark.standin`")
        return refused

    monkeypatch.setattr(subprocess.Popen, "__init__", refuse("subprocess"))
    monkeypatch.setattr(os, "system", refuse("os.system"))
    monkeypatch.setattr(os, "fork", refuse("os.fork"))
    monkeypatch.setattr(os, "posix_spawn", refuse("os.posix_spawn"))
    yield


#: The Ceph release the harness's own lab tests run on: the one users get by default
#: (``--lab-ceph=auto`` picks 20 whenever its root can be built: cephlab/local/releases.py,
#: ``choose``), a Debian-testing root the harness builds once (cached under
#: /var/cache/cephlab/roots) and runs with chroot. CEPHLAB_TEST_CEPH=host (this machine's
#: Ceph) or 18 runs the lab tests on another release. Every lab the tests build takes it
#: (run_harness's LAB_CEPH, ``LabConfig(ceph_release=TEST_CEPH)``) but one module's:
#: tests/test_local_data.py stays on the host's Ceph on purpose (it says why).
TEST_CEPH = os.environ.get("CEPHLAB_TEST_CEPH", "20")


def pytest_configure(config):
    for name, text in TIERS.items():
        config.addinivalue_line("markers", f"{name}: {text}")
    from cephlab.local import releases

    if TEST_CEPH not in ("host", *releases.SOURCES):
        raise pytest.UsageError(f"CEPHLAB_TEST_CEPH={TEST_CEPH!r} is not a release the lab tests "
                                f"run on; choose one of: host, {', '.join(releases.SOURCES)}")


@functools.lru_cache(maxsize=None)
def ceph_unavailable(release: str = TEST_CEPH) -> str:
    """Why Ceph ``release`` cannot run a lab here ('' when it can), for the lab modules' skip
    reasons. ``host``: the distro's Ceph programs missing on this machine. A root release:
    not root (chroot and the root's mounts need it), or its root neither cached nor buildable
    here (cephlab.local.rootfs.why_unbuildable: debootstrap, Debian's archive, the pin). A
    root not built yet is fine: the harness builds it before the lab's first stage."""
    from cephlab.local import releases, rootfs
    from cephlab.local.programs import missing_binaries

    if release == "host":
        missing = missing_binaries()
        return (f"this machine's Ceph is not installed (missing {', '.join(missing)}); run "
                f"`python3 -m cephlab setup --tests`" if missing else "")
    if os.geteuid() != 0:
        return ("not root: its root runs with chroot and mounts; CEPHLAB_TEST_CEPH=host runs "
                "the lab tests on this machine's Ceph instead")
    why = rootfs.why_unbuildable(releases.SOURCES[release])
    return f"its root cannot be built here: {why}" if why else ""


#: Every address block of the tests and the benchmark, by name: 127.NET.N, one N per lab (a
#: module's lab, or a test's when it builds its own), so that any two can run at once (the
#: tiers under pytest-xdist, a benchmark beside the tests). The one table that hands them out.
ADDRESS_BLOCKS = {
    "contract-local": 5, "local-data": 6, "local-lab": 7, "verify-local": 8,
    "local-ghost": 9, "config-busy": 10, "releases": 11, "report": 12,
    "local-report": 13, "local-report-fresh": 14, "local-diagnose": 15, "netfaults": 16,
    "local-faults": 17, "verify-before-pg-num": 18,
    "lock-locked": 20, "lock-held": 21, "lock-port": 22,
    "interrupt-bootstrap": 31, "interrupt-drain": 32, "interrupt-fault": 33, "interrupt-twice": 34,
    "bench-local": 40, "nodes-lab": 41, "nodes-forward": 42, "bench-nodes": 43,
}
assert len(set(ADDRESS_BLOCKS.values())) == len(ADDRESS_BLOCKS), "two labs share an address block"


def loopback_prefix(name: str) -> str:
    """The address prefix of lab ``name`` (ADDRESS_BLOCKS), 127.NET.N: CEPHLAB_TEST_NET
    (default 0) lets two checkouts run their tests on one machine at once without sharing
    addresses. An unknown name is a KeyError: a new lab takes a new row."""
    return f"127.{int(os.environ.get('CEPHLAB_TEST_NET', '0'))}.{ADDRESS_BLOCKS[name]}"


@pytest.fixture
def sample():
    """Load a recorded ``ceph … -f json`` document from tests/data (a fresh copy each call)."""
    def load(name: str):
        return json.loads((DATA / name).read_text())
    return load


def run_harness(*args: str, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run ``pytest features/ ARGS`` as a user would, from the project root, on the tests'
    Ceph release (TEST_CEPH) unless ARGS (--lab-ceph) or ENV (LAB_CEPH) name another: a child
    process, for runs that build a real lab, are stopped by a signal, or leave daemons behind.
    A run that ends before any lab exists uses the ``harness_in_process`` fixture instead."""
    full_env = dict(os.environ)
    full_env.pop("LAB_TARGET", None)
    full_env.pop("LAB_DIR", None)
    full_env["LAB_CEPH"] = TEST_CEPH
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "pytest", "features/", "-p", "no:cacheprovider",
                           *args], cwd=ROOT, env=full_env, capture_output=True, text=True,
                          timeout=timeout)


def pytest_addoption(parser, pluginmanager):
    """pytester, for :func:`harness_in_process`: registered here rather than in pytest.ini,
    which the users' own runs of features/ read too."""
    if not pluginmanager.has_plugin("pytester"):
        pluginmanager.import_plugin("pytester")


@pytest.fixture
def harness_in_process(pytester, monkeypatch):
    """:func:`run_harness`, in this process (pytester): ``pytest features/ ARGS`` from the
    project root, with its environment, answering as a finished process does (returncode,
    stdout, stderr). For runs that end before a lab exists: refusals, collection, plan mode,
    stand-ins. A run that starts daemons, is stopped by a signal or must outlive a crash of
    its own stays a child process (:func:`run_harness`)."""
    def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
        for name in ("LAB_TARGET", "LAB_DIR"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("LAB_CEPH", TEST_CEPH)
        for name, value in (env or {}).items():
            monkeypatch.setenv(name, value)
        monkeypatch.chdir(ROOT)
        result = pytester.runpytest_inprocess("features/", "-p", "no:cacheprovider", *args)
        return subprocess.CompletedProcess(["pytest", "features/", *args], int(result.ret),
                                           "".join(line + "\n" for line in result.outlines),
                                           "".join(line + "\n" for line in result.errlines))
    return run


def signals_as_a_terminal_gives_them() -> None:
    """``preexec_fn`` of a run a test stops with SIGINT or SIGTERM: both at their defaults in
    the child, as a terminal's Ctrl-C finds them. A test tier started in the background by a
    shell (``make test-lab &``, nohup) inherits SIGINT ignored, and Python then never turns
    it into KeyboardInterrupt: the run went on to pass and the test failed for the shell."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)


@contextmanager
def destroyed_at_end(lab_dir: Path):
    """The lab in ``lab_dir`` is destroyed when the block ends, however it ends: a module's
    lab whose set-up failed included (it was left running once, and pytest's pruning of old
    temporary directories then moved a running lab's directory from under its daemons)."""
    try:
        yield lab_dir
    finally:
        if (Path(lab_dir) / "state.json").exists():
            from cephlab.lab import Lab

            Lab.open(lab_dir, announce=lambda _: None, for_destroy=True).destroy()
