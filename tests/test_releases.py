"""Ceph releases of the local target: which `ceph --version` is accepted, the choice of
release, what differs per release, and that an unsupported release is refused before any
work (a harness run against a `ceph` that answers like Octopus)."""

from __future__ import annotations

import os
import stat
import sys

import pytest

from cephlab.errors import ConfigError
from cephlab import versions
from cephlab.local import releases
from cephlab.local.programs import BINARIES, COMPONENTS
from tests.conftest import DATA, loopback_prefix

pytestmark = pytest.mark.standin

VERSIONS = DATA / "ceph_version"


@pytest.mark.parametrize("sample, version, major, name", [
    ("host-16.2.15.txt", "16.2.15", 16, "pacific"),
    ("debian-trixie-18.2.7.txt", "18.2.7", 18, "reef"),
    ("debian-forky-20.2.4.txt", "20.2.4", 20, "tentacle"),
])
def test_supported_releases_are_read_from_ceph_version(sample, version, major, name):
    running = releases.parse_version((VERSIONS / sample).read_text())
    assert (running.version, running.major, running.release.name) == (version, major, name)
    assert running.describe() == f"ceph {version} {name}"


@pytest.mark.parametrize("text, why", [
    ((VERSIONS / "octopus-15.2.17.txt").read_text(), "Ceph 15.2.17 (octopus) is not a release"),
    # The format of a development build of the next release (no stable 21 exists yet).
    ("ceph version 21.1.0-12-g0123abcd (0123abcd0123abcd0123abcd0123abcd0123abcd) umbrella (dev)",
     "Ceph 21.1.0 (umbrella) is not a release"),
    ("ceph version 19.2.3 (d74d168b1c80fb01e1a30d5e4ca9a45b12bc145b) squid (stable)",
     "Ceph 19.2.3 (squid) is not a release"),
    ("bash: ceph: command not found", "cannot read a Ceph version"),
    ("ceph version 20.2.4 (7f793731f1b39eb4f465e960113d2363c311b964) reef (stable)",
     "calls itself 'reef', expected 'tentacle'"),
])
def test_other_releases_are_refused_with_the_reason(text, why):
    with pytest.raises(ConfigError, match=None) as err:
        releases.parse_version(text)
    assert why in str(err.value)


def test_the_pin_of_release_20_is_the_rook_image_tag():
    assert releases.SOURCES["20"].pin == versions.CEPH_VERSION
    assert versions.CEPH_IMAGE == f"quay.io/ceph/ceph:v{versions.CEPH_VERSION}"
    assert releases.SOURCES["20"].suite == "forky" and releases.SOURCES["18"].suite == "trixie"


def test_debian_versions_give_the_upstream_version():
    assert releases.upstream_version("20.2.4+ds-2") == "20.2.4"
    assert releases.upstream_version("18.2.7+ds-1+deb13u1") == "18.2.7"
    assert releases.upstream_version("2:16.2.15+ds-0+deb12u1") == "16.2.15"
    assert releases.upstream_version("") == ""


def test_the_choice_of_release():
    never = lambda: pytest.fail("an explicit choice must not probe")  # noqa: E731
    assert releases.choose("20", never) == ("20", "chosen explicitly")
    assert releases.choose(" HOST ", never) == ("host", "chosen explicitly")
    assert releases.choose(None, lambda: None)[0] == "20"
    key, why = releases.choose("auto", lambda: "debootstrap is missing")
    assert key == "host" and "debootstrap is missing" in why
    with pytest.raises(ConfigError, match="unknown --lab-ceph '17'"):
        releases.choose("17", never)


def test_every_difference_carries_its_reason():
    assert set(releases.SUPPORTED) == {16, 18, 20}
    for rel in releases.RELEASES.values():
        for line, why in rel.conf:
            assert " = " in line and len(why) > 20
        for prog, why in rel.preload.items():
            assert prog == "rbd-fuse" and len(why) > 20
        for path, sha, why in rel.pinned_debs:
            assert path.startswith("pool/main/") and len(sha) == 64 and len(why) > 20
        for pkg, why in rel.root_packages:
            assert pkg and len(why) > 20
    # mClock scheduler from Quincy on: the lab's recovery settings differ from Pacific's
    assert not releases.RELEASES[16].conf
    assert any("mclock" in line for line, _ in releases.RELEASES[20].conf)
    # the mgr's pool is .mgr from Quincy on (Pacific's mgr keeps device_health_metrics)
    assert releases.RELEASES[16].mgr_pool == ("", "")
    for major in (18, 20):
        name, why = releases.RELEASES[major].mgr_pool
        assert name == ".mgr" and len(why) > 20


def test_an_unsupported_release_is_refused_before_any_work(tmp_path, harness_in_process):
    """Every Ceph program present, `ceph --version` answering like Octopus: the run stops
    with the reason, and no lab directory is made."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    os.symlink(sys.executable, bindir / "python3")
    answer = (VERSIONS / "octopus-15.2.17.txt").read_text()
    for prog in {**BINARIES, **COMPONENTS}:
        script = bindir / prog
        script.write_text(f"#!/bin/sh\necho '{answer.strip()}'\n" if prog == "ceph" else
                          "#!/bin/sh\necho \"$0 must not run before the release is checked\" >&2\nexit 99\n")
        script.chmod(script.stat().st_mode | stat.S_IEXEC)
    lab = tmp_path / "lab"
    res = harness_in_process("--lab-target=local", "--lab-ceph=host", f"--lab-dir={lab}",
                      f"--lab-ip-prefix={loopback_prefix('releases')}", "-k", "ceph_cluster",
                      env={"PATH": str(bindir)})
    out = res.stdout + res.stderr
    assert res.returncode == 4, out
    assert "Ceph 15.2.17 (octopus) is not a release the local target supports" in out
    assert "must not run" not in out
    assert not lab.exists()
