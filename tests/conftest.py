"""Helpers for the harness's own tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"

#: The tests' two tiers. `make test` (the fast tier) runs ``-m "not lab"``: pure functions,
#: the stand-ins, the plan checks and one real local lab, tests/test_local_lab.py, as the smoke
#: test of the lifecycle core. `make test-lab` runs ``-m lab``: every suite that builds its own
#: real lab (faults, interrupts, verify, Ghost, reports, diagnosis, the contract on the local
#: target, the nodes target's cluster). `make test-all` runs both.
TIERS = {
    "lab": "builds a real lab of its own (Ceph daemons, MariaDB, Ghost or node containers): "
           "the second tier, `make test-lab`",
}


def pytest_configure(config):
    for name, text in TIERS.items():
        config.addinivalue_line("markers", f"{name}: {text}")


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
    """Run ``pytest features/ ARGS`` as a user would, from the project root."""
    full_env = dict(os.environ)
    full_env.pop("LAB_TARGET", None)
    full_env.pop("LAB_DIR", None)
    # The harness's own tests run on this machine's Ceph unless told otherwise.
    full_env["LAB_CEPH"] = os.environ.get("CEPHLAB_TEST_CEPH", "host")
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "pytest", "features/", "-p", "no:cacheprovider",
                           *args], cwd=ROOT, env=full_env, capture_output=True, text=True,
                          timeout=timeout)


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
