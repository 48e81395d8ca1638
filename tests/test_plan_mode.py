"""Plan mode as a deliverable people run by hand (``pytest features/ --lab-plan DIR``): one
clean line and exit 0; a second plan into the same directory refused unless forced; a forced
rewrite keeps the generated credentials; no path of this checkout in any written file (the
scripts find the Vagrantfile beside the plan, or through VAGRANT_CWD); plan.md names every
variable the scripts read, every program they call, and how to verify each stage."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from cephlab.k8s.host_tools import TOOLS
from cephlab.k8s.plan import write_plan
from tests.conftest import ROOT

pytestmark = pytest.mark.standin

SECRET_GLOB = "*/*-secret-*.yaml"


def secrets_of(plan: Path) -> dict[str, dict]:
    return {str(f.relative_to(plan)): yaml.safe_load(f.read_text())["stringData"]
            for f in sorted(plan.glob(SECRET_GLOB))}


@pytest.fixture
def plan_run(harness_in_process):
    """Plan mode of the harness, in this process: ``plan_run(plan, *args, env=, target=)``."""
    def run(plan: Path, *args: str, env: dict | None = None, target: str = "vagrant"):
        return harness_in_process(f"--lab-target={target}", f"--lab-plan={plan}",
                                  f"--lab-dir={plan.parent / 'lab'}", *args, env=env)
    return run


def test_success_is_one_line_and_exit_0(tmp_path, plan_run):
    plan = tmp_path / "plan"
    res = plan_run(plan)
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.splitlines() == [
        f"cephlab: wrote the vagrant plan ({len([f for f in plan.rglob('*') if f.is_file()])} files) "
        f"to {plan}; read {plan / 'plan.md'} first. Nothing was run."], res.stdout
    assert "Exit" not in res.stdout + res.stderr and "!!!" not in res.stdout + res.stderr
    assert res.stderr == ""
    assert not (tmp_path / "lab").exists()


def test_a_second_plan_into_the_same_dir_is_refused_and_changes_nothing(tmp_path, plan_run):
    plan = tmp_path / "plan"
    assert plan_run(plan).returncode == 0
    before = {str(f): f.read_bytes() for f in plan.rglob("*") if f.is_file()}
    res = plan_run(plan)
    assert res.returncode == 4, res.stdout + res.stderr
    assert "holds a plan already" in res.stderr and "--lab-plan-force" in res.stderr
    assert {str(f): f.read_bytes() for f in plan.rglob("*") if f.is_file()} == before


@pytest.mark.parametrize("how", ["option", "env", "ini"])
def test_a_forced_rewrite_keeps_the_generated_secrets(tmp_path, how, plan_run):
    plan = tmp_path / "plan"
    assert plan_run(plan).returncode == 0
    first = secrets_of(plan)
    assert len(first) >= 2 and all(first.values())
    args, env = (), None
    if how == "option":
        args = ("--lab-plan-force=yes",)
    elif how == "env":
        env = {"LAB_PLAN_FORCE": "yes"}
    else:
        args = ("-o", "lab_plan_force=yes")
    (plan / "07_ceph_cluster" / "commands.sh").write_text("stale")    # the rewrite replaces it
    res = plan_run(plan, *args, env=env)
    assert res.returncode == 0, res.stdout + res.stderr
    assert secrets_of(plan) == first
    assert (plan / "07_ceph_cluster" / "commands.sh").read_text() != "stale"


def test_the_force_option_takes_yes_or_no(tmp_path, plan_run):
    res = plan_run(tmp_path / "plan", "--lab-plan-force=perhaps")
    assert res.returncode == 4 and "--lab-plan-force takes yes or no" in res.stderr
    assert not (tmp_path / "plan").exists()


def test_without_force_fresh_plans_get_fresh_secrets_and_force_without_a_plan_is_a_plain_write(tmp_path):
    write_plan(tmp_path / "a")
    write_plan(tmp_path / "b", force=True)     # nothing to keep: generated
    a, b = secrets_of(tmp_path / "a"), secrets_of(tmp_path / "b")
    values = lambda s: {v for d in s.values() for v in d.values()} - {"ghost"}   # noqa: E731
    assert a.keys() == b.keys() and not values(a) & values(b)


@pytest.mark.parametrize("target", ["vagrant", "cluster"])
def test_no_path_of_this_checkout_in_any_written_file(tmp_path, target):
    files = write_plan(tmp_path / target, target=target)
    assert files
    for f in (tmp_path / target).rglob("*"):
        if f.is_file():
            text = f.read_text()
            assert str(ROOT) not in text and str(ROOT.resolve()) not in text, f


def test_the_scripts_find_the_vagrantfile_beside_the_plan_or_through_vagrant_cwd(tmp_path):
    """Stage vms's commands.sh run by hand (the vagrant stand-in records where it was told
    the Vagrantfile is): the plan's own copy by default, VAGRANT_CWD when set."""
    plan = tmp_path / "plan"
    write_plan(plan)
    assert (plan / "Vagrantfile").read_text() == (ROOT / "Vagrantfile").read_text()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "vagrant").symlink_to(ROOT / "tests" / "fake_vagrant" / "vagrant")
    log = tmp_path / "vagrant.jsonl"
    elsewhere = tmp_path / "elsewhere"
    for cwd in (None, elsewhere):
        seen = len(log.read_text().splitlines()) if log.exists() else 0
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VAGRANT_", "LAB_"))}
        env.update(PATH=f"{bin_dir}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}/usr/bin:/bin",
                   FAKE_VAGRANT_LOG=str(log), VAGRANT_DOTFILE_PATH=str(tmp_path / "dot"))
        if cwd:
            cwd.mkdir(exist_ok=True)
            (cwd / "Vagrantfile").write_text((ROOT / "Vagrantfile").read_text())
            env["VAGRANT_CWD"] = str(cwd)
        res = subprocess.run(["bash", str(plan / "01_vms" / "commands.sh")], env=env,
                             capture_output=True, text=True, timeout=60)
        assert res.returncode == 0, res.stderr
        calls = [json.loads(line) for line in log.read_text().splitlines()][seen:]
        assert calls and {c["env"]["VAGRANT_CWD"] for c in calls} == {str(cwd or plan)}, calls
        assert calls[0]["argv"][:2] == ["up", "--provider=virtualbox"]


def script_variables(text: str) -> set[str]:
    """Variables a script reads from its environment: every $NAME / ${NAME that the script
    does not assign itself (NAME=… or `for NAME in`)."""
    used = set(re.findall(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)", text))
    assigned = set(re.findall(r"(?:^|\s|export )([A-Za-z_][A-Za-z0-9_]*)=", text, re.M))
    assigned |= set(re.findall(r"\bfor ([A-Za-z_][A-Za-z0-9_]*) in", text))
    defaulted = set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*):-", text))   # NAME="${NAME:-…}"
    return (used - assigned - {"BASH_SOURCE"}) | defaulted


@pytest.mark.parametrize("target", ["vagrant", "cluster"])
def test_plan_md_names_every_variable_tool_and_how_to_verify(tmp_path, target):
    write_plan(tmp_path, target=target)
    index = (tmp_path / "plan.md").read_text()
    scripts = {f: f.read_text() for f in tmp_path.glob("*/commands.sh")}
    # single-quoted text runs elsewhere (in a pod: $MYSQL_ROOT_PASSWORD is the container's)
    outside = {f: re.sub(r"'[^'\n]*'", "''", re.sub(r"^\s*#.*$", "", t, flags=re.M))
               for f, t in scripts.items()}
    read = set().union(*(script_variables(t) for t in outside.values()))
    missing = sorted(v for v in read if f"`{v}`" not in index)
    assert not missing, f"plan.md does not document {missing}"
    if target == "vagrant":
        assert {"VAGRANT_CWD", "LAB_PROVIDER", "KUBECONFIG"} <= read
    assert "`KUBECONFIG`" in index      # kubectl and helm read it themselves on the cluster target
    called = {w for t in outside.values()
              for w in re.findall(r"(?:^|[|&;(]\s*|\$\(|\bdo\s+)([a-zA-Z][\w.-]*)", t, re.M)}
    for tool in called & set(TOOLS):
        assert f"`{tool}`" in index, f"plan.md does not name {tool}"
    assert {"kubectl", "curl", "helm"} <= called
    if target == "vagrant":
        assert "vagrant" in called and "kubeadm" in index and "provisioning" in index
        assert "`LAB_NODES`" in index and "`LAB_BOX`" in index     # the Vagrantfile's own
    for line in ("pytest features/ --lab-target=cluster", "-k <stage>"):
        assert line in index


def test_the_verify_line_of_a_vagrant_plan_names_a_cluster_config_the_harness_accepts(tmp_path):
    from cephlab.k8s import cluster_config

    write_plan(tmp_path)
    conf = cluster_config.load(tmp_path / "cluster.yaml")
    assert conf.names == ("k8s-1", "k8s-2", "k8s-3")
    assert "--lab-cluster-config=$PLAN/cluster.yaml" in (tmp_path / "plan.md").read_text()
