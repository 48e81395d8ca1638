"""The nightly workflow (GitHub Actions syntax), read as YAML: when it runs, what each job
runs, and that the kind job's loop devices, kind nodes and cluster config agree."""

from __future__ import annotations

import re
import shlex

import pytest
import yaml

from cephlab.k8s import cluster_config
from tests.conftest import ROOT

WORKFLOW = ROOT / ".github" / "workflows" / "nightly.yml"
EXAMPLE = ROOT / "examples" / "cluster-kind.yaml"
KIND_CONFIG = ROOT / "examples" / "kind-cephlab.yaml"


@pytest.fixture(scope="module")
def flow():
    return yaml.safe_load(WORKFLOW.read_text())


def _runs(job) -> str:
    return "\n".join(step.get("run", "") for step in job["steps"])


def _step(job, pattern):
    found = [s for s in job["steps"] if re.search(pattern, s.get("run", "") + s.get("uses", ""))]
    assert found, f"no step matches {pattern!r}"
    return found[0]


def test_triggers(flow):
    on = flow.get("on", flow.get(True))  # YAML 1.1 reads a bare `on` as true
    assert set(on) == {"schedule", "workflow_dispatch"}
    cron = on["schedule"][0]["cron"].split()
    assert len(cron) == 5 and cron[2:] == ["*", "*", "*"], "runs every night"
    assert flow["permissions"] == {"contents": "read"}


def test_both_jobs_exist_with_timeouts(flow):
    assert set(flow["jobs"]) == {"local", "kind"}
    for job in flow["jobs"].values():
        assert job["runs-on"].startswith("ubuntu-")
        assert 0 < job["timeout-minutes"] <= 360


def test_local_job_runs_the_readme_commands(flow):
    runs = _runs(flow["jobs"]["local"])
    assert re.search(r"\bmake test\b.*--junitxml=reports/", runs)
    assert re.search(r"\bmake lab\b", runs) and "--cucumberjson=reports/cucumber.json" in runs


def test_kind_job_attaches_the_configured_loop_devices_before_the_cluster(flow):
    job = flow["jobs"]["kind"]
    loops = _step(job, r"losetup /dev/loop")
    create = _step(job, r"kind create cluster")
    assert job["steps"].index(loops) < job["steps"].index(create)
    numbers = re.search(r"for n in ([\d ]+);", loops["run"]).group(1).split()
    attached = {f"loop{n}" for n in numbers}
    configured = {d for n in cluster_config.load(EXAMPLE).nodes for d in n.devices}
    assert attached == configured


def test_kind_cluster_has_the_configured_workers(flow):
    kind = yaml.safe_load(KIND_CONFIG.read_text())
    assert "--config examples/kind-cephlab.yaml" in _step(flow["jobs"]["kind"], "kind create cluster")["run"]
    roles = [n["role"] for n in kind["nodes"]]
    assert roles.count("worker") == 3 and roles.count("control-plane") == 1
    # kind names workers <name>-worker, <name>-worker2, …
    names = [f"{kind['name']}-worker{'' if i == 1 else i}" for i in range(1, 4)]
    assert list(cluster_config.load(EXAMPLE).names) == names


def test_kind_job_runs_the_cluster_target(flow):
    job = flow["jobs"]["kind"]
    argv = shlex.split(_step(job, r"pytest features/")["run"])
    assert "--lab-target=cluster" in argv
    assert argv[argv.index("--kubeconfig") + 1] == "$KUBECONFIG_FILE"
    assert "--kubeconfig" in _step(job, "kind create cluster")["run"]
    assert argv[argv.index("--lab-cluster-config") + 1] == "examples/cluster-kind.yaml"
    assert "--lab-allow-destructive=yes" in argv
    assert argv[argv.index("--kube-context") + 1] == f"kind-{yaml.safe_load(KIND_CONFIG.read_text())['name']}"
    assert any(a.startswith("--junitxml=reports/") for a in argv)
    assert any(a.startswith("--cucumberjson=reports/") for a in argv)


@pytest.mark.parametrize("job_name", ["local", "kind"])
def test_reports_are_uploaded_whatever_the_outcome(flow, job_name):
    job = flow["jobs"][job_name]
    upload = [s for s in job["steps"] if s.get("uses", "").startswith("actions/upload-artifact@")]
    assert len(upload) == 1
    assert upload[0]["if"] == "always()" and upload[0]["with"]["path"] == "reports/"
    assert job["steps"].index(upload[0]) >= len(job["steps"]) - 2


def test_kind_job_cleans_up(flow):
    last = flow["jobs"]["kind"]["steps"][-1]
    assert last["if"] == "always()"
    assert "kind delete cluster --name cephlab" in last["run"] and "losetup -d" in last["run"]
