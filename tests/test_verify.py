"""Verify mode offline: every path that would change the lab is refused in one place (the
read-only target, state, Ceph runner and Kubernetes API of cephlab.verify), the lifecycle
applies nothing, progress-dependent expectations come from the lab model, and the grade
turns scenario results into stage rows."""

from __future__ import annotations


import pytest

from cephlab import model, stages, verify
from cephlab.ceph import CephRunner, CommandResult
from cephlab.config import LabConfig
from cephlab.lab import Lab
from cephlab.report.record import Phase, Row
from cephlab.state import LabState
from cephlab.targets import OVERRIDES, Target
from cephlab.verify.readonly import CLASS_LEVEL
from tests.test_lifecycle import FakeTarget

pytestmark = pytest.mark.standin


class RecordingCeph(CephRunner):
    def __init__(self):
        self.ran: list[list[str]] = []

    def command(self, argv):
        return list(argv)

    def run(self, *args, tool="ceph", **kw):
        self.ran.append([tool, *args])
        return CommandResult([tool, *args], 0, "{}", "")


class Recording(FakeTarget):
    """Every contract method logs its call; the read-only target must stop the mutating ones."""

    def __init__(self, cfg, state):
        super().__init__(cfg, state)
        self.runner = RecordingCeph()

    @property
    def ceph(self):
        return self.runner

    def resume(self):
        self.calls.append("resume")
        return []

    def repair(self):
        self.calls.append("repair")
        return []

    def restart(self, service):
        self.calls.append(f"restart {service}")

    def inject_fault(self, fault, **options):
        self.calls.append(f"inject {fault}")

    def cephfs_root(self, name):
        self.calls.append(f"mount {name}")
        return None, "x"


def _public_methods(cls) -> set[str]:
    return {n for n, v in vars(cls).items() if not n.startswith("_")
            and (callable(v) or isinstance(v, (property, classmethod)))}


@pytest.fixture
def vlab(tmp_path, monkeypatch):
    monkeypatch.setitem(OVERRIDES, "local", Recording)
    monkeypatch.setattr(FakeTarget, "calls", [])
    said = []
    cfg = LabConfig(target="local", target_reason="test", lab_dir=tmp_path / "lab", mode="verify",
                    reached="pg_num")
    the_lab = Lab(cfg, announce=said.append)
    the_lab.said = said
    return the_lab


def test_every_method_of_the_target_contract_is_classified():
    """A new contract method must be sorted into reading or mutating (and wrapped)."""
    contract = _public_methods(Target)
    assert contract == verify.MUTATING | verify.READING, (
        f"unclassified: {sorted(contract - verify.MUTATING - verify.READING)}; "
        f"stale: {sorted((verify.MUTATING | verify.READING) - contract)}")
    assert not verify.MUTATING & verify.READING
    wrapped = _public_methods(verify.ReadOnlyTarget)
    missing = (contract - CLASS_LEVEL) - wrapped
    assert not missing, f"the read-only target does not wrap {sorted(missing)}"


@pytest.mark.parametrize("method", sorted(verify.MUTATING))
def test_every_mutating_target_method_is_refused_before_it_reaches_the_target(vlab, method):
    args = {"apply": (stages.get("block_pool"),), "restart": ("mysql",),
            "inject_fault": ("node_stopped",), "cephfs_root": ("a",)}.get(method, ())
    call = getattr(vlab.target, method)
    if method == "cephfs_root":  # the contract answers (None, why) rather than raising
        root, why = call(*args)
        assert root is None and "verify mode" in why
    else:
        with pytest.raises(verify.VerifyRefused, match="verify mode"):
            call(*args)
    assert FakeTarget.calls == [], f"{method} reached the real target: {FakeTarget.calls}"


def test_every_plainly_read_method_reaches_the_wrapped_target_with_its_arguments(tmp_path):
    """The forwards come from READING, not from hand-written methods: each passes its
    arguments through and returns what the wrapped target answered."""
    seen = []

    class Answering(Recording):
        pass

    plain = sorted(verify.ReadOnlyTarget.forwarded)
    for name in plain:
        setattr(Answering, name, lambda self, *a, _n=name, **kw: seen.append((_n, a, kw)) or f"{_n}!")
    cfg = LabConfig(target="local", target_reason="test", lab_dir=tmp_path, mode="verify")
    wrapped = verify.ReadOnlyTarget(Answering(cfg, LabState(tmp_path, {})))  # type: ignore[abstract]
    assert {"broken", "endpoint", "crush_host", "diagnostics"} <= set(plain), plain
    for name in plain:
        assert getattr(wrapped, name)("k8s-2", extra=1) == f"{name}!", name
    assert seen == [(n, ("k8s-2",), {"extra": 1}) for n in plain]
    with pytest.raises(verify.VerifyRefused, match=r"does not restart mysql \(the local target\)"):
        wrapped.restart("mysql")


def test_the_lifecycle_applies_rebuilds_and_destroys_nothing(vlab, tmp_path):
    (tmp_path / "lab").mkdir()
    assert vlab.reach("pg_num") == [] and vlab.prepare("block_pool") == []
    assert not any(c.startswith(("apply", "destroy", "resume")) for c in FakeTarget.calls), FakeTarget.calls
    assert "reached stage pg_num (given with --lab-reached)" in vlab.said[0]
    with pytest.raises(verify.NotReached, match="remove_node is not reached"):
        vlab.reach("remove_node")
    with pytest.raises(verify.VerifyRefused):
        vlab.reach("faults")   # it kills daemons: never run in verify mode
    vlab.state.doc["created_by"] = "cephlab"
    (tmp_path / "lab" / "state.json").write_text("{}")
    with pytest.raises(verify.VerifyRefused):
        vlab.destroy()
    assert FakeTarget.calls == [], FakeTarget.calls


def test_the_state_is_never_written(vlab, tmp_path):
    vlab.reached()
    for call in (lambda: vlab.state.save(), lambda: vlab.state.mark_applied("toolbox", 1.0),
                 lambda: vlab.state.put("raw_bytes_before_extend", 1)):
        with pytest.raises(verify.VerifyRefused):
            call()
    assert not (tmp_path / "lab" / "state.json").exists()


@pytest.mark.parametrize("reached, osds, pools", [
    ("ceph_cluster", 3, []),
    ("block_pool", 3, [model.BLOCK_POOL]),
    ("extend_storage", 6, [model.BLOCK_POOL, model.FS_METADATA, model.FS_DATA]),
    ("pg_num", 6, [model.BLOCK_POOL, model.FS_METADATA, model.FS_DATA]),
    ("remove_node", 4, [model.BLOCK_POOL, model.FS_METADATA, model.FS_DATA]),
])
def test_expectations_follow_the_reached_stage_from_the_lab_model(reached, osds, pools):
    done = verify.reached_stages(reached, lambda st: not st.kubernetes)
    assert sum(stages.osd_layout(done).values()) == osds
    assert stages.lab_pools(done) == pools
    assert "faults" not in done and done[-1] == reached


@pytest.mark.parametrize("tool, args, allowed", [
    ("ceph", ["status"], True), ("ceph", ["health", "detail"], True), ("ceph", ["health"], True),
    ("ceph", ["health", "mute", "X"], False), ("ceph", ["osd", "pool", "ls", "detail"], True),
    ("ceph", ["osd", "pool", "set", "replicapool", "size", "3"], False),
    ("ceph", ["osd", "out", "1"], False), ("ceph", ["fs", "set", "k8s-fs", "allow_standby_replay", "false"], False),
    ("ceph", ["config", "set", "mon", "x", "y"], False), ("ceph", ["config", "dump"], True),
    ("rbd", ["create", "replicapool/cephlab-verify-scratch-1a", "--size", "64M"], True),
    ("rbd", ["create", "replicapool/mysql-pvc", "--size", "64M"], False),
    ("rbd", ["rm", "replicapool/mysql-pvc"], False), ("rbd", ["export", "replicapool/mysql-pvc", "-"], True),
    ("rados", ["-p", "replicapool", "put", "cephlab-verify-scratch-0", "-"], True),
    ("rados", ["-p", "replicapool", "put", "before-remove_node-0", "-"], False),
    ("rados", ["-p", "replicapool", "get", "before-remove_node-0", "-"], True),
    ("radosgw-admin", ["user", "create", "--uid", "x"], False),
])
def test_the_ceph_runner_allows_reads_and_scratch_writes_only(tool, args, allowed):
    inner = RecordingCeph()
    guarded = verify.GuardedCeph(inner)
    if allowed:
        guarded.run(*args, tool=tool)
        assert inner.ran == [[tool, *args]]
    else:
        with pytest.raises(verify.VerifyRefused, match="would change the lab"):
            guarded.run(*args, tool=tool)


def test_readonly_refuses_scratch_writes_too():
    guarded = verify.GuardedCeph(RecordingCeph(), readonly=True)
    with pytest.raises(verify.VerifyRefused, match="lab-verify-readonly"):
        guarded.run("create", "replicapool/cephlab-verify-scratch-1a", "--size", "64M", tool="rbd")
    guarded.run("status")  # reads still go


def test_the_kubernetes_api_refuses_writes():
    class Inner:
        kubeconfig, context = "/k", "c"
        calls = []

        def __getattr__(self, name):
            def call(*a, **k):
                self.calls.append(name)
                return []
            return call

    inner = Inner()
    kube = verify.ReadOnlyKube(inner)
    pod = {"kind": "Pod", "metadata": {"name": "p"}}
    for write in (kube.apply, kube.create_if_absent, kube.delete):
        with pytest.raises(verify.VerifyRefused):
            write(pod)
    with pytest.raises(verify.VerifyRefused):
        kube.merge_patch(pod, {})
    with pytest.raises(verify.VerifyRefused):
        kube.exec("p", "ns", ["rm", "-rf", "/x"])
    kube.get_json("Pod")
    kube.exec("cephfs-helper", "ns", ["ls", "-R", "/mnt"])
    assert inner.calls == ["get_json", "exec"]


def _tree(hosts: dict[str, list[int]]) -> dict:
    nodes, hid = [], -2
    for host, ids in hosts.items():
        nodes.append({"id": hid, "name": host, "type": "host", "children": ids})
        hid -= 1
    nodes += [{"id": i, "name": f"osd.{i}", "type": "osd"} for ids in hosts.values() for i in ids]
    return {"nodes": nodes}


def _dump(states: dict[int, tuple[int, int]]) -> dict:
    return {"osds": [{"osd": i, "up": u, "in": n} for i, (u, n) in states.items()]}


AFTER_REMOVE = verify.reached_stages("remove_node", lambda st: not st.kubernetes)
HOSTS = {"k8s-1": [], "k8s-2": [1, 4], "k8s-3": [2, 5]}


def test_each_osd_stage_judges_its_own_part_of_the_layout():
    ok = _dump({1: (1, 1), 4: (1, 1), 2: (1, 1), 5: (1, 1)})
    for slug in ("ceph_cluster", "extend_storage", "remove_node"):
        verify.assert_osds_for(slug, AFTER_REMOVE, ok, _tree(HOSTS), str)
    out = _dump({1: (1, 0), 4: (1, 1), 2: (1, 1), 5: (1, 1)})      # one OSD out
    with pytest.raises(AssertionError, match="osd.1 is up and out"):
        verify.assert_osds_for("ceph_cluster", AFTER_REMOVE, out, _tree(HOSTS), str)
    verify.assert_osds_for("extend_storage", AFTER_REMOVE, out, _tree(HOSTS), str)
    verify.assert_osds_for("remove_node", AFTER_REMOVE, out, _tree(HOSTS), str)
    no_sdd = {"k8s-1": [], "k8s-2": [1, 4], "k8s-3": [2]}          # sdd missing on k8s-3
    dump = _dump({1: (1, 1), 4: (1, 1), 2: (1, 1)})
    with pytest.raises(AssertionError, match="host k8s-3 holds 1 OSD"):
        verify.assert_osds_for("extend_storage", AFTER_REMOVE, dump, _tree(no_sdd), str)
    verify.assert_osds_for("ceph_cluster", AFTER_REMOVE, dump, _tree(no_sdd), str)
    verify.assert_osds_for("remove_node", AFTER_REMOVE, dump, _tree(no_sdd), str)
    kept = {"k8s-1": [0], "k8s-2": [1, 4], "k8s-3": [2, 5]}
    with pytest.raises(AssertionError, match="host k8s-1 still holds osd.0"):
        verify.assert_osds_for("remove_node", AFTER_REMOVE, _dump({0: (1, 1)}), _tree(kept), str)


POOLS = [{"pool_id": 1, "pool_name": ".mgr"}, {"pool_id": 2, "pool_name": model.BLOCK_POOL},
         {"pool_id": 3, "pool_name": model.FS_METADATA}, {"pool_id": 4, "pool_name": model.FS_DATA}]


def test_pg_health_counts_for_the_stage_that_makes_the_pool():
    pgs = {"pg_stats": [{"pgid": "2.1", "state": "active+undersized+degraded"},
                        {"pgid": "4.0", "state": "active+clean"}, {"pgid": "1.0", "state": "active+clean"}]}
    health = {"status": "HEALTH_WARN", "checks": {"PG_DEGRADED": {"summary": {"message": "1 pg undersized"}}}}
    with pytest.raises(AssertionError, match="pool replicapool: 1 PGs not active\\+clean"):
        verify.assert_stage_health("block_pool", health, pgs, POOLS)
    for slug in ("ceph_cluster", "shared_filesystem", "extend_storage", "remove_node"):
        verify.assert_stage_health(slug, health, pgs, POOLS)
    down = {"status": "HEALTH_WARN", "checks": {"OSD_DOWN": {"summary": {"message": "1 osds down"}}}}
    with pytest.raises(AssertionError, match="OSD_DOWN"):
        verify.assert_stage_health("shared_filesystem", down, {"pg_stats": []}, POOLS)


def _row(slug: str, call: str, message: str = "", setup: str = "passed") -> Row:
    row = Row(f"id-{slug}-{call}", stages.get(slug), f"{slug} — x", "f:1")
    row.started = 1.0
    row.phases["setup"] = Phase(setup, 0.1, message if setup != "passed" else "")
    if setup == "passed":
        row.phases["call"] = Phase(call, 0.1, message)
    row.phases["teardown"] = Phase("passed", 0.1)
    return row


def test_the_grade_has_one_row_per_stage_with_found_expected_and_the_lab_step():
    rows = [_row("ceph_cluster", "passed"),
            _row("block_pool", "failed", "pool replicapool: size 3, expected 2"),
            _row("shared_filesystem", "passed"), _row("shared_filesystem", "skipped",
                                                       "cannot check here: verify mode starts no CephFS client"),
            _row("remove_node", "x", "stage remove_node is not reached: the lab reached pg_num", setup="skipped"),
            _row("faults", "x", "cannot check here: stage faults kills the lab's daemons", setup="skipped")]
    reached = verify.reached_stages("pg_num", lambda st: not st.kubernetes)
    grades = {g.stage.slug: g for g in verify.grade(rows, reached, {"ceph_cluster": ["a note"]})}
    assert [g for g in grades] == ["ceph_cluster", "block_pool", "shared_filesystem", "faults", "remove_node"]
    assert grades["ceph_cluster"].grade == "holds" and grades["ceph_cluster"].notes == ["a note"]
    bad = grades["block_pool"]
    assert (bad.grade, bad.found, bad.expected) == ("does not hold", "pool replicapool: size 3", "2")
    assert "replicated.size: 2" in bad.lab_step
    assert grades["shared_filesystem"].grade == "holds"
    assert "not checked" in grades["shared_filesystem"].notes[0]
    assert grades["remove_node"].grade == "not reached"
    assert grades["faults"].grade == "cannot check here"
    lines = verify.grade_lines(list(grades.values()))
    assert any("lab step: CephBlockPool replicapool" in ln for ln in lines)


def test_a_lab_step_hint_for_every_stage():
    assert set(verify.LAB_STEPS) == {s.slug for s in stages.STAGES}


def test_options_are_checked_before_any_work(tmp_path, harness_in_process):
    for args, said in ((["--lab-mode=check"], "unknown --lab-mode 'check'"),
                       (["--lab-mode=verify", "--lab-reached=stage99"], "unknown stage 'stage99'"),
                       (["--lab-reached=toolbox"], "are for --lab-mode=verify")):
        res = harness_in_process("--lab-target=local", f"--lab-dir={tmp_path / 'lab'}", *args)
        assert res.returncode == 4 and said in res.stderr, res.stderr[-2000:]
        assert not (tmp_path / "lab").exists()


def test_the_machines_are_read_never_brought_up_or_destroyed():
    class Vagrant:
        calls: list = []

        def status(self):
            self.calls.append("status")
            return {"k8s-1": "running"}

        def ssh(self, node, command):
            self.calls.append(f"ssh {command}")
            return ""

        def up(self, *a, **k):
            self.calls.append("up")

        def destroy(self, *a, **k):
            self.calls.append("destroy")

    inner = Vagrant()
    vms = verify.ReadOnlyMachines(inner)
    vms.status()
    vms.ssh("k8s-1", "lsblk -J -o NAME,TYPE,FSTYPE,PTTYPE /dev/sdc || true")
    for call in (vms.up, vms.destroy, lambda: vms.ssh("k8s-1", "sudo wipefs -a /dev/sdc")):
        with pytest.raises(verify.VerifyRefused):
            call()
    assert inner.calls == ["status", "ssh lsblk -J -o NAME,TYPE,FSTYPE,PTTYPE /dev/sdc || true"]


def test_the_toolbox_is_graded_on_the_cli_agreeing_with_itself():
    dump = _dump({1: (1, 0), 4: (1, 1), 2: (1, 1), 5: (1, 1)})
    status = {"monmap": {"num_mons": 3},
              "osdmap": {"num_osds": 4, "num_up_osds": 4, "num_in_osds": 3}}
    verify.assert_status_agrees(status, dump, 3)          # one OSD out: ceph_cluster's to grade
    status["osdmap"]["num_in_osds"] = 4
    with pytest.raises(AssertionError, match="OSDs in: 4, expected 3"):
        verify.assert_status_agrees(status, dump, 3)


def test_a_verify_wait_is_capped_and_its_fail_fast_waits_for_the_lab_to_settle(monkeypatch):
    """A lagging answer (ceph df after a recovery) gets SETTLE seconds before a known mistake
    of the lab (an OSD out by hand) may end the wait; build mode fails fast at once."""
    from types import SimpleNamespace

    from cephlab import judge as J
    from cephlab.config import Timeouts

    fired = []
    now = [0.0]
    monkeypatch.setattr("cephlab.waits.time.monotonic", lambda: now[0])
    lab = SimpleNamespace(cfg=SimpleNamespace(timeouts=Timeouts()),
                          target=SimpleNamespace(fail_fast=lambda: fired.append(now[0])))
    timeout, fail_fast = J.VerifyJudge(lab).wait(600)
    assert timeout == verify.WAIT_CAP
    for t in (0.0, verify.SETTLE - 0.1, verify.SETTLE):
        now[0] = t
        fail_fast()
    assert fired == [verify.SETTLE]
    assert J.BuildJudge(lab).wait(600) == (600, lab.target.fail_fast)
