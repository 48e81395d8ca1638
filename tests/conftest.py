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


def loopback_prefix(third: int) -> str:
    """A lab address prefix of the tests' own, 127.NET.third: CEPHLAB_TEST_NET (default 0) lets
    two checkouts run their tests on one machine at once without sharing addresses."""
    return f"127.{int(os.environ.get('CEPHLAB_TEST_NET', '0'))}.{third}"


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
