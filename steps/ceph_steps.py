"""Ceph outcomes, asserted on ``ceph … -f json`` through the target's runner.

Every ``Then`` is a wait: the check is polled until it holds or its timeout ends, and the
failure shows what was last seen.
"""

from __future__ import annotations

import uuid

from pytest_bdd import parsers, then, when

from cephlab import checks, model, stages, verify
from steps.lists import LIST


def _applied(lab):
    return lab.state.applied_slugs()


def _stage(request) -> str:
    return stages.of_item(request.node).slug


@then(parsers.parse("{count:d} mons are in quorum"))
def mons_in_quorum(lab, ceph, expect, timeouts, count):
    expected = lab.target.mon_names()

    def probe():
        qs = ceph.json("quorum_status")
        names = checks.assert_quorum(qs, expected or qs.get("quorum_names", []))
        assert len(names) == count, f"quorum holds {names}, expected {count} mons"
        return names
    expect(f"{count} mons in quorum", probe, timeout=timeouts.quorum)


@then("one mgr is active")
def one_mgr_active(ceph, expect, timeouts):
    def probe():
        stat = ceph.json("mgr", "stat")
        checks.assert_active_mgr(stat)
        assert stat.get("num_standby", 0) == 0, f"{stat.get('num_standby')} standby mgrs, expected none"
    expect("one active mgr", probe, timeout=timeouts.daemon_start)


@then(parsers.parse("the OSDs are up and in, {per:d} on each of {hosts:List}", LIST))
def osds_per_host(request, lab, ceph, expect, timeouts, per, hosts):
    if lab.verifying:  # each stage judges its own part of the layout the reached stage has
        slug = _stage(request)
        expect(f"the OSDs stage {slug} makes", lambda: verify.assert_osds_for(
            slug, _applied(lab), ceph.json("osd", "dump"), ceph.json("osd", "tree"),
            lab.target.crush_host), timeout=timeouts.osds_up)
        return
    wanted = {h: per for h in hosts}
    assert wanted == stages.osd_layout(_applied(lab)), (
        f"the feature expects {wanted}, the lab model after {_applied(lab)} says "
        f"{stages.osd_layout(_applied(lab))}")
    wanted = {lab.target.crush_host(node): n for node, n in wanted.items()}
    expect(f"{sum(wanted.values())} OSDs up and in on {', '.join(wanted)}",
           lambda: checks.assert_osds(ceph.json("osd", "dump"), ceph.json("osd", "tree"), wanted),
           timeout=timeouts.osds_up)


@then(parsers.parse("host {host} holds no OSD"))
def host_has_no_osd(lab, ceph, host):
    host = lab.target.crush_host(host)
    hosts = checks.osd_hosts(ceph.json("osd", "tree"))
    assert host not in hosts, f"CRUSH host {host} still exists, holding {hosts[host]}"


@then("the cluster is healthy")
def cluster_healthy(request, lab, ceph, expect, timeouts):
    if lab.verifying:  # PGs count for the stage that makes their pool
        slug = _stage(request)
        expect(f"health as stage {slug} sees it", lambda: verify.assert_stage_health(
            slug, ceph.json("health", "detail"), ceph.json("pg", "ls"),
            ceph.json("osd", "pool", "ls", "detail")), timeout=timeouts.health, interval=1)
        return

    def probe():
        checks.assert_pgs_clean(ceph.json("status"))
        return checks.assert_health(ceph.json("health", "detail"))
    expect("HEALTH_OK (or only accepted warnings) with every PG active+clean", probe,
           timeout=timeouts.health, interval=0.5)


@then(parsers.parse("pool {pool} is replicated with size {size:d}"))
def pool_replicated(ceph, pool, size):
    checks.assert_pool(ceph.json("osd", "pool", "ls", "detail"), pool, size=size)


@then(parsers.parse("pool {pool} serves {application}"))
def pool_application(ceph, pool, application):
    checks.assert_pool(ceph.json("osd", "pool", "ls", "detail"), pool, application=application)


@when(parsers.parse("a block image of {size:d} MiB is created in {pool} and resized to {new:d} MiB"),
      target_fixture="rbd_image")
def rbd_image_created(request, lab, ceph, size, pool, new):
    name = lab.scratch("RBD image") if lab.verifying else f"cephlab-probe-{uuid.uuid4().hex[:8]}"
    image = f"{pool}/{name}"
    request.addfinalizer(lambda: ceph.run("rm", image, tool="rbd", check=False))
    ceph.run("create", image, "--size", f"{size}M", tool="rbd")
    ceph.run("resize", image, "--size", f"{new}M", tool="rbd")
    return image


@then(parsers.parse("the image is listed in {pool} with {size:d} MiB"))
def rbd_image_listed(ceph, rbd_image, pool, size):
    name = rbd_image.split("/", 1)[1]
    assert name in ceph.json("ls", pool, tool="rbd"), f"rbd ls {pool} does not list {name}"
    info = ceph.json("info", rbd_image, tool="rbd")
    assert info.get("size") == size * 1024 ** 2, f"{rbd_image} is {info.get('size')} bytes, expected {size} MiB"


@when("the image is removed")
def rbd_image_removed(ceph, rbd_image):
    ceph.run("rm", rbd_image, tool="rbd")


@then(parsers.parse("it is no longer listed in {pool}"))
def rbd_image_gone(ceph, rbd_image, pool):
    name = rbd_image.split("/", 1)[1]
    assert name not in ceph.json("ls", pool, tool="rbd"), f"{name} still listed after rbd rm"


@then(parsers.parse("filesystem {fs} uses {metadata} for metadata and {data} for data"))
def fs_pools(ceph, expect, timeouts, fs, metadata, data):
    expect(f"filesystem {fs} with its pools", lambda: checks.assert_filesystem(
        ceph.json("fs", "status", fs), metadata_pool=metadata, data_pools=[data],
        active=1, standby_replay=1), timeout=timeouts.mds)


@then(parsers.parse("pools {pools:List} have size {size:d}", LIST))
def pools_size(ceph, pools, size):
    detail = ceph.json("osd", "pool", "ls", "detail")
    for pool in pools:
        checks.assert_pool(detail, pool, size=size)


@then(parsers.parse("MDS rank 0 is active with one standby-replay daemon"))
def mds_active_standby(ceph, expect, timeouts):
    by_state = expect("MDS rank 0 active and one standby-replay", lambda: checks.assert_filesystem(
        ceph.json("fs", "status", model.FS_NAME), metadata_pool=model.FS_METADATA,
        data_pools=[model.FS_DATA], active=1, standby_replay=1), timeout=timeouts.mds)
    assert set(by_state["active"]).isdisjoint(by_state["standby-replay"])


@then(parsers.parse("the raw capacity is at least {factor:g} times what it was before"))
def capacity_grew(lab, ceph, expect, timeouts, factor):
    before = lab.state.get("raw_bytes_before_extend")
    if before is None and lab.verifying:
        lab.note("extend_storage", "raw capacity growth: the capacity before sdd was added was "
                 "not recorded (the lab was not built by this harness)")
        return
    assert before is not None, "the raw capacity before extend_storage was not recorded"
    if lab.verifying:  # later stages (and an OSD out) change the OSDs ceph df counts
        applied = _applied(lab)
        upto = [st for st in applied if stages.get(st).order <= stages.get("extend_storage").order]
        # ceph df counts the OSDs that are in (an OSD out is ceph_cluster's to grade)
        ins = sum(i for _, i in checks.osd_states(ceph.json("osd", "dump")).values())
        factor *= ins / sum(stages.osd_layout(upto).values())
    # ceph df follows the OSDs' statfs reports, which reach the mgr a few seconds late.
    expect(f"raw capacity at least {factor}x", lambda: checks.assert_capacity_grew(
        before, checks.raw_capacity(ceph.json("df")), factor), timeout=timeouts.osds_up, interval=0.5)


@then("ceph status agrees with the lab")
def status_agrees(lab, ceph, expect, timeouts):
    osds = sum(stages.osd_layout(_applied(lab)).values())
    if lab.verifying:  # the CLI must agree with itself; the OSD stages grade the layout
        expect("ceph status agrees with ceph osd dump", lambda: verify.assert_status_agrees(
            ceph.json("status"), ceph.json("osd", "dump"), len(model.NODES)), timeout=timeouts.osds_up)
        return
    expect("ceph status counts", lambda: checks.assert_status_counts(
        ceph.json("status"), mons=len(model.NODES), osds=osds), timeout=timeouts.osds_up)


@then("ceph osd status lists every OSD of the lab as up")
def osd_status_agrees(lab, ceph, expect, timeouts):
    ids = [o["osd"] for o in ceph.json("osd", "dump").get("osds", [])]
    assert lab.verifying or len(ids) == sum(stages.osd_layout(_applied(lab)).values()), (
        f"osd dump lists {len(ids)} OSDs; the lab should have {stages.osd_layout(_applied(lab))}")
    expect("ceph osd status rows", lambda: checks.assert_osd_status(
        ceph.run("osd", "status").stdout, ids), timeout=timeouts.osds_up)


@then("ceph df and rados df agree on the lab's pools")
def df_agrees(lab, ceph, expect, timeouts):
    osds = sum(stages.osd_layout(_applied(lab)).values())
    if lab.verifying:  # ceph df counts the OSDs that are in; the OSD stages grade the rest
        osds = sum(i for _, i in checks.osd_states(ceph.json("osd", "dump")).values())
    pools = stages.lab_pools(_applied(lab))
    expect("ceph df and rados df agree", lambda: checks.assert_df_agrees(
        ceph.json("df"), ceph.json("df", tool="rados"), pools, osds), timeout=30, interval=0.5)


@then(parsers.parse("pools {pools:List} report pg_num {pg_num:d} with the autoscaler off", LIST))
def pools_pg_num(ceph, expect, timeouts, pools, pg_num):
    names = pools
    for name in names:
        checks.assert_pool(ceph.json("osd", "pool", "ls", "detail"), name, autoscale="off")
    # Ceph raises pg_num and then pgp_num step by step towards the target.
    expect(f"pgp_num of {', '.join(names)} to reach {pg_num}", lambda: [
        checks.assert_pg_num_settled(ceph.json("osd", "pool", "ls", "detail"), n, pg_num)
        for n in names], timeout=timeouts.health, interval=0.5)


@then(parsers.parse("the only health warning left is {code}"))
def only_warning(request, lab, ceph, expect, timeouts, code):
    assert code in checks.ACCEPTED_WARNINGS, f"{code} is not a warning the harness accepts"
    def probe():
        health = ceph.json("health", "detail")
        if lab.verifying:
            verify.assert_stage_health(_stage(request), health, ceph.json("pg", "ls"),
                                       ceph.json("osd", "pool", "ls", "detail"))
        else:
            checks.assert_pgs_clean(ceph.json("status"))
            checks.assert_health(health)
        seen = checks.health_checks(health)
        assert code in seen, f"expected {code} to be raised, health checks are {sorted(seen) or 'none'}"
    expect(f"health to settle with only {code}", probe, timeout=timeouts.health, interval=0.5)
