"""The partition and disk-full faults' parts that need no Ceph: the nftables rules (and,
as root with nft, that they really cut one loopback address off and are removed again), the
ratios computed from recorded ``ceph osd df``/``osd dump`` JSON, the state fact that
remembers lowered ratios, and the ceph.conf line the partition depends on."""

from __future__ import annotations

import socket

import pytest

from cephlab.config import LabConfig
from cephlab.local import diskfull, nft
from cephlab.local.daemons import CephDaemons
from cephlab.state import LabOptions, LabState
from tests.conftest import loopback_prefix

pytestmark = pytest.mark.standin

NET = loopback_prefix("netfaults")


def test_table_is_named_after_the_lab_and_differs_per_lab_dir(tmp_path):
    one, two = nft.table_name(tmp_path / "lab"), nft.table_name(tmp_path / "other" / "lab")
    assert one.startswith("cephlab_lab_") and two.startswith("cephlab_lab_")
    assert one != two and one == nft.table_name(tmp_path / "lab")
    assert all(c.isalnum() or c == "_" for c in one), one


def test_ruleset_drops_both_directions_between_the_node_and_the_others():
    text = nft.ruleset("cephlab_x", "127.0.1.4", ["127.0.1.2", "127.0.1.3"])
    assert "table inet cephlab_x" in text and "hook input" in text
    assert "ip saddr 127.0.1.4 ip daddr { 127.0.1.2, 127.0.1.3 } drop" in text
    assert "ip saddr { 127.0.1.2, 127.0.1.3 } ip daddr 127.0.1.4 drop" in text
    with pytest.raises(ValueError):
        nft.ruleset("cephlab_x", "127.0.1.4", [])
    with pytest.raises(ValueError):
        nft.ruleset("cephlab_x", "127.0.1.4", ["127.0.1.4"])


def test_daemons_bind_before_connecting(tmp_path):
    """Without it a daemon's connections come from 127.0.0.1 and no rule can name its node."""
    cfg = LabConfig(target="local", target_reason="test", lab_dir=tmp_path)
    conf = CephDaemons(cfg, LabState(tmp_path, LabOptions("local"))).render_conf("f" * 8)
    global_section = conf.split("[mon]")[0]
    assert "ms bind before connect = true" in global_section


def test_ratios_and_usage_from_recorded_json(sample):
    assert diskfull.ratios(sample("osd_dump_after_remove_node.json")) == {
        "nearfull": 0.85, "backfillfull": 0.9, "full": 0.95}
    used = diskfull.usage(sample("osd_df.json"))
    assert sorted(used) == [0, 1, 2]
    assert all(0.03 < u < 0.05 for u in used.values()), used


def test_lowered_ratios_put_every_osd_past_nearfull_then_full(sample):
    used = diskfull.usage(sample("osd_df.json"))
    original = {"nearfull": 0.85, "backfillfull": 0.9, "full": 0.95}
    near = diskfull.lowered(used, original, "nearfull")
    assert near["nearfull"] < min(used.values())
    assert (near["backfillfull"], near["full"]) == (0.9, 0.95)
    full = diskfull.lowered(used, original, "full")
    assert 0 < full["nearfull"] < full["backfillfull"] < full["full"] < min(used.values())


def test_the_refused_write_is_bounded_by_ten_times_an_allowed_write():
    assert diskfull.write_bound(0.05) == diskfull.WRITE_BOUND_MIN  # idle machine: 3 s
    assert diskfull.write_bound(0.6) == 6
    assert diskfull.write_bound(4.0) == diskfull.WRITE_BOUND  # a loaded machine: the old 10 s


def test_lowered_ratios_refuse_osds_that_hold_nothing():
    with pytest.raises(Exception, match="no OSD"):
        diskfull.lowered({}, {"nearfull": 0.85, "backfillfull": 0.9, "full": 0.95}, "full")
    with pytest.raises(Exception, match="too little"):
        diskfull.lowered({0: 0.0001}, {"nearfull": 0.85, "backfillfull": 0.9, "full": 0.95}, "full")


def test_lowered_ratios_are_a_fact_of_the_lab_until_restored(tmp_path):
    state = LabState(tmp_path, LabOptions("local"))
    state.put(diskfull.FACT, {"nearfull": 0.85, "backfillfull": 0.9, "full": 0.95})
    assert LabState(tmp_path, LabOptions("local")).get(diskfull.FACT)["full"] == 0.95
    state.remove(diskfull.FACT)
    assert not LabState(tmp_path, LabOptions("local")).has(diskfull.FACT)


needs_nft = pytest.mark.skipif(bool(nft.unavailable()), reason=f"{nft.unavailable()}")


def _connects(src: str, dst: str, port: int) -> bool:
    sock = socket.socket()
    sock.settimeout(1.5)
    try:
        sock.bind((src, 0))
        sock.connect((dst, port))
        return True
    except OSError:
        return False
    finally:
        sock.close()


@needs_nft
def test_rules_cut_one_address_off_both_ways_and_heal_removes_them(tmp_path):
    a, b, c = f"{NET}.2", f"{NET}.3", f"{NET}.4"
    servers = []
    for ip in (a, c):
        srv = socket.socket()
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind((ip, 0))
        srv.listen(64)  # the kernel completes handshakes into the backlog: no accept needed
        servers.append(srv)
    pa, pc = (s.getsockname()[1] for s in servers)
    part = nft.Partition(tmp_path)
    try:
        part.isolate(c, [a, b])
        assert part.present() and "drop" in part.rules()
        assert not _connects(c, a, pa), "the isolated address still reaches a peer"
        assert not _connects(a, c, pc), "a peer still reaches the isolated address"
        assert _connects(b, a, pa), "the peers no longer reach each other"
        assert _connects("127.0.0.1", c, pc), "a client on 127.0.0.1 was cut off too"
        part.heal()
        assert not part.present()
        assert _connects(c, a, pa) and _connects(a, c, pc)
        part.isolate(c, [a, b])  # what a killed run leaves
        said = nft.remove_leftover(tmp_path)
        assert said and part.table in said and not part.present()
        assert nft.remove_leftover(tmp_path) is None
    finally:
        nft.remove(part.table)
        for srv in servers:
            srv.close()


def test_without_nft_the_partition_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty directory: no nft on PATH
    why = nft.unavailable()
    assert why and ("apt-get install nftables" in why or "root" in why), why
    assert nft.remove_leftover(tmp_path) is None  # teardown and destroy still work
