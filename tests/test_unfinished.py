"""Work a run started and did not finish (stopped by a signal, or failed in the middle) is
never recorded as applied, and the next run picks it up: a stage the target cannot take up
where it stopped rebuilds the lab, another is applied again, a fault is undone. The lifecycle
core with the fake target of tests/test_lifecycle.py; the real runs are in
tests/test_local_interrupt.py."""

from __future__ import annotations

import pytest

from cephlab.config import LabConfig
from cephlab.errors import LabError
from cephlab.lab import Lab
from cephlab.targets import OVERRIDES
from tests.test_lifecycle import FakeTarget

pytestmark = pytest.mark.unit


class Interrupted(KeyboardInterrupt):
    pass


class UnfinishedTarget(FakeTarget):
    rebuild_if_unfinished = frozenset({"ceph_cluster"})
    stop_in: str | None = None  #: a stage whose work is interrupted half way
    repaired: list[str] = []
    left_in_place: list[str] = []  #: what undo_faults finds of a fault and undoes

    def apply(self, stage):
        if stage.slug == self.stop_in:
            self.calls.append(f"half of {stage.slug}")
            raise Interrupted()
        super().apply(stage)

    def undo_faults(self):
        if self.left_in_place:  # recorded only when there is something to undo
            self.calls.append("undo_faults")
        undone, UnfinishedTarget.left_in_place = list(self.left_in_place), []
        return undone

    def repair(self):
        self.calls.append("repair")
        return list(self.repaired)

    def inject_fault(self, fault, **options):
        self.calls.append(f"fault {fault}")
        if self.stop_in == fault:
            raise Interrupted()
        return {"fault": fault}


@pytest.fixture
def new_lab(tmp_path, monkeypatch):
    monkeypatch.setitem(OVERRIDES, "local", UnfinishedTarget)
    monkeypatch.setattr(FakeTarget, "calls", [])
    monkeypatch.setattr(FakeTarget, "osds", 3)
    monkeypatch.setattr(UnfinishedTarget, "stop_in", None)
    said: list[str] = []

    def make():
        said.clear()
        return Lab(LabConfig(target="local", target_reason="test", lab_dir=tmp_path / "lab"),
                   announce=said.append)
    make.said = said
    return make


def test_a_stopped_stage_is_not_applied_and_the_next_run_applies_it_again(new_lab):
    lab = new_lab()
    lab.reach("ceph_cluster")
    UnfinishedTarget.stop_in = "block_pool"
    with pytest.raises(Interrupted):
        lab.reach("block_pool")
    assert not lab.state.applied("block_pool") and lab.state.unfinished["name"] == "block_pool"
    UnfinishedTarget.stop_in = None
    FakeTarget.calls.clear()
    lab = new_lab()  # the next run
    assert lab.reach("block_pool") == ["block_pool"]
    assert FakeTarget.calls == ["apply block_pool"]
    assert any("did not finish stage block_pool (not recorded as applied): it is applied again"
               in line for line in new_lab.said), new_lab.said
    assert lab.state.unfinished is None and lab.state.applied("block_pool")


def test_a_stopped_bootstrap_rebuilds_the_lab(new_lab):
    UnfinishedTarget.stop_in = "ceph_cluster"
    with pytest.raises(Interrupted):
        new_lab().reach("ceph_cluster")
    UnfinishedTarget.stop_in = None
    FakeTarget.calls.clear()
    lab = new_lab()
    assert lab.reach("ceph_cluster") == ["ceph_cluster"]
    assert FakeTarget.calls == ["destroy", "sanity_checks", "apply ceph_cluster"]
    assert any("cannot be picked up where it stopped: destroying and rebuilding" in line
               for line in new_lab.said), new_lab.said


def test_a_stopped_bootstrap_on_a_lab_the_harness_did_not_build_is_refused(new_lab, monkeypatch):
    UnfinishedTarget.stop_in = "ceph_cluster"
    with pytest.raises(Interrupted):
        new_lab().reach("ceph_cluster")
    UnfinishedTarget.stop_in = None
    monkeypatch.setattr(FakeTarget, "refuse_rebuild", "an existing cluster is not ours to wipe")
    FakeTarget.calls.clear()
    with pytest.raises(LabError, match="did not finish stage ceph_cluster.*not rebuilt: an existing"):
        new_lab().reach("ceph_cluster")
    assert FakeTarget.calls == []


def test_a_stopped_fault_is_undone_by_the_next_run(new_lab, monkeypatch):
    lab = new_lab()
    lab.reach("ceph_cluster")
    UnfinishedTarget.stop_in = "node_stopped"
    with pytest.raises(Interrupted):
        lab.inject_fault("node_stopped", node="k8s-3")
    assert lab.state.unfinished["kind"] == "fault"
    UnfinishedTarget.stop_in = None
    monkeypatch.setattr(UnfinishedTarget, "repaired", ["mon.k8s-3", "osd.2"])
    monkeypatch.setattr(UnfinishedTarget, "left_in_place", ["removed partition table inet x"])
    FakeTarget.calls.clear()
    lab = new_lab()
    assert lab.reach("ceph_cluster") == []
    # the fault's rules go before anything is started again (a partition would keep the
    # restarted daemons apart); the lifecycle's own pass then finds nothing left
    assert FakeTarget.calls == ["undo_faults", "repair"], FakeTarget.calls
    assert "kept lab: removed partition table inet x" in new_lab.said, new_lab.said
    assert any("did not finish fault node_stopped: undone, started again: mon.k8s-3, osd.2"
               in line for line in new_lab.said), new_lab.said
    assert lab.state.unfinished is None
    assert lab.inject_fault("mds_failover") == {"fault": "mds_failover"}
    assert lab.state.unfinished is None
