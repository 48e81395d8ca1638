"""The stage list, the features and the lab model agree with each other."""

from __future__ import annotations

import re

import pytest

from cephlab import stages
from cephlab.local.target import LocalTarget
from cephlab.targets import why_not
from tests.conftest import ROOT

pytestmark = pytest.mark.standin

FEATURES = ROOT / "features"


@pytest.mark.parametrize("stage", stages.STAGES, ids=lambda s: s.slug)
def test_every_stage_has_its_feature(stage):
    text = (FEATURES / stage.feature_file).read_text()
    tags = text.splitlines()[0].split()
    assert f"@{stage.slug}" in tags
    assert ("@k8s" in tags) == stage.kubernetes
    assert re.search(rf"^Feature: {stage.key} {stage.slug} — ", text, re.M)
    scenarios = re.findall(r"^\s*Scenario: (.*)$", text, re.M)
    assert scenarios and all(s.startswith(f"{stage.slug} — ") for s in scenarios)
    assert f"Given the lab has what stage {stage.slug} needs" in text
    if stage.builds:
        assert f"When stage {stage.slug} is applied" in text


def test_no_feature_without_a_stage():
    files = {p.name for p in FEATURES.glob("*.feature")}
    assert files == {s.feature_file for s in stages.STAGES}


def test_closure_builds_only_what_is_needed():
    local = lambda s: not s.kubernetes  # noqa: E731
    assert [s.slug for s in stages.closure("extend_storage", local)] == ["ceph_cluster", "extend_storage"]
    assert [s.slug for s in stages.closure("remove_node", local)] == [
        "ceph_cluster", "block_pool", "shared_filesystem", "extend_storage", "remove_node"]
    assert [s.slug for s in stages.closure("ceph_cluster")][:6] == [
        "vms", "kubernetes", "cni", "master_isolation", "rook_operator", "ceph_cluster"][:6]
    with pytest.raises(KeyError, match="unknown stage 'nope'"):
        stages.closure("nope")


def test_requirements_are_applied_first_and_form_no_cycle():
    for stage in stages.STAGES:
        order = [s.slug for s in stages.closure(stage.slug)]
        assert order[-1] == stage.slug
        for st in stages.closure(stage.slug):
            for req in st.requires:
                assert order.index(req) < order.index(st.slug), (stage.slug, st.slug, req)
        for later in stage.invalidated_by:
            assert stages.get(later).order > stage.order


def test_faults_apply_mysql_before_themselves_though_mysql_comes_later():
    local = lambda s: not s.kubernetes  # noqa: E731
    order = [s.slug for s in stages.closure("faults", local)]
    assert order == ["ceph_cluster", "block_pool", "shared_filesystem", "object_store", "mysql", "faults"]


def test_model_layouts():
    assert stages.osd_layout([]) == {}
    assert stages.osd_layout(["ceph_cluster"]) == {"k8s-1": 1, "k8s-2": 1, "k8s-3": 1}
    assert stages.osd_layout(["ceph_cluster", "extend_storage"]) == {"k8s-1": 2, "k8s-2": 2, "k8s-3": 2}
    assert stages.osd_layout(["ceph_cluster", "extend_storage", "remove_node"]) == {"k8s-2": 2, "k8s-3": 2}


def test_local_target_skips_kubernetes_stages_with_a_reason():
    for stage in stages.STAGES:
        reason = why_not(LocalTarget, stage)
        if stage.kubernetes:
            assert reason and "needs Kubernetes" in reason
        elif stage.slug in LocalTarget.supported:
            # a stage that builds has its work here; one that only acts on others' has none
            assert (stages.work(stage, "local") is not None) == stage.builds, stage.slug


def test_every_step_of_every_feature_has_a_definition():
    """Kubernetes features are skipped here; their steps must still bind (pytest-bdd's own
    check of missing steps, over all features)."""
    import subprocess
    import sys

    res = subprocess.run([sys.executable, "-m", "pytest", "features/", "--generate-missing",
                          "--feature", "features/", "-q", "-p", "no:cacheprovider",
                          "--lab-target=local"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert "Please place the code above" in res.stdout, res.stdout[-2000:] + res.stderr[-2000:]
    assert "is not defined" not in res.stdout, res.stdout[-4000:]
