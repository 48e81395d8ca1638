"""The Ceph programs the local target runs and the distro packages that provide them.

Standard library only: ``python3 -m cephlab setup`` imports it before the project's own
Python packages are installed.
"""

from __future__ import annotations

import os
import shutil
from typing import Iterable

#: Distro packages that provide what the local target runs, by executable.
BINARIES = {
    "ceph-mon": "ceph-mon", "ceph-osd": "ceph-osd", "ceph-mgr": "ceph-mgr",
    "ceph-mds": "ceph-mds", "ceph": "ceph-common", "ceph-authtool": "ceph-common",
    "rados": "ceph-common", "rbd": "ceph-common", "monmaptool": "ceph-base",
}
#: Ceph components some stages use (object_store, CephFS mounts, mysql), by executable.
COMPONENTS = {"radosgw": "radosgw", "radosgw-admin": "ceph-common", "ceph-fuse": "ceph-fuse",
              "rbd-fuse": "rbd-fuse"}
DASHBOARD_MODULE = "/usr/share/ceph/mgr/dashboard"


def missing_binaries(binaries: Iterable[str] = BINARIES, which=shutil.which) -> list[str]:
    return [b for b in binaries if not which(b)]


def install_hint(missing: Iterable[str], table: dict[str, str] = BINARIES) -> str:
    pkgs = sorted({table[b] for b in missing})
    prefix = "" if os.geteuid() == 0 else "sudo "
    return (f"{prefix}apt-get update && {prefix}apt-get install -y --no-install-recommends "
            f"{' '.join(pkgs)}")
