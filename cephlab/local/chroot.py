"""Where the local lab's Ceph programs run: on this machine, or inside a cached root.

:class:`HostCeph` runs them as they are. :class:`RootCeph` runs every one of them (the
daemons, the CLI, ceph-fuse, rbd-fuse, the mkfs tools) with ``chroot`` into the lab's own
*view* of a cached root. The view lives outside the lab dir and outside the checkout, under
/run (a tmpfs: a reboot takes it, and the next command mounts it again), so that a recursive
tool over the lab dir (du, grep -r, a glob, a backup, rm -r) never descends into the root,
/proc, /sys or /dev, nor into the lab again through the view:

    LAB                     bind-mounted onto itself and made shared (a peer group)
    VIEW                    /run/cephlab/views/<lab slug>: a bind of the cached root
                            (private, read-only)
    VIEW/proc, dev (read-only), dev/shm, sys, tmp
    VIEW/LAB                LAB again, a peer of LAB: the lab's paths are the same inside

Because VIEW/LAB is a peer of LAB, a FUSE mount that ceph-fuse makes inside the root at
LAB/mnt/x appears on this machine at LAB/mnt/x, and an XFS mounted on this machine under LAB
appears inside. The lab's destroy unmounts the view (:meth:`RootCeph.release`) and whatever
is mounted below LAB, deepest first, before removing anything; the cached root itself is
never mounted on. The root and /dev are bound read-only, so that nothing can delete the
cached root or this machine's device nodes through the view. ``chroot`` execs the program,
so the pid the harness records is the daemon's own. Each view records its lab dir beside
it (VIEW.lab): a view whose lab dir holds no lab any more (removed by hand, or by a clean-up
of old temporary directories) is released by the next lab that mounts one.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Optional

from ..errors import ConfigError, LabError
from . import lab_slug, mounts, rootfs
from .releases import PRELOAD_LIB, RELEASES, Running, parse_version

#: Where the labs' views of their roots are mounted: outside every lab dir and checkout.
VIEWS_DIR = Path("/run/cephlab/views")
_MOUNTING = threading.Lock()


class HostCeph:
    """The distro's Ceph on this machine."""

    key = "host"

    def wrap(self, argv: list[str]) -> list[str]:
        return list(argv)

    def which(self, program: str) -> Optional[str]:
        return shutil.which(program)

    def exists(self, path: str) -> bool:
        return Path(path).exists()

    def prepare(self, say=print) -> str:
        """Ready to run; returns where the Ceph comes from."""
        return self.origin()

    def ensure_mounted(self) -> None:
        """Nothing to mount: the programs are this machine's."""

    def release(self) -> list[str]:
        """Nothing mounted, nothing to release."""
        return []

    def version_text(self) -> str:
        return _version_text(self.wrap(["ceph", "--version"]))

    def origin(self) -> str:
        return "the distro's packages on this machine"


class RootCeph:
    """A Ceph release from Debian's archive, in a cached root the lab sees through its view."""

    def __init__(self, key: str, lab_dir: Path):
        self.key = key
        self.source = rootfs.source_for(key)
        self.lab_dir = Path(lab_dir)
        self.mnt = view_of(self.lab_dir)
        self.root: Optional[rootfs.Root] = None

    # ------------------------------------------------------------------ running programs
    def wrap(self, argv: list[str]) -> list[str]:
        # The view is mounted by the lab's bootstrap (and again after a reboot); a command
        # for a directory that holds no lab mounts nothing (it fails, as there is no lab).
        if (self.lab_dir / "state.json").exists():
            self.ensure_mounted()
        extra = ([f"LD_PRELOAD={PRELOAD_LIB}"]
                 if argv[0] in RELEASES[self.source.major].preload else [])
        return ["chroot", str(self.mnt), "/usr/bin/env", "-i", *rootfs.CHROOT_ENV, *extra, *argv]

    def which(self, program: str) -> Optional[str]:
        path = rootfs.root_path(self.source)
        for d in ("usr/bin", "usr/sbin", "bin", "sbin"):
            if (path / d / program).exists():
                return f"/{d}/{program}"
        return None

    def exists(self, path: str) -> bool:
        return (rootfs.root_path(self.source) / path.lstrip("/")).exists()

    def prepare(self, say=print) -> str:
        """Build (or reuse) the cached root; the lab's view of it is mounted on first use."""
        if os.geteuid() != 0:
            raise ConfigError(f"--lab-ceph={self.key} runs Ceph with chroot in a root of its "
                              f"own (mounts, chroot), which needs root; without root use "
                              f"--lab-ceph=host")
        try:
            self.root = rootfs.ensure(self.source, say=say)
        except LabError as exc:
            raise ConfigError(f"cannot build the Ceph {self.key} root: {exc}") from None
        return self.root.describe()

    def version_text(self) -> str:
        """``ceph --version`` of the cached root itself: asked before the lab (and its
        mounts) exists, so a refusal leaves nothing behind."""
        return _version_text(["chroot", str(rootfs.root_path(self.source)), "/usr/bin/env",
                              "-i", *rootfs.CHROOT_ENV, "ceph", "--version"])

    def origin(self) -> str:
        return f"Debian {self.source.suite} in {rootfs.root_path(self.source)}"

    # ------------------------------------------------------------------ mounts
    def expected_mounts(self) -> list[str]:
        inner = self.mnt / str(self.lab_dir).lstrip("/")
        return [str(self.lab_dir), str(self.mnt), *(str(self.mnt / p) for p in _SYSTEM),
                str(inner)]

    def ensure_mounted(self) -> None:
        """Mount what is missing, in order (idempotent; cheap when all is there)."""
        if all(m in mounts.mount_table() for m in self.expected_mounts()):
            return
        with _MOUNTING:  # Ceph tools may be started from several threads at once
            self._mount_missing()

    def _mount_missing(self) -> None:
        table = mounts.mount_table()
        if all(m in table for m in self.expected_mounts()):
            return
        root = rootfs.root_path(self.source)
        if not (root / rootfs.MANIFEST).exists():
            raise LabError(f"the Ceph {self.key} root {root} is not built; run the lab "
                           f"(it builds the root) or `python3 -m cephlab setup`")
        release_stale_views()
        lab = str(self.lab_dir)
        if lab not in table:
            self.lab_dir.mkdir(parents=True, exist_ok=True)
            _mount("--bind", lab, lab)
            _mount("--make-private", lab)
            _mount("--make-shared", lab)
        self.mnt.mkdir(parents=True, exist_ok=True)
        _record(self.mnt, self.lab_dir)
        if str(self.mnt) not in table:
            _mount("--bind", str(root), str(self.mnt))
            _mount("--make-private", str(self.mnt))
            _mount("-o", "remount,bind,ro", str(self.mnt))
        table = mounts.mount_table()
        for sub, how in _SYSTEM.items():
            target = self.mnt / sub
            if str(target) not in table:
                _mount(*how, str(target))
                if sub in _READ_ONLY:
                    _mount("-o", "remount,bind,ro", str(target))
        inner = self.mnt / lab.lstrip("/")
        if str(inner) not in mounts.mount_table():
            # The mount point: in the cached root (the view is read-only), or in the lab's
            # own /tmp when the lab dir lies below /tmp.
            for base in (root, self.mnt):
                try:
                    (base / lab.lstrip("/")).mkdir(parents=True, exist_ok=True)
                except OSError:
                    pass
            _mount("--bind", lab, str(inner))  # joins LAB's peer group: mounts propagate

    def release(self) -> list[str]:
        """Unmount the lab's view (deepest first) and remove its mount point; returns what
        is still mounted (nothing, when all went)."""
        return _release_view(self.mnt)


#: Mounted inside the lab's view of the root, in this order: what the daemons need of the
#: kernel (/proc), the devices (/dev/fuse for ceph-fuse and rbd-fuse), POSIX shared memory
#: (the mgr's Python), /sys (BlueStore reads a device's properties there) and a /tmp of the
#: lab's own (the root is read-only).
_SYSTEM = {
    "proc": ("-t", "proc", "proc"),
    "dev": ("--bind", "/dev"),
    "dev/shm": ("-t", "tmpfs", "-o", "mode=1777,size=64m", "tmpfs"),
    "sys": ("--bind", "/sys"),
    "tmp": ("-t", "tmpfs", "-o", "mode=1777,size=256m", "tmpfs"),
}
_READ_ONLY = ("dev",)


def view_of(lab_dir: Path) -> Path:
    """The mount point of ``lab_dir``'s view of its root."""
    return VIEWS_DIR / lab_slug(lab_dir)


def _record_of(view: Path) -> Path:
    """VIEW.lab: the lab dir a view was mounted for (stale_views reads it)."""
    return view.with_name(view.name + ".lab")


def _record(view: Path, lab_dir: Path) -> None:
    _record_of(view).write_text(str(Path(lab_dir).resolve()) + "\n")


def _release_view(view: Path) -> list[str]:
    for mnt in mounts.mounts_under(view):
        mounts.unmount(Path(mnt))
    left = mounts.mounts_under(view)
    if not left:
        _record_of(view).unlink(missing_ok=True)
        with contextlib.suppress(OSError):  # already gone
            view.rmdir()
    return left


def stale_views() -> list[Path]:
    """Views whose lab dir holds no lab any more (no state.json): their lab was removed
    without the harness's destroy."""
    if not VIEWS_DIR.is_dir():
        return []
    stale = []
    for record in sorted(VIEWS_DIR.glob("*.lab")):
        try:
            lab = Path(record.read_text().strip())
        except OSError:
            continue
        if not (lab / "state.json").exists():
            stale.append(record.with_name(record.name.removesuffix(".lab")))
    return stale


def release_stale_views() -> list[Path]:
    """Unmount the views of labs that are gone (they hold the root, /proc and /dev mounted
    under /run); returns the views released."""
    return [view for view in stale_views() if not _release_view(view)]


def _mount(*args: str) -> None:
    done = subprocess.run(["mount", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise LabError(f"mount {' '.join(args)} failed: {done.stderr.strip()}")


def _version_text(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    except FileNotFoundError as exc:
        raise ConfigError(f"cannot run {argv[0]}: {exc}") from None
    if done.returncode != 0:
        raise ConfigError(f"`{' '.join(argv)}` failed: {done.stderr.strip()[-300:]}")
    return done.stdout


def for_release(key: str, lab_dir: Path):
    return HostCeph() if key == "host" else RootCeph(key, lab_dir)


def detect(env) -> Running:
    """The release ``env`` runs, refused unless supported (before any work starts)."""
    return parse_version(env.version_text())
