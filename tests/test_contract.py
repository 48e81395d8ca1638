"""The target contract: every stage's Given/When/Then sequence (its feature, bound by
pytest-bdd, through the real plugin, lifecycle and steps) on each of the three targets.

- local: a real Ceph cluster on this machine (skipped when Ceph is not installed);
- vagrant, cluster: the targets' own engines against the stateful stand-ins of tests/standins
  (tests/contract_world.py: the Kubernetes API with Rook's operator, ``kubectl``/``curl``/
  ``helm`` over the same cluster, the toolbox's Ceph CLI answering from a model of the OSDs
  and pools the applied objects make, the ``vagrant`` stand-in with kubeadm's files on each
  VM). No Kubernetes and no VMs can run here, so that boundary is faked, nothing else.

Per (target, stage): a stage that does not run on the target must be skipped with the reason
the target table gives; a stage the stand-ins can serve must pass; the rest say why not.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
import yaml

from cephlab import stages
from cephlab.targets import why_not
from tests.conftest import ROOT, TEST_CEPH, ceph_unavailable, loopback_prefix, run_harness
from tests.contract_world import install_tools


#: The local target builds a real Ceph cluster: the second tier (marker lab, `make test-lab`).
TARGETS = (pytest.param("local", marks=pytest.mark.lab), "vagrant", "cluster")
#: Stages whose Then steps ask only what the stand-ins answer (the VMs, API objects, Ceph's CLI).
SERVED = ("vms", "kubernetes", "cni", "ceph_cluster", "block_pool",
          "shared_filesystem", "extend_storage", "toolbox", "pg_num", "remove_node")
NOT_SERVED = ("its Then steps talk to real servers (HTTPS, S3, MySQL, MinIO) or need running pods, "
              "which the stand-ins do not model")
#: Scenarios tagged @pods (pods that run and answer) are left out of every contract run for
#: the same reason; the nodes target runs them for real (tests/test_nodes_lab.py).
WORKERS = ["cephlab-worker", "cephlab-worker2", "cephlab-worker3"]
CLUSTER_CONFIG = {"nodes": [{"name": n, "devices": ["sdc", "sdd"], "address": f"172.18.0.{3 + i}"}
                            for i, n in enumerate(WORKERS)]}
PREFIX = loopback_prefix("contract-local")


def _selected(target: str) -> list[str]:
    return [s.slug for s in stages.STAGES if s.slug in SERVED or why_not(target, s)]


def _run(target: str, work: Path, marks: str | None = None, undo: str = "") -> dict[str, list[dict]]:
    report = work / "report.json"
    env = {"CONTRACT_REPORT": str(report), "CONTRACT_UNDO": undo}
    args = [f"--lab-target={target}", f"--lab-dir={work / 'lab'}", "--lab-destroy=always",
            "-p", "tests.contract_plugin",
            "-m", marks or f"({' or '.join(_selected(target))}) and not pods"]
    if target == "local":
        args.append(f"--lab-ip-prefix={PREFIX}")
    else:
        world = work / "world"
        world.mkdir()
        bin_dir = work / "bin"
        install_tools(bin_dir, ROOT, world)
        env.update(CONTRACT_WORLD=str(world), FAKE_VAGRANT_LOG=str(work / "vagrant.jsonl"),
                   PATH=f"{bin_dir}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}/usr/bin:/bin",
                   VAGRANT_DOTFILE_PATH="", VAGRANT_CWD="", KUBECONFIG="", LAB_PROVIDER="")
        args.append("--lab-timeout-scale=0.05")
        if target == "cluster":
            conf = work / "cluster.yaml"
            conf.write_text(yaml.safe_dump(CLUSTER_CONFIG))
            args += [f"--lab-cluster-config={conf}", f"--kubeconfig={work / 'kubeconfig'}",
                     "--lab-allow-destructive=yes"]
            (work / "kubeconfig").write_text("apiVersion: v1\nkind: Config\n")
    res = run_harness(*args, env=env, timeout=1500)
    assert report.exists(), f"the run wrote no report:\n{res.stdout[-3000:]}\n{res.stderr[-2000:]}"
    rows: dict[str, list[dict]] = {}
    for nodeid, row in json.loads(report.read_text()).items():
        rows.setdefault(row["stage"], []).append({"nodeid": nodeid, **row})
    return rows


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    cache: dict[str, dict] = {}

    def get(target: str) -> dict[str, list[dict]]:
        if target not in cache:
            if target == "local" and ceph_unavailable():
                pytest.skip(f"a real lab on ceph {TEST_CEPH}: {ceph_unavailable()}")
            if target == "vagrant":
                pytest.importorskip("vagrant", reason="pip install python-vagrant")
            cache[target] = _run(target, tmp_path_factory.mktemp(f"contract-{target}"))
        return cache[target]
    return get


@pytest.mark.parametrize("stage", stages.STAGES, ids=lambda s: s.slug)
@pytest.mark.parametrize("target", TARGETS)
def test_stage_contract(request, runs, target, stage):
    reason = why_not(target, stage)
    if not reason and stage.slug not in SERVED:
        pytest.skip(f"not in the contract run: {NOT_SERVED}")
    rows = runs(target).get(stage.slug)
    assert rows, f"no scenario of stage {stage.slug} ran on the {target} target"
    if reason:
        assert all(r["outcome"] == "skipped" and reason in r["text"] for r in rows), (
            f"stage {stage.slug} does not run on {target} ({reason}), yet: {rows}")
        return
    failed = [r for r in rows if r["outcome"] == "failed"]
    assert not failed, f"stage {stage.slug} on the {target} target:\n" + "\n".join(
        f"{r['nodeid']}:\n{r['text']}" for r in failed)
    assert any(r["outcome"] == "passed" for r in rows), f"no scenario of {stage.slug} passed: {rows}"


@pytest.mark.parametrize("target", ["vagrant", "cluster"])
def test_extend_storage_is_red_with_the_lifecycle_as_it_was_before_the_fix(tmp_path, target):
    """The fix: the lifecycle measures the raw capacity before extend_storage on every target
    (``Stage.records_before``). Undo it (the lifecycle records no fact, as when only the
    local target's own stage code did) and the same contract cell goes red on the
    Kubernetes targets, naming the missing fact."""
    if target == "vagrant":
        pytest.importorskip("vagrant", reason="pip install python-vagrant")
    rows = _run(target, tmp_path, marks="extend_storage", undo="lifecycle_facts")["extend_storage"]
    failed = [r for r in rows if r["outcome"] == "failed"]
    assert failed, f"extend_storage did not go red without the fix on {target}: {rows}"
    assert all("the raw capacity before extend_storage was not recorded" in r["text"] for r in failed)


def test_callers_of_the_contract_do_not_probe_targets():
    """Fixtures, steps, the plugin and the CLI call the contract; none asks a target whether
    it has an attribute (hasattr/getattr), which would hide a missing method as a skip."""
    import ast

    files = [*(ROOT / "fixtures").glob("*.py"), *(ROOT / "steps").glob("*.py"),
             *(ROOT / "cephlab" / "plugin").glob("*.py"), ROOT / "cephlab" / "__main__.py"]
    probes = []
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) in ("hasattr", "getattr"):
                probes.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert len(files) > 8 and not probes, probes


def test_the_kube_interface_creates_tokens_through_the_token_request_api(monkeypatch):
    """The dashboard step's token comes from the one Kube interface (TokenRequest), not from a
    kubectl command line of its own."""
    from unittest import mock

    from cephlab.k8s.kube import Kube

    core = mock.MagicMock()
    core.create_namespaced_service_account_token.return_value.status.token = "t0ken"
    monkeypatch.setattr("kubernetes.client.CoreV1Api", lambda api: core)
    kube = Kube("/kc", "ctx", api_client=object())
    assert kube.create_token("admin-user", "kubernetes-dashboard", seconds=600) == "t0ken"
    name, ns, request = core.create_namespaced_service_account_token.call_args.args
    assert (name, ns, request.spec.expiration_seconds) == ("admin-user", "kubernetes-dashboard", 600)
