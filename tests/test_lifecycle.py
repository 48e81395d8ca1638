"""The lifecycle core (cephlab.lab) with a fake target: reach and prepare apply only what is
needed, once; facts a stage's Then steps need are measured before it on any target; a lab
whose asserted stage was invalidated is destroyed and rebuilt only when the harness built it,
only for that stage's own invalidators, and a refusal names the stage."""

from __future__ import annotations

import shutil

import pytest

from cephlab import stages
from cephlab.ceph import CephRunner, CommandResult
from cephlab.config import LabConfig
from cephlab.errors import LabError
from cephlab.lab import Lab
from cephlab.targets import OVERRIDES, Target

pytestmark = pytest.mark.unit


class FakeCeph(CephRunner):
    def __init__(self, target):
        self.target = target

    def run(self, *args, tool="ceph", check=True, **kw):
        assert tool == "ceph" and list(args) == ["df", "--format", "json"], args
        osds = self.target.osds
        return CommandResult(["ceph", *args], 0, '{"stats": {"total_bytes": %d}}' % (osds * 100), "")


class FakeTarget(Target):
    """Builds nothing; logs apply and destroy calls in ``calls`` (shared by every instance)."""

    name = "local"
    supported = frozenset(s.slug for s in stages.STAGES if not s.kubernetes)
    calls: list[str] = []
    refuse_rebuild: str | None = None
    osds = 3   #: what `ceph df` counts

    def sanity_checks(self): self.calls.append("sanity_checks")
    @property
    def ceph(self): return FakeCeph(self)
    def apply(self, stage):
        self.calls.append(f"apply {stage.slug}")
        if stage.slug == "extend_storage":  # the fact was measured before the work started
            assert self.state.get("raw_bytes_before_extend") == 300
            type(self).osds = 6
    def resume(self): return []
    def broken(self): return []
    def repair(self): return []
    def status(self): return []
    def fail_fast(self): pass
    def diagnostics(self): return ""
    def describe(self): return "fake"
    def rebuild_refusal(self): return self.refuse_rebuild
    def destroy(self):
        self.calls.append("destroy")
        shutil.rmtree(self.cfg.lab_dir)
        return []


@pytest.fixture
def lab(tmp_path, monkeypatch):
    monkeypatch.setitem(OVERRIDES, "local", FakeTarget)
    monkeypatch.setattr(FakeTarget, "calls", [])
    monkeypatch.setattr(FakeTarget, "osds", 3)
    return Lab(LabConfig(target="local", target_reason="test", lab_dir=tmp_path / "lab"),
               announce=lambda text: None)


def test_reach_applies_the_closure_once_and_prepare_stops_short(lab):
    assert lab.prepare("extend_storage") == ["ceph_cluster"]
    assert lab.reach("extend_storage") == ["extend_storage"]
    assert lab.reach("extend_storage") == [] and lab.prepare("extend_storage") == []
    assert FakeTarget.calls == ["apply ceph_cluster", "apply extend_storage"]
    assert lab.state.get("raw_bytes_before_extend") == 300   # measured before, by the lifecycle


def test_kubernetes_stages_are_not_reached_on_a_target_without_them(lab):
    with pytest.raises(LabError, match="cannot reach stage minio: stage minio needs Kubernetes"):
        lab.reach("minio")
    assert lab.reach("mysql") == ["ceph_cluster", "block_pool", "mysql"]


def test_an_invalidated_stage_rebuilds_the_lab_it_built(lab):
    lab.reach("remove_node")
    FakeTarget.calls.clear()
    assert lab.reach("ceph_cluster") == ["ceph_cluster"]
    assert FakeTarget.calls == ["destroy", "sanity_checks", "apply ceph_cluster"]
    assert lab.state.applied_slugs() == ["ceph_cluster"]


def test_only_the_asserted_stages_invalidators_count(lab):
    lab.reach("extend_storage")
    FakeTarget.calls.clear()
    # toolbox requires ceph_cluster, which extend_storage invalidates: the requirement still
    # has its effect, so nothing is rebuilt
    assert lab.reach("toolbox") == ["toolbox"]
    assert lab.prepare("pg_num") == ["block_pool", "shared_filesystem"]
    assert "destroy" not in FakeTarget.calls
    # extend_storage itself holds after toolbox; only remove_node invalidates it
    assert lab.reach("extend_storage") == [] and "destroy" not in FakeTarget.calls


def test_a_lab_the_target_may_not_rebuild_is_refused_naming_the_stage(lab, monkeypatch):
    lab.reach("extend_storage")
    monkeypatch.setattr(FakeTarget, "refuse_rebuild", "an existing cluster is not ours to wipe")
    FakeTarget.calls.clear()
    with pytest.raises(LabError, match=r"stage ceph_cluster no longer holds on this lab \(after "
                                       r"extend_storage\), and the lab is not rebuilt: an existing"):
        lab.prepare("ceph_cluster")
    assert FakeTarget.calls == [] and lab.state.applied("extend_storage")


def test_a_lab_the_harness_did_not_build_is_never_destroyed(lab, monkeypatch):
    lab.reach("extend_storage")
    monkeypatch.setattr(type(lab.state), "built_by_harness", property(lambda self: False))
    FakeTarget.calls.clear()
    with pytest.raises(LabError, match="stage ceph_cluster no longer holds on this lab .*"
                                       "the harness did not build this lab"):
        lab.reach("ceph_cluster")
    assert FakeTarget.calls == []


def test_a_retried_stage_keeps_the_first_measurement(lab, monkeypatch):
    lab.reach("ceph_cluster")
    apply = FakeTarget.apply

    def fail_halfway(self, stage):
        type(self).osds = 5          # two of three new OSDs made it before the failure
        raise LabError("the disk went away")
    monkeypatch.setattr(FakeTarget, "apply", fail_halfway)
    with pytest.raises(LabError):
        lab.reach("extend_storage")
    assert not lab.state.applied("extend_storage")
    monkeypatch.setattr(FakeTarget, "apply", apply)
    assert lab.reach("extend_storage") == ["extend_storage"]   # asserts 300 was kept
    assert lab.state.get("raw_bytes_before_extend") == 300
