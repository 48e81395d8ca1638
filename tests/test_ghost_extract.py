"""Ghost's set-up on the Python a newcomer has: Debian 12's 3.11.2 has no tarfile "data"
filter (3.11.4+), and set-up crashed there with a TypeError. The package's tarball is now
checked by hand where the filter is missing, and no exception of an optional part stops
set-up: it degrades to the ghost stage's skip reason."""

from __future__ import annotations

import io
import stat
import tarfile

import pytest

from cephlab.local import ghost_install

pytestmark = pytest.mark.unit


def _tarball(path, *members):
    with tarfile.open(path, "w:gz") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def _file(name, data=b"x", mode=0o644):
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), mode
    return info, data


def _link(name, target, kind=tarfile.SYMTYPE):
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info, None


@pytest.fixture(params=["python's filter", "by hand (Python < 3.11.4)"])
def mode(request, monkeypatch):
    if request.param.startswith("by hand"):
        monkeypatch.delattr(tarfile, "data_filter", raising=False)
    elif not hasattr(tarfile, "data_filter"):
        pytest.skip("this Python has no tarfile data filter (3.11.4+)")
    return request.param


def test_a_package_unpacks_without_owner_or_set_id_bits(tmp_path, mode):
    tb = _tarball(tmp_path / "p.tgz", _file("package/package.json", b"{}"),
                  _file("package/bin/run", b"#!/bin/sh\n", 0o4755),
                  _link("package/lib", "bin"))
    dest = tmp_path / "out"
    dest.mkdir()
    with tarfile.open(tb) as tar:
        ghost_install.safe_extract(tar, dest)
    assert (dest / "package/package.json").read_text() == "{}"
    run = (dest / "package/bin/run").stat()
    assert not run.st_mode & stat.S_ISUID and run.st_mode & 0o111
    assert (dest / "package/lib").is_symlink()


@pytest.mark.parametrize("member", [
    _file("../escape"), _file("/etc/cephlab-test"), _link("package/l", "/etc/passwd"),
    _link("package/l", "../../outside"), _link("package/h", "../outside", tarfile.LNKTYPE)])
def test_paths_and_links_outside_are_refused(tmp_path, mode, member):
    tb = _tarball(tmp_path / "p.tgz", _file("package/a"), member)
    dest = tmp_path / "out"
    dest.mkdir()
    with tarfile.open(tb) as tar, pytest.raises(Exception) as err:
        ghost_install.safe_extract(tar, dest)
    assert not (tmp_path / "escape").exists() and not (tmp_path / "outside").exists()
    assert err.type.__name__ in ("_Unavailable", "OutsideDestinationError", "AbsolutePathError",
                                 "AbsoluteLinkError", "LinkOutsideDestinationError")


def test_any_exception_of_ghosts_set_up_degrades_to_a_skip_reason(tmp_path, monkeypatch):
    monkeypatch.setenv("CEPHLAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(ghost_install, "_npm", lambda: "/usr/bin/npm")

    def crash(npm, say):
        raise TypeError("extractall() got an unexpected keyword argument 'filter'")
    monkeypatch.setattr(ghost_install, "_install_node", crash)
    said = []
    assert ghost_install.setup(said.append) is False
    assert "TypeError: extractall() got an unexpected keyword argument 'filter'" in said[-1]
    assert "TypeError" in ghost_install.unavailable()
