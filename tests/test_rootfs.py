"""The Ceph roots: the cache decision (a pure function over the manifest), the naming of
roots, the mirror read from apt's sources, and how a program is wrapped to run inside the
lab's view of a root. The last test mounts a real lab view of the cached Ceph 20 root
(when it is built here) and checks propagation both ways and that destroy leaves nothing."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from cephlab.ceph import LocalCeph
from cephlab.local import chroot, mounts, rootfs
from cephlab.local.releases import SOURCES, Source

pytestmark = pytest.mark.standin

FORKY = SOURCES["20"]


def manifest(**over):
    doc = {**rootfs.wanted(FORKY), "complete": True,
           "installed": {p: "20.2.4+ds-2" for p in rootfs.wanted(FORKY)["packages"]}}
    doc.update(over)
    return doc


def test_a_complete_matching_root_is_reused():
    reuse, why = rootfs.cache_decision(manifest(), rootfs.wanted(FORKY))
    assert reuse and "20.2.4" in why


@pytest.mark.parametrize("doc, why", [
    (None, "no cached root"),
    (manifest(complete=False), "never finished"),
    (manifest(suite="trixie"), "suite changed"),
    (manifest(ceph_pin="20.2.3"), "ceph_pin changed"),
    (manifest(packages=["ceph-mon"]), "packages changed"),
    (manifest(builder=rootfs.BUILDER_REVISION - 1), "builder changed"),
    (manifest(preload="0123456789abcdef"), "preload changed"),
    (manifest(installed={"ceph-mon": "20.2.4+ds-2"}), "not installed in the cached root"),
    (manifest(installed={p: "20.2.5+ds-1" for p in rootfs.wanted(FORKY)["packages"]}),
     "holds ceph 20.2.5, the pin is 20.2.4"),
])
def test_a_root_is_rebuilt_when_what_it_holds_differs(doc, why):
    reuse, reason = rootfs.cache_decision(doc, rootfs.wanted(FORKY))
    assert not reuse and why in reason


def test_a_new_pin_names_a_new_root(tmp_path):
    newer = Source("20", "forky", "sid", "20.2.5")
    assert rootfs.root_path(FORKY, tmp_path) != rootfs.root_path(newer, tmp_path)
    assert rootfs.root_path(FORKY, tmp_path).name.startswith("forky-")
    assert rootfs.root_path(FORKY, tmp_path) == rootfs.root_path(FORKY, tmp_path)


def test_a_cached_root_is_found_without_building(tmp_path):
    root = rootfs.root_path(FORKY, tmp_path)
    root.mkdir(parents=True)
    (root / rootfs.MANIFEST).write_text(__import__("json").dumps(manifest()))
    said = []
    got = rootfs.ensure(FORKY, say=said.append, base=tmp_path)
    assert not got.built and got.ceph_version == "20.2.4" and said == []


def test_the_mirror_is_the_one_apt_uses(tmp_path, monkeypatch):
    monkeypatch.delenv("CEPHLAB_DEBIAN_MIRROR", raising=False)
    d = tmp_path / "sources.list.d"
    d.mkdir()
    (d / "debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm\n\n"
        "Types: deb\nURIs: http://mirror.example/debian-security\n")
    assert rootfs.host_mirror(d, tmp_path / "none") == "http://mirror.example/debian"
    empty = tmp_path / "empty"
    empty.mkdir()
    listing = tmp_path / "sources.list"
    listing.write_text("deb http://other.example/debian/ bookworm main\n")
    assert rootfs.host_mirror(empty, listing) == "http://other.example/debian"
    assert rootfs.host_mirror(empty, tmp_path / "none") == rootfs.DEFAULT_MIRROR
    monkeypatch.setenv("CEPHLAB_DEBIAN_MIRROR", "http://set.example/debian/")
    assert rootfs.host_mirror(d) == "http://set.example/debian"


def test_a_ceph_command_is_wrapped_into_the_labs_view_of_the_root(tmp_path, monkeypatch):
    env = chroot.RootCeph("20", tmp_path / "lab")
    monkeypatch.setattr(env, "ensure_mounted", lambda: None)
    argv = LocalCeph(tmp_path / "lab" / "ceph.conf", wrap=env.wrap).command(["ceph", "status"])
    assert argv[:4] == ["chroot", str(chroot.view_of(tmp_path / "lab")), "/usr/bin/env", "-i"]
    assert "PATH=/usr/sbin:/usr/bin:/sbin:/bin" in argv
    tail = argv[argv.index("ceph"):]
    assert tail == ["ceph", "-c", str(tmp_path / "lab" / "ceph.conf"), "--connect-timeout", "15",
                    "status"], "the lab's paths are the same inside the root"
    assert chroot.HostCeph().wrap(["ceph", "-s"]) == ["ceph", "-s"]
    # rbd-fuse alone runs with the release's preload (releases.py says why)
    fuse = env.wrap(["rbd-fuse", "-p", "replicapool"])
    assert f"LD_PRELOAD={chroot.PRELOAD_LIB}" in fuse and not any("LD_PRELOAD" in a for a in argv)
    assert LocalCeph(Path("/x/ceph.conf")).command(["rados", "df"]) == ["rados", "-c", "/x/ceph.conf", "df"]


def test_the_view_lies_outside_the_lab_dir_and_the_checkout(tmp_path):
    lab = tmp_path / "lab"
    view = chroot.view_of(lab)
    expected = chroot.RootCeph("20", lab).expected_mounts()
    assert expected[0] == str(lab) and expected[-1] == str(view / str(lab).lstrip("/"))
    assert all(m == str(lab) or m.startswith(str(chroot.VIEWS_DIR) + "/") for m in expected)
    assert str(view / "dev") in expected and str(view / "proc") in expected
    checkout = Path(__file__).resolve().parent.parent
    assert not view.is_relative_to(lab) and not view.is_relative_to(checkout)
    assert chroot.view_of(tmp_path / "other" / "lab") != view, "one view per lab dir"


def test_a_view_whose_lab_is_gone_is_stale(tmp_path, monkeypatch):
    monkeypatch.setattr(chroot, "VIEWS_DIR", tmp_path / "views")
    assert chroot.stale_views() == []
    (tmp_path / "views").mkdir()
    live, gone = tmp_path / "live", tmp_path / "gone"
    live.mkdir()
    (live / "state.json").write_text("{}")
    for lab in (live, gone):
        chroot._record(chroot.view_of(lab), lab)
    assert chroot.stale_views() == [chroot.view_of(gone)]


def _cached():
    return rootfs.cache_decision(rootfs.read_manifest(rootfs.root_path(FORKY)),
                                 rootfs.wanted(FORKY))[0]


@pytest.mark.skipif(os.geteuid() != 0 or not _cached(),
                    reason="needs root and the Ceph 20 root built (python -m cephlab setup --ceph 20)")
def test_the_labs_view_propagates_mounts_both_ways_and_unmounts_completely(tmp_path):
    lab = tmp_path / "lab"
    env = chroot.RootCeph("20", lab)
    view = chroot.view_of(lab)
    lab.mkdir()
    env.wrap(["ceph", "--version"])
    assert mounts.mounts_under(lab) == [] and mounts.mounts_under(view) == [], \
        "no lab (no state.json) here: nothing is mounted"
    (lab / "state.json").write_text("{}")
    env.ensure_mounted()
    try:
        out = subprocess.run(env.wrap(["ceph", "--version"]), capture_output=True, text=True)
        assert "tentacle" in out.stdout, out.stderr
        inside = view / str(lab).lstrip("/")
        # A mount made inside the root (as ceph-fuse does) shows at the same path outside ...
        (lab / "mnt" / "probe").mkdir(parents=True)
        subprocess.run(env.wrap(["mount", "-t", "tmpfs", "probe", str(lab / "mnt" / "probe")]),
                       check=True)
        assert mounts.is_mounted(lab / "mnt" / "probe")
        (lab / "mnt" / "probe" / "seen").write_text("outside")
        assert (inside / "mnt" / "probe" / "seen").read_text() == "outside"
        # ... and one made outside (as the XFS of mysql) shows inside.
        (lab / "xfs").mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "xfs", str(lab / "xfs")], check=True)
        assert mounts.is_mounted(inside / "xfs")
        # A walk over the lab dir meets the lab's own files only: not the root, /proc or /dev.
        walked = {p.name for p in lab.rglob("*")}
        assert walked == {"state.json", "mnt", "probe", "seen", "xfs"}, walked
        # The root and /dev are read-only in the view: removing through them fails.
        with pytest.raises(OSError):
            (view / "dev" / "null").unlink()
        with pytest.raises(OSError):
            (view / "etc" / "hostname").unlink()
    finally:
        subprocess.run(["umount", str(lab / "xfs")])
        subprocess.run(["umount", str(lab / "mnt" / "probe")])
        left = env.release()
        for mnt in mounts.mounts_under(lab):
            mounts.unmount(Path(mnt))
    assert left == [] and mounts.mounts_under(lab) == [] and mounts.mounts_under(view) == []
    assert not view.exists()
    assert Path("/dev/null").exists() and (rootfs.root_path(FORKY) / "etc" / "hostname").exists()


def test_superseded_roots_are_removed_unless_a_lab_has_them_mounted(tmp_path):
    current = rootfs.root_path(FORKY, tmp_path)
    for name in (current.name, "forky-000000000001", "forky-000000000002", "trixie-00000000003"):
        (tmp_path / name).mkdir()
    info = (f"42 27 254:0 {tmp_path}/forky-000000000002 /tmp/lab/chroot ro,relatime - ext4 "
            f"/dev/vda rw\n")
    assert rootfs.stale_roots(FORKY, current, info) == [tmp_path / "forky-000000000001"]


def test_a_root_release_without_root_is_refused_with_what_to_use(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(chroot.ConfigError, match="needs root; without root use --lab-ceph=host"):
        chroot.RootCeph("20", tmp_path / "lab").prepare(say=lambda text: None)
    assert not (tmp_path / "lab").exists()


PACKAGES = """Package: ceph-base
Version: 2:20.2.4+ds-2

Package: ceph-common
Source: ceph
Version: 2:{version}
Description: common utilities
 Version: not this one

"""


def test_the_version_a_suite_ships_comes_from_its_packages_index():
    assert rootfs.packages_version(PACKAGES.format(version="20.2.4+ds-2"), "ceph-common") == "2:20.2.4+ds-2"
    assert rootfs.packages_version(PACKAGES, "radosgw") is None


@pytest.mark.parametrize("shipped, why", [
    ("2:20.2.4+ds-2", None),                         # the pin: a root can be built
    (None, None),                                     # index unreadable: the build says why
    ("2:20.2.5+ds-1", "now ships Ceph 20.2.5, not the pinned 20.2.4"),
])
def test_auto_falls_back_when_the_suite_no_longer_ships_the_pin(monkeypatch, tmp_path, shipped, why):
    from cephlab.local import releases

    source = Source("20", "forky", "sid", "20.2.4")
    monkeypatch.setattr(rootfs, "root_path", lambda s: tmp_path / "none")
    monkeypatch.setattr(rootfs.os, "geteuid", lambda: 0)
    monkeypatch.setattr(rootfs, "_unreachable", lambda url: None)
    monkeypatch.setattr(rootfs, "suite_ceph_version", lambda mirror, suite: shipped)
    found = rootfs.why_unbuildable(source, which=lambda prog: "/usr/sbin/" + prog)
    if why is None:
        assert found is None
    else:
        assert why in found and "--lab-ceph=host" in found
        key, reason = releases.choose("auto", lambda: found)
        assert key == "host" and why in reason  # the run's header says so
