"""``cephlab doctor``: whether this machine can run the lab, before any work.

Each check reads the machine and changes nothing: it says ``ok``, ``setup`` (set-up will
install or build it), ``warn`` (the lab runs, with less: a stage skips or runs slower) or
``blocked`` (the default run cannot work until a person acts), with the detail and what to
do. Exit 0 when nothing is blocked, 1 otherwise.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

OK, SETUP, WARN, BLOCKED = "ok", "setup", "warn", "blocked"

#: Free disk the default run needs where the caches and the lab live (the Ceph root, Node
#: and Ghost about 1.5 GB; a lab's sparse disks grow to a few hundred MB).
MIN_FREE_GB = 5.0


@dataclass(frozen=True)
class Check:
    name: str
    state: str
    detail: str
    todo: str = ""


def checks(lab_dir: Path, ip_prefix: str, tests: bool = False) -> list[Check]:
    """Every check, in the order a person would fix them."""
    found = [_python(), _root(), _kernel_fuse(), _loop(), _nft()]
    found += _disk(lab_dir)
    found += [_apt(tests), _venv(), _ceph_root(), _views(), _ghost(), _browser(), _kube()]
    found += _ports(ip_prefix)
    return found


def _python() -> Check:
    from .install import python_too_old

    why = python_too_old(sys.version_info)
    return Check("python", BLOCKED if why else OK, why or f"{sys.executable} {sys.version.split()[0]}")


def _root() -> Check:
    if os.geteuid() == 0:
        return Check("root", OK, "running as root (mounts, loop devices, chroot, nftables)")
    return Check("root", BLOCKED, "not root: the local lab mounts FUSE and XFS, makes loop "
                 "devices and chroots into its Ceph root", "run as root (sudo make lab)")


def _kernel_fuse() -> Check:
    if Path("/dev/fuse").exists():
        return Check("kernel: fuse", OK, "/dev/fuse (ceph-fuse, rbd-fuse)")
    return Check("kernel: fuse", BLOCKED, "no /dev/fuse: CephFS and the MySQL volume mount through FUSE",
                 "modprobe fuse (in a container: pass /dev/fuse in)")


def _loop() -> Check:
    if Path("/dev/loop-control").exists():
        return Check("kernel: loop", OK, "/dev/loop-control (the MySQL volume's XFS)")
    return Check("kernel: loop", WARN, "no /dev/loop-control: stage mysql and Ghost skip",
                 "modprobe loop")


def _nft() -> Check:
    nft = shutil.which("nft")
    if not nft:
        return Check("kernel: nftables", SETUP, "nft is not installed (the partition fault)",
                     "set-up installs nftables")
    res = subprocess.run([nft, "list", "tables"], capture_output=True, text=True)
    if res.returncode != 0:
        return Check("kernel: nftables", WARN, f"nft cannot list tables ({res.stderr.strip()[:120]}): "
                     "the partition fault skips")
    return Check("kernel: nftables", OK, "nft works (the partition fault's rules)")


def _disk(lab_dir: Path) -> list[Check]:
    from .local import ghost_install

    out, seen = [], set()
    for what, path in (("caches", ghost_install.cache_dir()), ("lab dir", lab_dir)):
        probe = _existing_parent(path)
        dev = os.stat(probe).st_dev
        if dev in seen:
            continue
        seen.add(dev)
        free = shutil.disk_usage(probe).free / 1e9
        state = OK if free >= MIN_FREE_GB else BLOCKED
        out.append(Check(f"disk: {what}", state, f"{free:.1f} GB free at {probe}",
                         "" if state == OK else f"free at least {MIN_FREE_GB:.0f} GB there"))
    return out


def _existing_parent(path: Path) -> Path:
    path = Path(os.path.abspath(path))
    while not path.exists():
        path = path.parent
    return path


def _apt(tests: bool) -> Check:
    from . import install
    from .local import releases

    key, _ = releases.choose("auto", lambda: None)  # what the default run asks for
    try:
        missing = install.missing_packages(install.host_packages(key, tests))
    except FileNotFoundError:
        return Check("distro packages", WARN, "no dpkg-query: not a Debian machine; set-up "
                     "cannot install packages here")
    if not missing:
        return Check("distro packages", OK, "every package set-up installs is installed")
    return Check("distro packages", SETUP, f"set-up will apt-get install {' '.join(missing)}")


def _venv() -> Check:
    from . import install

    venv = install.PROJECT / ".venv"
    stamp = venv / install.STAMP
    if stamp.exists() and stamp.read_text().strip() == install.requirements_digest():
        return Check("python packages", OK, f"{venv} holds the project's packages")
    return Check("python packages", SETUP, f"set-up will make {venv} and pip install the project")


def _ceph_root() -> Check:
    from .local import rootfs
    from .local.releases import SOURCES

    source = SOURCES["20"]
    path = rootfs.root_path(source)
    if rootfs.cache_decision(rootfs.read_manifest(path), rootfs.wanted(source))[0]:
        return Check("ceph 20 root", OK, f"cached in {path}")
    why = rootfs.why_unbuildable(source)
    if why:
        return Check("ceph 20 root", WARN, f"cannot be built here: {why}; the default run "
                     "falls back to this machine's Ceph", "see docs/setup.md")
    return Check("ceph 20 root", SETUP, f"set-up will build it in {path} (about a minute)")


def _views() -> Check:
    from .local import chroot

    stale = chroot.stale_views()
    if stale:
        return Check("root views", WARN, f"{len(stale)} view(s) of a Ceph root still mounted for "
                     f"labs that are gone: {', '.join(str(v) for v in stale)}",
                     "the next lab run releases them")
    return Check("root views", OK, f"no view of a gone lab mounted under {chroot.VIEWS_DIR}")


def _ghost() -> Check:
    from .local import ghost_install

    if ghost_install.installed():
        return Check("node + ghost", OK, f"cached in {ghost_install.cache_dir()}")
    failed = ghost_install._failure_note()
    if failed.is_file():  # set-up tried and could not: the stage skips with this reason
        return Check("node + ghost", WARN, failed.read_text().strip(),
                     "make setup tries again (the npm registry must be reachable)")
    return Check("node + ghost", SETUP, "set-up will install Node and Ghost from the npm "
                 "registry (about a minute)")


def _browser() -> Check:
    from . import browser

    found = browser.find(python=False)  # selenium: the python packages' check
    if found.usable:
        return Check("browser", OK, f"{found.browser} with {found.driver}")
    return Check("browser", SETUP, f"{found.missing}; the browser scenarios skip without it")


def _kube() -> Check:
    try:
        from .nodes import kubebuild

        built = kubebuild.cached()
    except Exception as exc:  # noqa: BLE001 - an optional target: say why, go on
        return Check("nodes target", WARN, f"cannot tell ({type(exc).__name__}: {exc})")
    if built:
        return Check("nodes target", OK, f"Kubernetes built in {built}")
    return Check("nodes target", WARN, "its Kubernetes is not built (only --lab-target=nodes needs it)",
                 "make kube (about 8 minutes cold)")


def _ports(prefix: str, probe: Optional[Callable[[str, int], Optional[str]]] = None) -> list[Check]:
    from .local.listeners import MON_PORTS, port_problem
    from .model import NODES, PORTS

    probe = probe or port_problem
    busy = []
    for i, node in enumerate(NODES):
        ip = f"{prefix}.{i + 2}"
        ports = list(MON_PORTS) + ([PORTS[s] for s in ("ceph_dashboard", "mysql", "ghost", "rgw")]
                                   if i == 0 else [])
        for port in ports:
            problem = probe(ip, port)
            if problem:
                busy.append(f"{ip}:{port} ({node}): {problem}")
    if busy:
        return [Check("ports", BLOCKED, "; ".join(busy),
                      "stop what holds them, or give the lab other addresses: --lab-ip-prefix=127.0.2")]
    return [Check("ports", OK, f"the lab's addresses {prefix}.2-4 are free (mons, dashboard, "
                  "S3, MySQL, Ghost)")]


def render(found: list[Check]) -> list[str]:
    lines = [f"{c.state:<8} {c.name:<18} {c.detail}" + (f"\n{'':<27}→ {c.todo}" if c.todo else "")
             for c in found]
    blocked = [c.name for c in found if c.state == BLOCKED]
    todo = [c.name for c in found if c.state == SETUP]
    if blocked:
        lines.append(f"blocked: {', '.join(blocked)}: the default run cannot work until these are fixed")
    elif todo:
        lines.append(f"ready: set-up (make lab) installs or builds {', '.join(todo)} first")
    else:
        lines.append("ready: nothing to install; make lab runs at once")
    return lines
