"""Ceph outcomes, asserted on ``ceph … -f json`` through the target's runner.

Every ``Then`` is a wait: the check is polled until it holds or its timeout ends, and the
failure shows what was last seen.
"""

from __future__ import annotations


from pytest_bdd import parsers, then, when

from cephlab import ceph_checks, model, stages
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
        names = ceph_checks.assert_quorum(qs, expected or qs.get("quorum_names", []))
        assert len(names) == count, f"quorum holds {names}, expected {count} mons"
        return names
    expect(f"{count} mons in quorum", probe, timeout=timeouts.quorum)


@then("one mgr is active")
def one_mgr_active(ceph, expect, timeouts):
    def probe():
        stat = ceph.json("mgr", "stat")
        ceph_checks.assert_active_mgr(stat)
        assert stat.get("num_standby", 0) == 0, f"{stat.get('num_standby')} standby mgrs, expected none"
    expect("one active mgr", probe, timeout=timeouts.daemon_start)


@then(parsers.parse("the OSDs are up and in, {per:d} on each of {hosts:List}", LIST))
def osds_per_host(request, judge, ceph, expect, timeouts, per, hosts):
    what, probe = judge.osds(_stage(request), per, hosts, ceph)
    expect(what, probe, timeout=timeouts.osds_up)


@then(parsers.parse("host {host} holds no OSD"))
def host_has_no_osd(lab, ceph, host):
    host = lab.target.crush_host(host)
    hosts = ceph_checks.osd_hosts(ceph.json("osd", "tree"))
    assert host not in hosts, f"CRUSH host {host} still exists, holding {hosts[host]}"


@then("the cluster is healthy")
def cluster_healthy(request, judge, ceph, expect, timeouts):
    what, probe = judge.health(_stage(request), ceph)
    expect(what, probe, timeout=timeouts.health, interval=0.5)


@then(parsers.parse("pool {pool} is replicated with size {size:d}"))
def pool_replicated(ceph, pool, size):
    ceph_checks.assert_pool(ceph.json("osd", "pool", "ls", "detail"), pool, size=size)


@then(parsers.parse("pool {pool} serves {application}"))
def pool_application(ceph, pool, application):
    ceph_checks.assert_pool(ceph.json("osd", "pool", "ls", "detail"), pool, application=application)


@when(parsers.parse("a block image of {size:d} MiB is created in {pool} and resized to {new:d} MiB"),
      target_fixture="rbd_image")
def rbd_image_created(request, judge, ceph, size, pool, new):
    name = judge.name("RBD image", "cephlab-probe", 8)
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
    expect(f"filesystem {fs} with its pools", lambda: ceph_checks.assert_filesystem(
        ceph.json("fs", "status", fs), metadata_pool=metadata, data_pools=[data],
        active=1, standby_replay=1), timeout=timeouts.mds)


@then(parsers.parse("pools {pools:List} have size {size:d}", LIST))
def pools_size(ceph, pools, size):
    detail = ceph.json("osd", "pool", "ls", "detail")
    for pool in pools:
        ceph_checks.assert_pool(detail, pool, size=size)


@then(parsers.parse("MDS rank 0 is active with one standby-replay daemon"))
def mds_active_standby(ceph, expect, timeouts):
    by_state = expect("MDS rank 0 active and one standby-replay", lambda: ceph_checks.assert_filesystem(
        ceph.json("fs", "status", model.FS_NAME), metadata_pool=model.FS_METADATA,
        data_pools=[model.FS_DATA], active=1, standby_replay=1), timeout=timeouts.mds)
    assert set(by_state["active"]).isdisjoint(by_state["standby-replay"])


@then(parsers.parse("the raw capacity is at least {factor:g} times what it was before"))
def capacity_grew(lab, judge, ceph, expect, timeouts, factor):
    before = lab.state.get("raw_bytes_before_extend")
    wanted = judge.capacity_factor(factor, before, ceph)
    if wanted is None:
        return
    factor = wanted
    # ceph df follows the OSDs' statfs reports, which reach the mgr a few seconds late.
    expect(f"raw capacity at least {factor}x", lambda: ceph_checks.assert_capacity_grew(
        before, ceph_checks.raw_capacity(ceph.json("df")), factor), timeout=timeouts.osds_up, interval=0.5)


@then("ceph status agrees with the lab")
def status_agrees(judge, ceph, expect, timeouts):
    what, probe = judge.status(ceph)
    expect(what, probe, timeout=timeouts.osds_up)


@then("ceph osd status lists every OSD of the lab as up")
def osd_status_agrees(judge, ceph, expect, timeouts):
    ids = judge.osd_ids(ceph.json("osd", "dump"))
    expect("ceph osd status rows", lambda: ceph_checks.assert_osd_status(
        ceph.run("osd", "status").stdout, ids), timeout=timeouts.osds_up)


@then("ceph df and rados df agree on the lab's pools")
def df_agrees(lab, judge, ceph, expect, timeouts):
    osds = judge.counted_osds(ceph)
    pools = stages.lab_pools(_applied(lab))
    expect("ceph df and rados df agree", lambda: ceph_checks.assert_df_agrees(
        ceph.json("df"), ceph.json("df", tool="rados"), pools, osds), timeout=30, interval=0.5)


@then(parsers.parse("pools {pools:List} report pg_num {pg_num:d} with the autoscaler off", LIST))
def pools_pg_num(ceph, expect, timeouts, pools, pg_num):
    names = pools
    for name in names:
        ceph_checks.assert_pool(ceph.json("osd", "pool", "ls", "detail"), name, autoscale="off")
    # Ceph raises pg_num and then pgp_num step by step towards the target.
    expect(f"pgp_num of {', '.join(names)} to reach {pg_num}", lambda: [
        ceph_checks.assert_pg_num_settled(ceph.json("osd", "pool", "ls", "detail"), n, pg_num)
        for n in names], timeout=timeouts.health, interval=0.5)


@then(parsers.parse("the only health warning left is {code}"))
def only_warning(request, judge, ceph, expect, timeouts, code):
    assert code in ceph_checks.ACCEPTED_WARNINGS, f"{code} is not a warning the harness accepts"

    def probe():
        health = ceph.json("health", "detail")
        judge.health_now(_stage(request), health, ceph)
        seen = ceph_checks.health_checks(health)
        assert code in seen, f"expected {code} to be raised, health checks are {sorted(seen) or 'none'}"
    expect(f"health to settle with only {code}", probe, timeout=timeouts.health, interval=0.5)
