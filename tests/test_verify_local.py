"""Verify mode on a real local lab: the harness builds the lab once (through mysql, in the
lab's order), then it is changed by hand the way a learner gets it wrong, one mistake at a
time (each undone before the next, the irreversible one last). Every verify run must name
the mistake on the right stage, pass every other stage that held before, and leave the
cluster as it found it: osd dump, pool list, fs dump, config dump and state.json identical
in content before and after (epochs and timestamps aside), no scratch data left.
"""

from __future__ import annotations

import json
import os
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pymysql
import pytest

from cephlab import model, procs, verify
from cephlab.lab import Lab
from tests.conftest import (TEST_CEPH, ceph_unavailable, destroyed_at_end, loopback_prefix,
                            run_harness)

PREFIX = loopback_prefix("verify-local")
PREFIX_BEFORE_PG_NUM = loopback_prefix("verify-before-pg-num")  #: the second lab, stopped before pg_num
BUILT = " or ".join(("ceph_cluster", "ceph_dashboard", "block_pool", "shared_filesystem",
                     "object_store", "extend_storage", "toolbox", "pg_num", "remove_node", "mysql"))
SCALE = os.environ.get("LAB_TIMEOUT_SCALE", "2")
#: What Ceph itself writes when the dashboard check logs in (docs/stages.md, verify mode):
#: Ceph 20's dashboard keeps the session's token in this module option. Left out of the
#: snapshot (its value is a secret as well); every other option must stay as it was.
LOGIN_WRITES = {"mgr/dashboard/MULTICLUSTER_CONFIG"}

pytestmark = [pytest.mark.lab, pytest.mark.skipif(
    bool(ceph_unavailable()) or os.geteuid() != 0,
    reason=f"needs ceph {TEST_CEPH} and root (MySQL on RBD): {ceph_unavailable() or 'not root'}")]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    lab_dir = tmp_path_factory.mktemp("verify") / "lab"
    with destroyed_at_end(lab_dir):
        res = run_harness("--lab-target=local", f"--lab-dir={lab_dir}", f"--lab-ip-prefix={PREFIX}",
                          "--lab-destroy=never", "-m", BUILT, "-k", "not browser",
                          env={"LAB_TIMEOUT_SCALE": SCALE}, timeout=1800)
        assert res.returncode == 0, res.stdout[-4000:]
        yield lab_dir


def _lab(lab_dir: Path) -> Lab:
    """The lab in build mode, for the test's own hands (the learner's mistakes)."""
    return Lab.open(lab_dir, announce=lambda s: None)


def _wait_clean(lab: Lab, timeout: float = 600) -> None:
    deadline, seen = time.monotonic() + timeout, ""
    while time.monotonic() < deadline:
        status = lab.ceph.json("status")
        states = {s["state_name"]: s["count"] for s in status["pgmap"].get("pgs_by_state", [])}
        seen = str(states)
        if set(states) == {"active+clean"}:
            return
        time.sleep(2)
    raise AssertionError(f"PGs not all active+clean after {timeout}s: {seen}")


def snapshot(lab_dir: Path) -> dict:
    """What must not change: the meaningful content (epochs, timestamps and usage aside)."""
    lab = _lab(lab_dir)
    ceph = lab.ceph
    dump = ceph.json("osd", "dump")
    pool_keys = ("pool_name", "size", "min_size", "pg_num", "pg_placement_num", "crush_rule",
                 "application_metadata", "pg_autoscale_mode")
    fs = ceph.json("fs", "dump")
    dbs = None
    if "mysql" in lab.state.applied_slugs():
        secrets = lab.target.credentials("mysql")
        with pymysql.connect(host=lab.cfg.loopback_ip(model.SERVICE_NODE), port=model.PORTS["mysql"],
                             user=secrets["user"], password=secrets["password"]) as conn, \
                conn.cursor() as cur:
            cur.execute("SHOW DATABASES")
            dbs = sorted(r[0] for r in cur.fetchall())
    return {
        "osd dump": {"osds": [{k: o[k] for k in ("osd", "up", "in", "weight")} for o in dump["osds"]],
                     "pools": [{k: p.get(k) for k in pool_keys} for p in dump["pools"]],
                     "flags": dump.get("flags")},
        "pool list": [{k: p.get(k) for k in pool_keys} for p in ceph.json("osd", "pool", "ls", "detail")],
        "fs dump": [{"name": f["mdsmap"]["fs_name"], "flags": f["mdsmap"]["flags"],
                     "max_mds": f["mdsmap"]["max_mds"], "data_pools": f["mdsmap"]["data_pools"],
                     "metadata_pool": f["mdsmap"]["metadata_pool"],
                     "mds": sorted((i["name"], i["state"]) for i in f["mdsmap"]["info"].values())}
                    for f in fs["filesystems"]],
        "config dump": sorted(json.dumps(c, sort_keys=True) for c in ceph.json("config", "dump")
                              if c["name"] not in LOGIN_WRITES),
        "state.json": (lab_dir / "state.json").read_text(),
        "rbd images": sorted(ceph.json("ls", model.BLOCK_POOL, tool="rbd")),
        "rados objects": sorted(ceph.run("-p", model.BLOCK_POOL, "ls", tool="rados").stdout.split()),
        "databases": dbs,
    }


def grade_of(lab_dir: Path, tmp_path: Path, *extra: str) -> tuple[dict[str, str], dict[str, str], str]:
    """Run verify mode; (stage -> grade, stage -> junit text, terminal output)."""
    junit = tmp_path / f"junit-{time.monotonic_ns()}.xml"
    report = junit.with_suffix(".html")
    res = run_harness("--lab-target=local", "--lab-mode=verify", f"--lab-dir={lab_dir}",
                      "-k", "not browser", f"--junitxml={junit}", f"--lab-report={report}", *extra,
                      env={"LAB_TIMEOUT_SCALE": SCALE}, timeout=900)
    assert "lab grade (verify mode: nothing was changed)" in res.stdout, res.stdout[-4000:] + res.stderr[-2000:]
    assert "Lab grade (verify mode" in report.read_text()
    texts: dict[str, list[str]] = {}
    for prop in ET.parse(junit).iter("property"):
        if prop.get("name") == "lab grade":
            stage, _, rest = prop.get("value").partition(": ")
            texts.setdefault(stage.split()[1], []).append(rest)
    grades = {}
    for slug, values in texts.items():
        kinds = [v.split(":")[0] for v in values]
        grades[slug] = ("does not hold" if "does not hold" in kinds else
                        "holds" if "holds" in kinds else kinds[0])
    return grades, {k: " | ".join(v) for k, v in texts.items()}, res.stdout


def check_named(lab_dir: Path, tmp_path: Path, baseline: dict, stage: str, words: str) -> str:
    before = snapshot(lab_dir)
    grades, texts, out = grade_of(lab_dir, tmp_path)
    after = snapshot(lab_dir)
    assert grades[stage] == "does not hold", f"{stage}: {texts.get(stage)}\n{out[-3000:]}"
    assert words in texts[stage], texts[stage]
    assert verify.LAB_STEPS[stage] in texts[stage]  # which step of the lab makes it
    others = {s: g for s, g in grades.items() if s != stage and baseline[s] == "holds" and g != "holds"}
    assert not others, f"other stages went red too: {others}\n" + "\n".join(
        f"{s}: {texts[s]}" for s in others)
    assert before == after, _diff(before, after)
    return out


def _diff(before: dict, after: dict) -> list[str]:
    """The leaves that differ (a section, then the item and its field)."""
    out = []
    for key in before:
        a, b = before[key], after[key]
        if a == b:
            continue
        if isinstance(a, dict):
            a, b = list(a.items()), list(b.items())
        if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
            out += [f"{key}: {x} -> {y}" for x, y in zip(a, b, strict=True) if x != y]
        else:
            out.append(f"{key}: {str(a)[:500]} -> {str(b)[:500]}")
    return out


@pytest.fixture(scope="module")
def baseline(built, tmp_path_factory):
    """The grade of the lab as the harness built it, and the snapshots around that run."""
    before = snapshot(built)
    grades, texts, out = grade_of(built, tmp_path_factory.mktemp("baseline"))
    return before, grades, texts, out, snapshot(built)


def test_a_built_lab_holds_and_verify_changes_nothing(baseline):
    before, grades, texts, out, after = baseline
    assert before == after, _diff(before, after)
    assert not any(verify.SCRATCH in str(v) or verify.SCRATCH_DB in str(v) for v in after.values())
    assert "the lab reached stage mysql (detected)" in out
    held = {s for s, g in grades.items() if g == "holds"}
    assert {"ceph_cluster", "ceph_dashboard", "block_pool", "shared_filesystem", "object_store",
            "extend_storage", "toolbox", "pg_num", "remove_node", "mysql"} <= held, texts
    assert grades["faults"] == "cannot check here" and grades["ghost"] == "not reached", texts


def test_readonly_skips_the_round_trips_and_says_so(built, baseline, tmp_path):
    grades, texts, out = grade_of(built, tmp_path, "--lab-verify-readonly=yes")
    assert "data round trips skipped (--lab-verify-readonly)" in out
    assert "lab-verify-readonly" in texts["object_store"] and "lab-verify-readonly" in texts["mysql"]


def test_reached_given_grades_later_stages_not_reached(built, baseline, tmp_path):
    grades, texts, out = grade_of(built, tmp_path, "--lab-reached=toolbox")
    assert "the lab reached stage toolbox (--lab-reached)" in out
    assert grades["pg_num"] == grades["remove_node"] == grades["mysql"] == "not reached", texts
    # 6 OSDs expected at toolbox: the lab has 4 (k8s-1's are gone): named on the OSD stages
    assert grades["extend_storage"] == "does not hold" and "k8s-1 holds 0" in texts["extend_storage"]


def test_replicapool_size_3(built, baseline, tmp_path):
    lab = _lab(built)
    pool = next(p for p in lab.ceph.json("osd", "pool", "ls", "detail") if p["pool_name"] == model.BLOCK_POOL)
    lab.ceph.run("osd", "pool", "set", model.BLOCK_POOL, "size", "3")
    try:
        time.sleep(5)
        check_named(built, tmp_path, baseline[1], "block_pool", "size 3")
    finally:
        lab.ceph.run("osd", "pool", "set", model.BLOCK_POOL, "size", str(pool["size"]))
        lab.ceph.run("osd", "pool", "set", model.BLOCK_POOL, "min_size", str(pool["min_size"]))
        _wait_clean(lab)


def test_standby_replay_off(built, baseline, tmp_path):
    lab = _lab(built)
    lab.ceph.run("fs", "set", model.FS_NAME, "allow_standby_replay", "false")
    try:
        time.sleep(5)
        check_named(built, tmp_path, baseline[1], "shared_filesystem", "0 standby-replay MDS")
    finally:
        lab.ceph.run("fs", "set", model.FS_NAME, "allow_standby_replay", "true")
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and "standby-replay" not in json.dumps(
                lab.ceph.json("fs", "status", model.FS_NAME)):
            time.sleep(2)


@pytest.fixture(scope="module")
def before_pg_num(tmp_path_factory):
    """A second lab, built by the harness through toolbox: the learner stopped before the
    pg_num stage, so both pools keep their old pg_num (32). Cheaper and truer than merging
    the first lab's 150 PGs back to 32 (about 25 minutes of PG merges on two cores)."""
    lab_dir = tmp_path_factory.mktemp("verify-pg") / "lab"
    with destroyed_at_end(lab_dir):
        res = run_harness("--lab-target=local", f"--lab-dir={lab_dir}",
                          f"--lab-ip-prefix={PREFIX_BEFORE_PG_NUM}", "--lab-destroy=never",
                          "-m", "ceph_cluster or block_pool or shared_filesystem or extend_storage "
                          "or toolbox", "-k", "not browser and not faults",
                          env={"LAB_TIMEOUT_SCALE": SCALE}, timeout=1800)
        assert res.returncode == 0, res.stdout[-4000:]
        yield lab_dir


def test_pg_num_left_at_its_old_value(before_pg_num, tmp_path):
    """The learner says they did the pg_num stage (--lab-reached=pg_num) but the pools still
    have their old pg_num: verify names the pool and its pg_num on stage pg_num, holds every
    stage before it, and changes nothing."""
    lab = _lab(before_pg_num)
    assert "pg_num" not in lab.state.applied_slugs()
    before = snapshot(before_pg_num)
    grades, texts, out = grade_of(before_pg_num, tmp_path, "--lab-reached=pg_num")
    after = snapshot(before_pg_num)
    assert "the lab reached stage pg_num (--lab-reached)" in out
    assert grades["pg_num"] == "does not hold", f"{texts.get('pg_num')}\n{out[-3000:]}"
    # both pools kept their old pg_num; the text names the pools and what they have
    assert "pg_num 32, pgp_num 32, target 150" in texts["pg_num"], texts["pg_num"]
    assert model.BLOCK_POOL in texts["pg_num"] and model.FS_DATA in texts["pg_num"], texts["pg_num"]
    assert verify.LAB_STEPS["pg_num"] in texts["pg_num"]
    built_before = ("ceph_cluster", "block_pool", "shared_filesystem", "extend_storage", "toolbox")
    wrong = {s: grades[s] for s in built_before if grades[s] != "holds"}
    assert not wrong, f"stages before pg_num did not hold: {wrong}\n" + "\n".join(
        f"{s}: {texts[s]}" for s in wrong)
    assert grades["remove_node"] == grades["mysql"] == "not reached", texts
    assert before == after, _diff(before, after)


def _osd_on(lab: Lab, node: str, device: str) -> int:
    return next(int(name.split(".")[1]) for name, info in lab.target.daemons.osd_map().items()
                if info["node"] == node and info["device"] == device)


def test_one_osd_out(built, baseline, tmp_path):
    lab = _lab(built)
    osd = _osd_on(lab, "k8s-2", "sdc")
    lab.ceph.run("osd", "out", str(osd))
    try:
        _wait_clean(lab)
        check_named(built, tmp_path, baseline[1], "ceph_cluster", f"osd.{osd} on k8s-2 is marked out")
    finally:
        lab.ceph.run("osd", "in", str(osd))
        _wait_clean(lab)


def test_mysql_volume_on_the_wrong_pool(built, baseline, tmp_path):
    lab = _lab(built)
    db = lab.target.mysql
    lab.ceph.run("osd", "pool", "create", "wrongpool", "16", "16", "replicated")
    lab.ceph.run("osd", "pool", "set", "wrongpool", "size", "2")
    lab.ceph.run("pool", "init", "wrongpool", tool="rbd")
    db.down()
    lab.ceph.run("cp", f"{model.BLOCK_POOL}/mysql-pvc", "wrongpool/mysql-pvc", tool="rbd", timeout=600)
    db.pool = "wrongpool"
    db.ensure()
    try:
        _wait_clean(lab)
        check_named(built, tmp_path, baseline[1], "mysql", "in pool wrongpool, expected pool replicapool")
    finally:
        db.down()
        db.pool = model.BLOCK_POOL
        db.ensure()


def test_sdd_missing_on_one_node(built, baseline, tmp_path):
    """Last: an OSD purged is not put back."""
    lab = _lab(built)
    osd = _osd_on(lab, "k8s-3", "sdd")
    lab.ceph.run("osd", "out", str(osd))
    deadline = time.monotonic() + 600
    while lab.ceph.run("osd", "safe-to-destroy", str(osd), check=False).rc != 0:
        assert time.monotonic() < deadline, f"osd.{osd} never became safe to destroy"
        time.sleep(3)
    rec = lab.target.daemons.record(f"osd.{osd}")
    procs.stop(rec)
    lab.target.daemons.forget(f"osd.{osd}")
    lab.ceph.run("osd", "purge", str(osd), "--yes-i-really-mean-it")
    _wait_clean(lab)
    out = check_named(built, tmp_path, baseline[1], "extend_storage", "host k8s-3 holds 1 OSD(s), expected 2")
    print(out[out.index("lab grade"):out.index("lab stages")])
