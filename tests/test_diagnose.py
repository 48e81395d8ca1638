"""cephlab.diagnose on JSON recorded from a real local lab (tests/data/diagnose: a healthy lab,
then `ceph osd out 1`, `ceph osd set noup` + `osd down 2`, `ceph osd set pause` + `osd add-noup 0`
+ `osd down 0`) and on documents derived from them (an OSD gone, a pool gone, auto-out)."""

from __future__ import annotations

import pytest

from cephlab import diagnose, invoke
from cephlab.diagnose import Cause, Daemon, Expected, Watch
from cephlab.errors import CannotHeal
from cephlab.model import BLOCK_POOL, FS_DATA, FS_METADATA

pytestmark = pytest.mark.unit

LAB = "/tmp/some lab"
OSDS = {0: "k8s-1", 1: "k8s-2", 2: "k8s-3"}
POOLS = (BLOCK_POOL, FS_METADATA, FS_DATA)


@pytest.fixture
def load(sample):
    return lambda name: sample(f"diagnose/{name}.json")


def _running(*dead: str) -> dict[str, Daemon]:
    names = [f"osd.{i}" for i in OSDS] + [f"mon.{n}" for n in OSDS.values()] + ["mgr.k8s-1"]
    return {n: Daemon(n not in dead, 1000 + i, f"/lab/log/{n}.out") for i, n in enumerate(names)}


def _expected(**kw) -> Expected:
    base = dict(osds=OSDS, pools=POOLS, daemons=_running(), lab_dir=LAB)
    base.update(kw)
    return Expected(**base)


def test_a_healthy_lab_has_no_cause(load):
    assert diagnose.causes(load("osd_dump_ok"), _expected(), load("health_ok"),
                           load("osd_tree_ok")) == []


def test_an_osd_out_by_hand_is_named_with_the_command_to_bring_it_in(load):
    found = diagnose.causes(load("osd_dump_osd1_out"), _expected(), load("health_osd1_out"),
                            load("osd_tree_ok"))
    assert [c.subject for c in found] == ["osd.1"]
    assert "osd.1 on k8s-2 is marked out" in found[0].text and "by hand" in found[0].text
    assert found[0].fix == invoke.ceph(LAB, "osd", "in", 1) and found[0].persist == 0


def test_an_osd_the_harness_holds_out_is_no_cause(load):
    assert diagnose.causes(load("osd_dump_osd1_out"), _expected(held_out=frozenset({1}))) == []


def test_noup_and_the_osd_it_holds_down(load):
    found = diagnose.causes(load("osd_dump_noup_osd2_down"), _expected(), load("health_noup_osd2_down"))
    flag, down = found
    assert flag.subject == "flag noup" and flag.fix == invoke.ceph(LAB, "osd", "unset", "noup") and flag.persist == 0
    assert "harness did not set it" in flag.text
    # its process runs: the OSD is held down, which may last a few seconds on purpose
    assert down.subject == "osd.2" and "down although its process (pid 1002) runs" in down.text
    assert down.persist == diagnose.DOWN_WHILE_RUNNING_GRACE
    assert down.fix == "tail -n 50 /lab/log/osd.2.out"


def test_a_flag_the_harness_set_itself_is_excluded_while_it_holds_it(load):
    found = diagnose.causes(load("osd_dump_noup_osd2_down"),
                            _expected(held_flags=frozenset({"noup"}), held_down=frozenset({2})))
    assert found == []


def test_pause_is_one_flag_and_a_per_osd_noup_is_named_with_rm_noup(load):
    found = diagnose.causes(load("osd_dump_pause_osd0_noup"), _expected(),
                            load("health_pause_osd0_noup"))
    subjects = [(c.subject, c.fix) for c in found]
    assert ("flag pause", invoke.ceph(LAB, "osd", "unset", "pause")) in subjects
    assert ("osd.0", invoke.ceph(LAB, "osd", "rm-noup", 0)) in subjects
    assert not any(s.startswith("flag pauserd") for s, _ in subjects)


def test_a_down_osd_whose_daemon_exited_names_repair(load):
    found = diagnose.causes(load("osd_dump_noup_osd2_down"), _expected(daemons=_running("osd.2")),
                            health=None)
    down = next(c for c in found if c.subject == "osd.2")
    assert "its daemon (pid 1002) exited" in down.text and down.persist == 0
    assert down.fix == f"{invoke.command()} repair --lab-dir '/tmp/some lab'"


def test_other_dead_daemons_are_named_with_repair(load):
    found = diagnose.causes(load("osd_dump_ok"), _expected(daemons=_running("mgr.k8s-1")))
    assert [c.subject for c in found] == ["daemon mgr.k8s-1"]
    assert found[0].fix.startswith(f"{invoke.command()} repair")


def test_an_osd_missing_from_the_map_and_a_pool_gone(load):
    dump = load("osd_dump_ok")
    dump["osds"] = [o for o in dump["osds"] if o["osd"] != 2]
    dump["pools"] = [p for p in dump["pools"] if p["pool_name"] != BLOCK_POOL]
    found = diagnose.causes(dump, _expected())
    assert [c.subject for c in found] == ["osd.2", f"pool {BLOCK_POOL}"]
    assert "missing from the OSD map" in found[0].text
    assert all(c.fix.startswith(f"{invoke.command()} destroy --lab-dir") for c in found)


def test_auto_out_and_a_new_osd_are_not_out_by_hand(load):
    dump = load("osd_dump_osd1_out")
    next(o for o in dump["osds"] if o["osd"] == 1)["state"] = ["exists", "up", "new"]
    assert diagnose.causes(dump, _expected()) == []
    next(o for o in dump["osds"] if o["osd"] == 1)["state"] = ["exists", "autoout"]
    next(o for o in dump["osds"] if o["osd"] == 1)["up"] = 0
    auto = [c for c in diagnose.causes(dump, _expected()) if "by Ceph" in c.text]
    assert auto and auto[0].persist > 0


def test_flags_are_read_from_health_when_the_dump_has_none(load):
    dump = load("osd_dump_ok")
    dump.pop("flags_set")
    dump["flags"] = ""
    found = diagnose.causes(dump, _expected(), load("health_noup_osd2_down"))
    assert [c.subject for c in found] == ["flag noup"]


# ------------------------------------------------------------------------ the wait's watch
class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def _watch(found, clock):
    return Watch(lambda: found, clock=clock)


def test_a_cause_that_cannot_heal_fails_on_the_first_look():
    clock, cause = Clock(), Cause("flag noup", "the cluster flag noup is set", "ceph osd unset noup")
    watch = _watch([cause], clock)
    with pytest.raises(CannotHeal) as err:
        watch.check()
    text = str(err.value)
    assert text.startswith("the cluster flag noup is set; next: ceph osd unset noup")
    assert err.value.causes == [cause]


def test_a_down_osd_fails_only_after_its_grace_and_an_old_look_is_forgotten():
    clock = Clock()
    down = Cause("osd.2", "osd.2 is down although its process runs", "tail", persist=10, key="d")
    watch = _watch([down], clock)
    for t in (0, 2, 4, 6, 8):
        clock.now = t
        watch.check()
    for t in (30, 34, 38):  # a later wait: the old observation is not inherited
        clock.now = t
        watch.check()
    clock.now = 40
    with pytest.raises(CannotHeal, match="osd.2 is down"):
        watch.check()


def test_a_cause_that_went_away_starts_over():
    clock, found = Clock(), []
    cause = Cause("osd.1", "osd.1 is marked out", "ceph osd in 1")
    watch = Watch(lambda: list(found), clock=clock, confirm=1.5)
    found.append(cause)
    watch.check()  # with a confirmation asked for, the first look only notes it
    clock.now = 1.0
    watch.check()  # too soon: not looked at
    found.clear()
    clock.now = 2
    watch.check()
    found.append(cause)
    clock.now = 4
    watch.check()  # seen again: a new first observation
    clock.now = 6
    with pytest.raises(CannotHeal):
        watch.check()


def test_a_look_that_fails_does_not_end_the_wait():
    def look():
        raise RuntimeError("mons do not answer")
    Watch(look).check()
