"""The Ceph releases the local target runs, and every difference between them, in one place.

``--lab-ceph`` chooses where the local lab's Ceph comes from:

- ``host``: the distro's Ceph on this machine (Debian 12: 16.2 Pacific);
- ``20``: Ceph 20.2 (Tentacle), the release the Rook lab pins, from Debian testing;
- ``18``: Ceph 18.2 (Reef) from Debian 13.

``20`` and ``18`` run in a root filesystem the harness builds (:mod:`cephlab.local.rootfs`).
Whatever the source, the release actually running is read from ``ceph --version`` and must be
one of :data:`SUPPORTED`; anything else is refused before any work starts. The assertion
code (:mod:`cephlab.ceph_checks`) stays one code path: what differs between releases is the
configuration the lab writes and what its root holds, each with its reason below. No
release needed a health code or JSON field of its own: checks.ACCEPTED_WARNINGS and the
checks hold on 16, 18 and 20 as they are.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Optional

from ..errors import ConfigError
from .. import versions

CHOICES = ("host", "20", "18", "auto")


PRELOAD_LIB = "/usr/local/lib/cephlab/keepdefaults.so"


@dataclass(frozen=True)
class Source:
    """A Ceph release built from Debian's archive into a root filesystem."""

    key: str      #: the --lab-ceph value
    suite: str    #: the Debian suite that ships it
    script: str   #: debootstrap's script for the suite (Debian 12's has no 'forky' script)
    pin: str      #: the upstream Ceph version the root must hold

    @property
    def major(self) -> int:
        return int(self.pin.split(".")[0])


#: The pins: 20 follows the Rook lab's image (one constant in versions.py); 18 is what
#: Debian 13 ships.
SOURCES = {
    "20": Source("20", "forky", "sid", versions.CEPH_VERSION),
    "18": Source("18", "trixie", "trixie", "18.2.7"),
}


@dataclass(frozen=True)
class Release:
    """What the lab does differently on one Ceph major release; each entry with its reason."""

    major: int
    name: str
    #: ceph.conf lines added to the [global] section: (line, reason).
    conf: tuple[tuple[str, str], ...] = ()
    #: Packages installed into a root next to the Ceph daemons: (package, reason).
    root_packages: tuple[tuple[str, str], ...] = ()
    #: Programs run with the root's keepdefaults.so preloaded (built from
    #: cephlab/local/keepdefaults.c when the root is built): program -> reason.
    preload: dict = field(default_factory=dict)
    #: Packages of another Debian release installed over the suite's own (and held):
    #: (path in the archive's pool, sha256, reason).
    pinned_debs: tuple[tuple[str, str, str], ...] = ()
    #: The pool the mgr keeps its modules' databases in, created at bootstrap as the mgr
    #: would create it ("" for none): (name, reason).
    mgr_pool: tuple[str, str] = ("", "")

    def conf_lines(self) -> list[str]:
        out = []
        for line, why in self.conf:
            out.append(f"# {why}")
            out.append(line)
        return out


_MCLOCK_RECOVERY = (
    # From Quincy on the OSDs schedule with mClock (here: osd_op_queue mclock_scheduler,
    # profile balanced by default on 18 and 20; Pacific on Debian 12 uses wpq). mClock
    # ignores osd_max_backfills / osd_recovery_max_active unless overridden and shares the
    # OSD between client I/O and recovery by profile. The lab measures how fast a killed
    # OSD's or node's data is clean again, so recovery gets the larger share.
    ("osd mclock profile = high_recovery_ops",
     "mClock (Quincy on): recovery before client I/O, as the fault stages measure recovery"),
    # mClock measures each OSD's IOPS with a benchmark at start; here every OSD is a sparse
    # file on one shared disk, so the figure says nothing about the OSD and costs start-up
    # time: the default for the device class is used instead.
    ("osd mclock skip benchmark = true",
     "mClock: no start-up IOPS benchmark (meaningless on sparse files sharing one disk)"),
    # mClock replaces osd_max_backfills / osd_recovery_max_active with its own defaults
    # (1 and 3 on hdd) unless this is set; the lab's values (ceph_conf.LAB_TIMING) then apply.
    ("osd mclock override recovery settings = true",
     "mClock: use the lab's osd_max_backfills / osd_recovery_max_active, not its hdd defaults"),
)

_MGR_POOL = (
    ".mgr",
    "From Quincy on the mgr keeps its modules' databases in pool .mgr and creates it itself "
    "(1 PG, pg_num_min 1, pg_num_max 32, application mgr) once a module opens its database "
    "and osd_pool_default_size OSDs are up: 2.5-3 s after the OSDs came up here, which the "
    "ceph_cluster stage spent waiting for a PG to exist. Created with the mons instead, "
    "with the mgr's own parameters, its PG peers as soon as the OSDs boot.")

_SHIM_BUILD = (
    ("gcc", "builds keepdefaults.so for rbd-fuse (see preload) inside the root"),
    ("libc6-dev", "the C library headers keepdefaults.so is built with"),
)
_RBD_FUSE_PRELOAD = {
    "rbd-fuse": "rbd-fuse 18.2.7 and 20.2.4 (Debian 18.2.7+ds-1+deb13u1, 20.2.4+ds-2) crash "
                "at start whenever -c, -p or -r is given: their defaults are string literals, "
                "which libfuse's option parser frees before storing the new value (seen here: "
                "SIGSEGV in free() under fuse_opt_parse; Debian 12's 16.2.15 does not). The "
                "preload keeps free() off the program's own literals; the mysql stage needs "
                "-c, -p and -r.",
}

RELEASES = {
    16: Release(16, "pacific"),  # the reference: the lab's settings were written on it
    18: Release(
        18, "reef",
        conf=_MCLOCK_RECOVERY,
        root_packages=_SHIM_BUILD,
        preload=_RBD_FUSE_PRELOAD,
        mgr_pool=_MGR_POOL,
        pinned_debs=((
            "pool/main/p/python-bcrypt/python3-bcrypt_3.2.2-1_amd64.deb",
            "c626ebdb20ecbb7e427dd6a6c66d343fc2246b5b069d5e197af54cc1640b3190",
            "Reef's mgr runs each module in its own Python subinterpreter and every module "
            "imports bcrypt (mgr_util); Debian 13's bcrypt 4.2 is a PyO3 module, which loads "
            "in one interpreter only, so all modules but the first failed "
            "(MGR_MODULE_DEPENDENCY, `ceph fs status` gone). Debian 12's bcrypt 3.2.2 "
            "(cffi) loads in every subinterpreter."),),
    ),
    20: Release(
        20, "tentacle",
        conf=_MCLOCK_RECOVERY,
        root_packages=_SHIM_BUILD + (
            ("ceph-mgr-cephadm",
             "the dashboard's Overview asks for the cephadm module's settings (GET "
             "/api/mgr/module/cephadm), which answers 500 when the module is not installed: a "
             "red notification on the landing page (seen on 20.2.4). Installed, not enabled: "
             "the lab has no orchestrator."),),
        preload=_RBD_FUSE_PRELOAD,
        mgr_pool=_MGR_POOL,
    ),
}
SUPPORTED = tuple(sorted(RELEASES))

_VERSION = re.compile(r"ceph version (\d+)\.(\d+)\.(\d+)\S*(?: \([0-9a-f]+\))? (\w+)")


@dataclass(frozen=True)
class Running:
    """The Ceph a lab runs, as ``ceph --version`` reports it."""

    version: str   #: e.g. 20.2.4
    release: Release

    @property
    def major(self) -> int:
        return self.release.major

    def describe(self) -> str:
        return f"ceph {self.version} {self.release.name}"


def parse_version(text: str) -> Running:
    """``ceph --version`` output -> the running release; ConfigError when unsupported."""
    match = _VERSION.search(text or "")
    if not match:
        raise ConfigError(f"cannot read a Ceph version from {text.strip()[:200]!r}")
    major, minor, patch, name = match.groups()
    version = f"{major}.{minor}.{patch}"
    release = RELEASES.get(int(major))
    if release is None:
        raise ConfigError(
            f"Ceph {version} ({name}) is not a release the local target supports "
            f"(supported: {', '.join(f'{m} {RELEASES[m].name}' for m in SUPPORTED)}); "
            f"choose one with --lab-ceph ({'/'.join(c for c in CHOICES if c != 'auto')})")
    if release.name != name:
        raise ConfigError(f"Ceph {version} calls itself {name!r}, expected {release.name!r}")
    return Running(version, release)


def upstream_version(debian_version: str) -> str:
    """``2:20.2.4+ds-2`` -> ``20.2.4``: the upstream part of a Debian package version."""
    version = debian_version.split(":", 1)[-1]
    return re.split(r"[-+~]", version, maxsplit=1)[0]


def choose(value: Optional[str], probe) -> tuple[str, str]:
    """The --lab-ceph value -> (release key, why). ``probe()`` says why a root cannot be
    built here (None: it can); it is asked only when the choice is automatic."""
    value = (value or "auto").strip().lower()
    if value not in CHOICES:
        raise ConfigError(f"unknown --lab-ceph {value!r}; choose one of: {', '.join(CHOICES)}")
    if value != "auto":
        return value, "chosen explicitly"
    why_not = probe()
    if why_not:
        return "host", f"auto: the distro's Ceph, since a Ceph 20 root cannot be built here ({why_not})"
    return "20", "auto: the release the Rook lab pins, built from Debian's archive"
