"""The pure assertion functions, on JSON recorded from a real local lab (tests/data).

The recorded lab is the one after stage remove_node: 3 mons, OSDs 1, 2, 4, 5 on k8s-2 and
k8s-3, pools at pg_num 150 and the POOL_PG_NUM_NOT_POWER_OF_TWO warning.
"""

from __future__ import annotations

import pytest

from cephlab import ceph_checks
from tests.conftest import DATA

pytestmark = pytest.mark.unit

LAYOUT = {"k8s-2": 2, "k8s-3": 2}


def test_quorum_holds_and_names_missing_mons(sample):
    qs = sample("quorum_status.json")
    assert ceph_checks.assert_quorum(qs, ["k8s-1", "k8s-2", "k8s-3"]) == ["k8s-1", "k8s-2", "k8s-3"]
    qs["quorum_names"].remove("k8s-2")
    with pytest.raises(AssertionError, match=r"mons not in quorum: k8s-2 \(quorum: k8s-1, k8s-3\)"):
        ceph_checks.assert_quorum(qs, ["k8s-1", "k8s-2", "k8s-3"])


def test_active_mgr(sample):
    stat = sample("mgr_stat.json")
    assert ceph_checks.assert_active_mgr(stat) == "k8s-1"
    stat["available"] = False
    with pytest.raises(AssertionError, match="no active mgr available"):
        ceph_checks.assert_active_mgr(stat)


def test_osds_layout_holds(sample):
    hosts = ceph_checks.assert_osds(sample("osd_dump_after_remove_node.json"),
                               sample("osd_tree_after_remove_node.json"), LAYOUT)
    assert hosts == {"k8s-2": [1, 4], "k8s-3": [2, 5]}


def test_osd_down_and_out_are_named(sample):
    dump = sample("osd_dump_after_remove_node.json")
    for osd in dump["osds"]:
        if osd["osd"] == 4:
            osd["up"] = 0
        if osd["osd"] == 5:
            osd["in"] = 0
    with pytest.raises(AssertionError) as err:
        ceph_checks.assert_osds(dump, sample("osd_tree_after_remove_node.json"), LAYOUT)
    assert "osd.4 is down and in" in str(err.value)
    assert "osd.5 is up and out" in str(err.value)


def test_wrong_layout_is_named(sample):
    with pytest.raises(AssertionError) as err:
        ceph_checks.assert_osds(sample("osd_dump_after_remove_node.json"),
                           sample("osd_tree_after_remove_node.json"),
                           {"k8s-1": 2, "k8s-2": 2, "k8s-3": 2})
    assert "4 OSDs exist, expected 6" in str(err.value)
    assert "host k8s-1 holds 0 OSDs, expected 2" in str(err.value)


def test_health_accepts_only_named_warnings(sample):
    health = sample("health_pg_num_warning.json")
    assert ceph_checks.assert_health(health) == "HEALTH_WARN"
    with pytest.raises(AssertionError, match="POOL_PG_NUM_NOT_POWER_OF_TWO: 2 pool"):
        ceph_checks.assert_health(health, accepted={})
    health["checks"]["OSD_DOWN"] = {"severity": "HEALTH_WARN",
                                    "summary": {"message": "1 osds down"}}
    with pytest.raises(AssertionError, match="OSD_DOWN: 1 osds down"):
        ceph_checks.assert_health(health)


def test_every_accepted_warning_has_a_reason():
    for code, reason in ceph_checks.ACCEPTED_WARNINGS.items():
        assert code.isupper() and len(reason) > 20, code


def test_health_err_fails_even_when_its_checks_are_accepted():
    health = {"status": "HEALTH_ERR", "checks": {"POOL_PG_NUM_NOT_POWER_OF_TWO": {
        "summary": {"message": "x"}}}}
    with pytest.raises(AssertionError, match="HEALTH_ERR"):
        ceph_checks.assert_health(health)


def test_pgs_clean(sample):
    status = sample("status_after_remove_node.json")
    assert ceph_checks.assert_pgs_clean(status) == status["pgmap"]["num_pgs"]
    status["pgmap"]["pgs_by_state"].append({"state_name": "active+undersized+degraded", "count": 7})
    status["pgmap"]["num_pgs"] += 7
    with pytest.raises(AssertionError, match="7 active\\+undersized\\+degraded"):
        ceph_checks.assert_pgs_clean(status)


def test_status_counts(sample):
    status = sample("status_after_remove_node.json")
    ceph_checks.assert_status_counts(status, mons=3, osds=4)
    with pytest.raises(AssertionError, match="OSDs: 4, expected 6"):
        ceph_checks.assert_status_counts(status, mons=3, osds=6)


def test_pools(sample):
    pools = sample("pool_ls_detail.json")
    ceph_checks.assert_pool(pools, "replicapool", size=2, pg_num=150, application="rbd", autoscale="off")
    ceph_checks.assert_pg_num_settled(pools, "k8s-fs-data0", 150)
    with pytest.raises(AssertionError, match="size 2, expected 3"):
        ceph_checks.assert_pool(pools, "replicapool", size=3)
    with pytest.raises(AssertionError, match="pool 'nosuch' does not exist"):
        ceph_checks.assert_pool(pools, "nosuch")
    for pool in pools:
        if pool["pool_name"] == "k8s-fs-data0":
            pool["pg_placement_num"] = 64
    with pytest.raises(AssertionError, match="pgp_num 64, target 150"):
        ceph_checks.assert_pg_num_settled(pools, "k8s-fs-data0", 150)


def test_filesystem(sample):
    fs = sample("fs_status.json")
    by_state = ceph_checks.assert_filesystem(fs, metadata_pool="k8s-fs-metadata",
                                        data_pools=["k8s-fs-data0"])
    assert by_state["active"] and by_state["standby-replay"]
    fs["mdsmap"] = [m for m in fs["mdsmap"] if m["state"] != "standby-replay"]
    with pytest.raises(AssertionError, match="0 standby-replay MDS, expected 1"):
        ceph_checks.assert_filesystem(fs, metadata_pool="k8s-fs-metadata", data_pools=["k8s-fs-data0"])


def test_capacity(sample):
    total = ceph_checks.raw_capacity(sample("df.json"))
    assert total > 0
    assert ceph_checks.assert_capacity_grew(total // 2, total, 1.8) == pytest.approx(2.0, rel=0.01)
    with pytest.raises(AssertionError, match="grew 1.00x"):
        ceph_checks.assert_capacity_grew(total, total, 1.8)


def test_osd_status_table():
    text = (DATA / "osd_status.txt").read_text()
    rows = ceph_checks.assert_osd_status(text, [1, 2, 4, 5])
    assert set(rows) == {1, 2, 4, 5}
    with pytest.raises(AssertionError, match="osd.0 missing"):
        ceph_checks.assert_osd_status(text, [0, 1, 2, 4, 5])
    down = text.replace("exists,up", "exists", 1)
    with pytest.raises(AssertionError, match="is exists$"):
        ceph_checks.assert_osd_status(down, [1, 2, 4, 5])


def test_df_and_rados_df_agree(sample):
    df, rdf = sample("df.json"), sample("rados_df.json")
    pools = ["replicapool", "k8s-fs-metadata", "k8s-fs-data0"]
    ceph_checks.assert_df_agrees(df, rdf, pools, osds=4)
    rdf["pools"] = [p for p in rdf["pools"] if p["name"] != "replicapool"]
    with pytest.raises(AssertionError, match="rados df lacks pools \\['replicapool'\\]"):
        ceph_checks.assert_df_agrees(df, rdf, pools, osds=4)


def test_safe_to_destroy(sample):
    with pytest.raises(AssertionError, match="not yet safe to destroy: osd.1"):
        ceph_checks.assert_safe_to_destroy(sample("safe_to_destroy_active.json"), [1])
    ceph_checks.assert_safe_to_destroy({"safe_to_destroy": [1, 4]}, [1, 4])
