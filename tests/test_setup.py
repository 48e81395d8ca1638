"""The README's two commands on a stock machine: the Makefile runs everything in the
project's own venv (or the user's active one), set-up prints one line per step and keeps
each step's output in a named log shown only on failure; CI runs the system Python as a
new user would, and the nightly local job covers every release."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest
import yaml

from cephlab import install, setup_steps
from tests.conftest import ROOT


def make_n(*args, env=None):
    full = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    full.update(env or {})
    done = subprocess.run(["make", "-n", "--no-print-directory", "-C", str(ROOT), *args], capture_output=True,
                          text=True, env=full)
    assert done.returncode == 0, done.stderr
    return done.stdout


pytestmark = pytest.mark.standin
pytestmark_make = pytest.mark.skipif(not shutil.which("make"), reason="make is not installed")


@pytestmark_make
def test_every_make_target_runs_the_projects_venv_made_with_the_system_python():
    for target in ("lab", "test", "bench"):
        out = make_n(target)
        assert "/usr/bin/python3 -m cephlab setup --venv .venv" in out
        run = out.strip().splitlines()[-1]
        assert run.startswith(".venv/bin/python "), run
    assert make_n("destroy").strip() == ".venv/bin/python -m cephlab destroy"
    assert "--tests" in make_n("test") and "--tests" not in make_n("lab")
    assert "/opt/py/bin/python3 -m cephlab setup" in make_n("lab", "PYTHON=/opt/py/bin/python3")


@pytestmark_make
def test_an_active_venv_is_used_instead(tmp_path):
    out = make_n("test", env={"VIRTUAL_ENV": str(tmp_path)})
    assert out.strip().splitlines()[-1].startswith(f"{tmp_path}/bin/python -m pytest tests/")


def test_the_venv_step_respects_an_active_venv(tmp_path, capsys):
    steps = setup_steps.Steps(tmp_path / "logs", out=sys.stdout)
    assert install.venv_python(tmp_path / ".venv", None) == tmp_path / ".venv" / "bin" / "python"
    with pytest.raises(setup_steps.StepFailed, match="does not exist"):
        install.ensure_venv(steps, tmp_path / ".venv", str(tmp_path / "gone"))
    (tmp_path / "active" / "bin").mkdir(parents=True)
    (tmp_path / "active" / "bin" / "python").touch()
    got = install.ensure_venv(steps, tmp_path / ".venv", str(tmp_path / "active"))
    assert got == tmp_path / "active" / "bin" / "python"
    assert not (tmp_path / ".venv").exists()
    assert "using the active virtual environment" in capsys.readouterr().out
    assert install.venv_package((3, 11)) == "python3.11-venv"


def test_a_step_prints_one_line_and_shows_its_log_only_on_failure(tmp_path, capsys):
    steps = setup_steps.Steps(tmp_path / "logs", out=sys.stdout)
    steps.run("apt", "said hello", ["sh", "-c", "echo line one; echo line two"])
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "line one" not in out
    assert f"log {tmp_path / 'logs' / 'apt.log'}" in out
    assert "line two" in (tmp_path / "logs" / "apt.log").read_text()
    with pytest.raises(setup_steps.StepFailed) as err:
        steps.run("apt", "failed on purpose", ["sh", "-c", "echo E: no such package; exit 100"])
    assert "exit 100" in str(err.value) and "E: no such package" in str(err.value)
    assert str(tmp_path / "logs" / "apt.log") in str(err.value)


def test_without_root_the_exact_install_line_is_named(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(setup_steps.StepFailed) as err:
        setup_steps.apt_install(setup_steps.Steps(tmp_path), ["mariadb-server", "xfsprogs"])
    assert ("sudo apt-get update && sudo apt-get install -y --no-install-recommends "
            "mariadb-server xfsprogs") in str(err.value)


def test_the_packages_this_machine_needs_per_release():
    root = install.host_packages("20", tests=False)
    assert "debootstrap" in root and "mariadb-server" in root and "ceph-mon" not in root
    host = install.host_packages("host", tests=False)
    assert "ceph-mon" in host and "ceph-mgr-dashboard" in host and "debootstrap" not in host
    assert "ruby" in install.host_packages("20", tests=True)
    assert "ceph-osd" in install.host_packages("20", tests=True)  # test_local_data.py's fallback


def test_ci_runs_both_commands_with_the_system_python_and_the_lab_on_20():
    text = (ROOT / ".ci" / "run").read_text()
    assert "unset VIRTUAL_ENV" in text
    assert re.search(r"^make test PYTHON=/usr/bin/python3 ", text, re.M)
    assert re.search(r"^LAB_CEPH=20 make lab PYTHON=/usr/bin/python3 ", text, re.M)


def test_the_nightly_local_job_runs_every_release_and_uploads_per_release():
    flow = yaml.safe_load((ROOT / ".github" / "workflows" / "nightly-local.yml").read_text())
    job = flow["jobs"]["lab"]
    assert job["strategy"]["matrix"]["ceph"] == ["host", "18", "20"]
    assert job["env"]["LAB_CEPH"] == "${{ matrix.ceph }}"
    assert job["container"]["image"] == "debian:12" and "--privileged" in job["container"]["options"]
    runs = "\n".join(step.get("run", "") for step in job["steps"])
    assert "make lab PYTHON=/usr/bin/python3" in runs
    upload = [s for s in job["steps"] if s.get("uses", "").startswith("actions/upload-artifact")]
    assert upload and upload[0]["if"] == "always()"
    assert "${{ matrix.ceph }}" in upload[0]["with"]["name"]


def test_setup_refuses_a_python_older_than_the_floor_before_doing_anything():
    import tomllib

    from cephlab.install import MIN_PYTHON, python_too_old

    floor = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert floor.startswith(f">={MIN_PYTHON[0]}.{MIN_PYTHON[1]}")
    assert python_too_old((3, 11, 2)) is None and python_too_old((3, 13, 0)) is None
    why = python_too_old((3, 10, 13))
    assert "3.10 is older than 3.11" in why and "PYTHON=" in why


def test_set_up_names_every_python_package_it_installs():
    names = install.project_requirements()
    assert {"pytest", "pytest-bdd", "tenacity", "PyMySQL", "selenium", "pytest-xdist"} <= set(names)
    assert not any(c in n for n in names for c in "[<>=; "), names
