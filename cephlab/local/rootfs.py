"""Root filesystems holding a Ceph release from Debian's archive, built once and cached.

A root is made with ``debootstrap --variant=minbase`` and ``apt-get install`` of the Ceph
packages, outside every lab directory (``/var/cache/cephlab/roots`` as root, else
``$XDG_CACHE_HOME/cephlab/roots``; ``CEPHLAB_CACHE`` overrides), under a name that carries
a digest of what it must hold. ``manifest.json`` in the root records what was asked for
and what was installed; :func:`cache_decision` compares it with what is wanted now, so a
root is reused by every later lab and rebuilt when the suite, the package list or the
pinned Ceph version changes. A build runs in a temporary directory renamed into place only
when complete, under a lock, so a half-built root is never used.

Nothing of the root is mounted by this module except during a build (and unmounted
after it); the labs mount it each under their own directory (:mod:`cephlab.local.chroot`).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Optional

from ..errors import ConfigError, LabError
from . import mounts
from .releases import PRELOAD_LIB, RELEASES, SOURCES, Source, upstream_version

#: Bump when the way a root is built changes (it is part of every root's cache key).
BUILDER_REVISION = 1
#: What every root holds: the daemons and tools the local target runs.
PACKAGES = ("ceph-mon", "ceph-osd", "ceph-mgr", "ceph-mds", "ceph-common", "ceph-base",
            "ceph-fuse", "rbd-fuse", "radosgw", "ceph-mgr-dashboard")
#: Checked in a finished root before it is used.
REQUIRED = ("usr/bin/ceph", "usr/bin/ceph-mon", "usr/bin/ceph-osd", "usr/bin/ceph-mgr",
            "usr/bin/ceph-mds", "usr/bin/rados", "usr/bin/rbd", "usr/bin/radosgw",
            "usr/bin/radosgw-admin", "usr/bin/ceph-fuse", "usr/bin/rbd-fuse",
            "usr/bin/monmaptool", "usr/bin/ceph-authtool", "usr/share/ceph/mgr/dashboard")
DEFAULT_MIRROR = "http://deb.debian.org/debian"
MANIFEST = "manifest.json"

Say = Callable[[str], None]


def cache_dir() -> Path:
    if os.environ.get("CEPHLAB_CACHE"):
        return Path(os.environ["CEPHLAB_CACHE"]) / "roots"
    if os.geteuid() == 0:
        return Path("/var/cache/cephlab/roots")
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "cephlab" / "roots"


def host_mirror(sources_dir: Path = Path("/etc/apt/sources.list.d"),
                sources_list: Path = Path("/etc/apt/sources.list")) -> str:
    """The Debian mirror this machine's apt uses (so a root comes from the same place);
    ``CEPHLAB_DEBIAN_MIRROR`` overrides, Debian's own redirector when none is configured."""
    if os.environ.get("CEPHLAB_DEBIAN_MIRROR"):
        return os.environ["CEPHLAB_DEBIAN_MIRROR"].rstrip("/")
    texts = [p.read_text(errors="replace") for p in sorted(sources_dir.glob("*.sources"))
             if p.is_file()] if sources_dir.is_dir() else []
    for text in texts:
        for line in text.splitlines():
            if line.startswith("URIs:"):
                for uri in line.split()[1:]:
                    if uri.rstrip("/").endswith("/debian"):
                        return uri.rstrip("/")
    if sources_list.is_file():
        for line in sources_list.read_text(errors="replace").splitlines():
            parts = line.split()
            if parts[:1] == ["deb"]:
                for uri in parts[1:]:
                    if uri.startswith("http") and uri.rstrip("/").endswith("/debian"):
                        return uri.rstrip("/")
    return DEFAULT_MIRROR


# ------------------------------------------------------------------------ the cache decision
SHIM_SOURCE = Path(__file__).with_name("keepdefaults.c")


def wanted(source: Source) -> dict:
    """What a root for ``source`` must hold; its digest names the root's directory."""
    release = RELEASES[source.major]
    packages = set(PACKAGES) | {pkg for pkg, _ in release.root_packages}
    shim = (hashlib.sha256(SHIM_SOURCE.read_bytes()).hexdigest()[:16]
            if release.preload else None)
    want = {"suite": source.suite, "ceph_pin": source.pin, "packages": sorted(packages),
            "preload": shim, "builder": BUILDER_REVISION}
    if release.pinned_debs:
        want["pinned_debs"] = [f"{path} {sha}" for path, sha, _ in release.pinned_debs]
    return want


def digest(want: dict) -> str:
    return hashlib.sha256(json.dumps(want, sort_keys=True).encode()).hexdigest()[:12]


def root_path(source: Source, base: Optional[Path] = None) -> Path:
    return (base or cache_dir()) / f"{source.suite}-{digest(wanted(source))}"


def manifest_problem(manifest: Optional[dict], want: dict, keys: tuple[str, ...]) -> Optional[str]:
    """Why a cached root with ``manifest`` (None: no root) is not the one wanted, in what
    every cached root shares: finished, ``keys`` as wanted, every wanted package installed;
    None when all hold (the caller checks what only its root has)."""
    if manifest is None:
        return "no cached root"
    if not manifest.get("complete"):
        return "the cached root was never finished"
    for key in keys:
        if manifest.get(key) != want.get(key):
            return f"{key} changed: cached {manifest.get(key)!r}, wanted {want.get(key)!r}"
    installed = manifest.get("installed", {})
    missing = [p for p in want["packages"] if p not in installed]
    if missing:
        return f"not installed in the cached root: {', '.join(missing)}"
    return None


def cache_decision(manifest: Optional[dict], want: dict) -> tuple[bool, str]:
    """(reuse?, why) for a cached root whose manifest is ``manifest`` (None: no root)."""
    problem = manifest_problem(manifest, want, ("suite", "ceph_pin", "packages", "preload",
                                                "pinned_debs", "builder"))
    if problem:
        return False, problem
    assert manifest is not None
    ceph = upstream_version(manifest["installed"].get("ceph-common", ""))
    if ceph != want["ceph_pin"]:
        return False, f"the cached root holds ceph {ceph}, the pin is {want['ceph_pin']}"
    return True, f"cached root holds ceph {ceph} from Debian {want['suite']}"


def cached_or_built(path: Path, want: dict, decide: Callable[[Optional[dict], dict], tuple[bool, str]],
                    build: Callable[[str], None], lock_name: str) -> tuple[dict, bool]:
    """(manifest, built now?) of the root at ``path``: reused when ``decide`` allows, else
    ``build(why)`` under a lock (another lab may be building the same root), asked again
    once the lock is held."""
    reuse, why = decide(read_manifest(path), want)
    if not reuse:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path.parent / lock_name, "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            reuse, why = decide(read_manifest(path), want)
            if not reuse:
                build(why)
    manifest = read_manifest(path)
    if manifest is None:
        raise LabError(f"no root at {path} after building it")
    return manifest, not reuse


@dataclass
class Bootstrap:
    """A root being built: its temporary directory, the logged runner, argv prefix that
    runs inside it, and the mirror it came from."""
    tmp: Path
    runner: "_Logged"
    inside: list
    mirror: str


@contextmanager
def bootstrapped(path: Path, suite: str, say: Say, log: Path, what: str) -> Iterator[Bootstrap]:
    """``debootstrap --variant=minbase`` of ``suite`` into ``path``.tmp (an unfinished one
    removed first), with proc, dev and sys mounted and no package starting a daemon, until
    the block ends (then unmounted). ``what`` names the root in errors. Root only."""
    if os.geteuid() != 0:
        raise LabError(f"building {what} (debootstrap, chroot) needs root")
    tmp = path.with_name(path.name + ".tmp")
    if tmp.exists():
        _release(tmp)
        shutil.rmtree(tmp)
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("")
    mirror = host_mirror()
    runner = _Logged(log)
    if not shutil.which("debootstrap"):
        runner.step("installing debootstrap on this machine",
                    ["apt-get", "install", "-y", "-q", "--no-install-recommends", "debootstrap"],
                    say)
    runner.step(f"debootstrap {suite} from {mirror}",
                ["debootstrap", "--variant=minbase", suite, str(tmp), mirror], say, timeout=1200)
    try:
        _mount_for_build(tmp)
        (tmp / "usr/sbin/policy-rc.d").write_text("#!/bin/sh\nexit 101\n")
        os.chmod(tmp / "usr/sbin/policy-rc.d", 0o755)
        yield Bootstrap(tmp, runner, ["chroot", str(tmp), "/usr/bin/env", "-i", *CHROOT_ENV],
                        mirror)
    finally:
        _release(tmp)


def commit(tmp: Path, path: Path, manifest: dict) -> None:
    """A finished root into place: its manifest written last into ``tmp``, then ``tmp``
    renamed over ``path`` (a root is used only once complete)."""
    (tmp / "usr/sbin/policy-rc.d").unlink(missing_ok=True)
    (tmp / MANIFEST).write_text(json.dumps({**manifest, "complete": True, "built_at": time.time()},
                                           indent=2, sort_keys=True))
    if path.exists():
        shutil.rmtree(path)
    os.rename(tmp, path)


def read_manifest(root: Path) -> Optional[dict]:
    try:
        return json.loads((root / MANIFEST).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


# ------------------------------------------------------------------------ building
@dataclass
class Root:
    path: Path
    source: Source
    manifest: dict
    built: bool       #: built by this call (False: reused from the cache)
    seconds: float

    @property
    def ceph_version(self) -> str:
        return upstream_version(self.manifest["installed"]["ceph-common"])

    def describe(self) -> str:
        return (f"ceph {self.ceph_version} from Debian {self.source.suite} in {self.path} "
                f"({'built' if self.built else 'cached'}, {self.seconds:.1f}s)")


def why_unbuildable(source: Source = SOURCES["20"], which=shutil.which) -> Optional[str]:
    """None when a root for ``source`` exists or can be built here, else why not."""
    path = root_path(source)
    if cache_decision(read_manifest(path), wanted(source))[0]:
        return None
    if os.geteuid() != 0:
        return "building a root (debootstrap, chroot, mounts) needs root"
    if not which("debootstrap") and not _installable("debootstrap"):
        return "debootstrap is neither installed nor installable with apt-get"
    mirror = host_mirror()
    problem = _unreachable(mirror)
    if problem:
        return f"Debian's archive at {mirror} cannot be reached: {problem}"
    shipped = suite_ceph_version(mirror, source.suite)
    if shipped is not None and upstream_version(shipped) != source.pin:
        return (f"Debian {source.suite} now ships Ceph {upstream_version(shipped)}, not the "
                f"pinned {source.pin} (cephlab/versions.py, CEPH_VERSION); pin another "
                f"release with --lab-ceph=host (make lab PYTEST_ARGS=--lab-ceph=host) or "
                f"update the pin")
    return None


def suite_ceph_version(mirror: str, suite: str, timeout: float = 60.0) -> Optional[str]:
    """The Debian version of ceph-common that ``suite`` ships (its Packages index, ~10 MB),
    or None when the index cannot be read (the build then says what went wrong)."""
    import lzma
    import urllib.request

    url = f"{mirror}/dists/{suite}/main/binary-amd64/Packages.xz"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            text = lzma.decompress(resp.read()).decode("utf-8", "replace")
    except (OSError, lzma.LZMAError, ValueError):
        return None
    return packages_version(text, "ceph-common")


def packages_version(index: str, package: str) -> Optional[str]:
    """``Version:`` of ``package`` in a Debian Packages index."""
    for stanza in index.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in stanza.splitlines()
                      if ": " in line and not line.startswith(" "))
        if fields.get("Package") == package:
            return fields.get("Version")
    return None


def _installable(package: str) -> bool:
    try:
        out = subprocess.run(["apt-cache", "policy", package], capture_output=True, text=True,
                             timeout=30).stdout
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return False
    return "Candidate:" in out and "Candidate: (none)" not in out


def _unreachable(url: str, timeout: float = 5.0) -> Optional[str]:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"{url}/dists/", timeout=timeout):
            return None
    except urllib.error.HTTPError:
        return None  # the server answered
    except (urllib.error.URLError, OSError) as exc:
        return str(getattr(exc, "reason", exc))


def ensure(source: Source, say: Say = print, log: Optional[Path] = None,
           base: Optional[Path] = None) -> Root:
    """The cached root for ``source``, built first when the cache cannot be reused."""
    start = time.monotonic()
    path = root_path(source, base)
    want = wanted(source)

    def build(why: str) -> None:
        say(f"ceph {source.key}: building a root from Debian {source.suite} ({why})")
        _build(source, path, want, say, log or path.parent / f"{path.name}.build.log")

    manifest, built = cached_or_built(path, want, cache_decision, build, ".lock")
    return Root(path, source, manifest, built, time.monotonic() - start)


def _build(source: Source, path: Path, want: dict, say: Say, log: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    if tmp.exists():
        _release(tmp)
        shutil.rmtree(tmp)
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("")
    mirror = host_mirror()
    runner = _Logged(log)
    if not shutil.which("debootstrap"):
        runner.step("installing debootstrap on this machine",
                    ["apt-get", "install", "-y", "-q", "--no-install-recommends", "debootstrap"],
                    say)
    script = Path("/usr/share/debootstrap/scripts") / source.script
    runner.step(f"debootstrap {source.suite} from {mirror}",
                ["debootstrap", "--variant=minbase", source.suite, str(tmp), mirror, str(script)],
                say, timeout=1200)
    try:
        _mount_for_build(tmp)
        # Daemons are never started by packages here: no service manager, no init scripts.
        (tmp / "usr/sbin/policy-rc.d").write_text("#!/bin/sh\nexit 101\n")
        os.chmod(tmp / "usr/sbin/policy-rc.d", 0o755)
        inside = ["chroot", str(tmp), "/usr/bin/env", "-i", *CHROOT_ENV]
        # Package scripts call systemctl, which fails without systemd as PID 1; a local
        # diversion replaces it by a no-op before any package brings it.
        runner.step("replacing systemctl by a no-op in the root",
                    [*inside, "sh", "-c", "dpkg-divert --local --rename --divert "
                     "/usr/bin/systemctl.distrib --add /usr/bin/systemctl && "
                     "printf '#!/bin/sh\\nexit 0\\n' >/usr/bin/systemctl && "
                     "chmod 755 /usr/bin/systemctl"], say)
        # No `apt-get update`: debootstrap has just fetched the suite's package lists (and a
        # mirror that serves a dated snapshot has a Release file apt would call expired).
        candidate = _candidate(inside, "ceph-common")
        if upstream_version(candidate) != source.pin:
            raise LabError(f"Debian {source.suite} now ships ceph {candidate}, the pin is "
                           f"{source.pin}: update the pin (cephlab/versions.py for 20, "
                           f"cephlab/local/releases.py for 18)")
        runner.step(f"apt-get install ceph {candidate} and {len(want['packages']) - 1} more",
                    [*inside, "apt-get", "install", "-y", "-q", "--no-install-recommends",
                     *want["packages"]], say, timeout=1800,
                    env={"DEBIAN_FRONTEND": "noninteractive"})
        for pool_path, sha, _ in RELEASES[source.major].pinned_debs:
            deb = tmp / "tmp" / Path(pool_path).name
            _fetch(f"{mirror}/{pool_path}", deb, sha)
            name = deb.name.split("_")[0]
            runner.step(f"installing {deb.name} over {source.suite}'s {name} (held)",
                        [*inside, "sh", "-c", f"dpkg -i /tmp/{deb.name} && apt-mark hold {name}"
                         f" && rm /tmp/{deb.name}"], say)
        if want["preload"]:
            src = tmp / "usr/local/src/cephlab" / SHIM_SOURCE.name
            src.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(SHIM_SOURCE, src)
            (tmp / PRELOAD_LIB.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
            runner.step(f"building {PRELOAD_LIB} (preloaded into "
                        f"{', '.join(RELEASES[source.major].preload)})",
                        [*inside, "gcc", "-shared", "-fPIC", "-O2", "-Wall", "-o", PRELOAD_LIB,
                         f"/usr/local/src/cephlab/{SHIM_SOURCE.name}", "-ldl"], say)
        subprocess.run([*inside, "apt-get", "clean"], capture_output=True)
    finally:
        _release(tmp)
    required = REQUIRED + ((PRELOAD_LIB.lstrip("/"),) if want["preload"] else ())
    missing = [p for p in required if not (tmp / p).exists()]
    if missing:
        raise LabError(f"the root built in {tmp} lacks {', '.join(missing)}; log: {log}")
    installed = _installed(tmp)
    manifest = {**want, "complete": True, "mirror": mirror, "built_at": time.time(),
                "installed": installed}
    (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))
    if path.exists():
        shutil.rmtree(path)
    os.rename(tmp, path)
    for old in stale_roots(source, path):
        say(f"  removing the superseded root {old}")
        shutil.rmtree(old)
        old.with_name(old.name + ".build.log").unlink(missing_ok=True)


def stale_roots(source: Source, current: Path, mountinfo: Optional[str] = None) -> list[Path]:
    """Other roots of ``source``'s suite in the cache that no lab has mounted (a lab's view
    of a root is a bind mount whose source, field 4 of mountinfo, is the root's path)."""
    text = Path("/proc/self/mountinfo").read_text() if mountinfo is None else mountinfo
    in_use = {line.split()[3] for line in text.splitlines() if len(line.split()) > 3}
    return sorted(p for p in current.parent.glob(f"{source.suite}-*")
                  if p.is_dir() and p != current and not p.name.endswith(".tmp")
                  and str(p) not in in_use)


CHROOT_ENV = ("PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root", "LC_ALL=C.UTF-8",
              "DEBIAN_FRONTEND=noninteractive")


class _Logged:
    """Runs build steps with their whole output appended to one log, one line per step on
    the terminal; the log's tail is shown only when a step fails."""

    def __init__(self, log: Path):
        self.log = log

    def step(self, what: str, argv: list[str], say: Say, timeout: float = 600,
             env: Optional[dict] = None) -> None:
        start = time.monotonic()
        rc: int | str
        with open(self.log, "ab") as out:
            out.write(f"\n=== {what}: {' '.join(argv)}\n".encode())
            out.flush()
            try:
                rc = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, timeout=timeout,
                                    env={**os.environ, **(env or {})}).returncode
            except subprocess.TimeoutExpired:
                rc = f"timeout after {timeout}s"
        if rc != 0:
            from ..procs import log_tail

            raise LabError(f"{what} failed (exit {rc}); full log {self.log}, last lines:\n"
                           f"{log_tail(self.log, 30)}")
        say(f"  {what}: {time.monotonic() - start:.0f}s")


def _fetch(url: str, dest: Path, sha256: str) -> None:
    import urllib.request

    with urllib.request.urlopen(url, timeout=120) as resp:
        data = resp.read()
    got = hashlib.sha256(data).hexdigest()
    if got != sha256:
        raise LabError(f"{url} has sha256 {got}, expected {sha256}")
    dest.write_bytes(data)


def _candidate(inside: list[str], package: str) -> str:
    out = subprocess.run([*inside, "apt-cache", "policy", package], capture_output=True,
                         text=True).stdout
    for line in out.splitlines():
        if line.strip().startswith("Candidate:"):
            return line.split(":", 1)[1].strip()
    raise LabError(f"apt in the root knows no {package}:\n{out[-500:]}")


def _installed(root: Path) -> dict:
    out = subprocess.run(["chroot", str(root), "dpkg-query", "-W", "-f",
                          "${Package}\t${Version}\t${db:Status-Abbrev}\n"],
                         capture_output=True, text=True, check=True).stdout
    installed = {}
    for line in out.splitlines():
        name, version, status = (line.split("\t") + ["", ""])[:3]
        if status.startswith("ii"):
            installed[name] = version
    return installed


def _mount_for_build(root: Path) -> None:
    subprocess.run(["mount", "-t", "proc", "proc", str(root / "proc")], check=True)
    subprocess.run(["mount", "--bind", "/dev", str(root / "dev")], check=True)
    subprocess.run(["mount", "--bind", "/sys", str(root / "sys")], check=True)


def _release(root: Path) -> None:
    for mnt in mounts.mounts_under(root):
        mounts.unmount(Path(mnt))
    left = mounts.mounts_under(root)
    if left:
        raise LabError(f"could not unmount {', '.join(left)}")


def source_for(key: str) -> Source:
    try:
        return SOURCES[key]
    except KeyError:
        raise ConfigError(f"no root is built for ceph {key!r} (roots: {', '.join(SOURCES)})") from None


def describe_choice(key: str) -> str:
    """For the run's header: the release chosen and where it comes from (before it runs,
    the pin; once a root is cached, the version it holds)."""
    if key == "host":
        return "host (the distro's Ceph on this machine)"
    source = SOURCES[key]
    path = root_path(source)
    manifest = read_manifest(path)
    if manifest is not None and cache_decision(manifest, wanted(source))[0]:
        version = upstream_version(manifest["installed"]["ceph-common"])
        name = RELEASES[int(version.split(".")[0])].name
        return f"ceph {version} {name} from Debian {source.suite} in {path} (cached)"
    return (f"ceph {source.pin} from Debian {source.suite}, root {path} "
            f"(not built yet: built before the first stage)")
