"""``python -m cephlab``: set-up and housekeeping around the pytest run.

    python -m cephlab setup      install what the local target needs (apt, as root)
    python -m cephlab status     what a kept lab runs, and its ceph status
    python -m cephlab repair     start what of a kept lab is not running
    python -m cephlab destroy    stop a kept lab's daemons (by pid) and remove its files
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from . import procs
from .config import LabConfig, check_lab_dir
from .errors import LabError
from .local.cluster import BINARIES, install_hint, missing_binaries

#: Everything the local target runs, for `setup` (the Ceph daemons and tools, the FUSE
#: clients, MariaDB and XFS for the data stages).
SETUP_PACKAGES = sorted(set(BINARIES.values()) | {
    "ceph-fuse", "rbd-fuse", "radosgw", "ceph-mgr-dashboard", "mariadb-server", "xfsprogs",
    "fuse3",
    "chromium", "chromium-driver",  # the browser checks of the lab's web pages
})
#: Only the harness's own tests need these (the Vagrantfile is evaluated with ruby).
TEST_PACKAGES = ["ruby"]


def setup(args) -> int:
    missing = missing_binaries()
    wanted = SETUP_PACKAGES + (TEST_PACKAGES if args.tests else [])
    if not missing and not args.all and not args.tests:
        print("setup: every program the local target needs is installed")
        return 0
    if os.geteuid() != 0:
        print("setup: installing packages needs root; run:\n"
              f"    {install_hint(missing or BINARIES)}", file=sys.stderr)
        return 1
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends",
                    *wanted], check=True, env=env)
    still = missing_binaries()
    if still:
        print(f"setup: still missing after install: {', '.join(still)}", file=sys.stderr)
        return 1
    print("setup: done")
    return 0


class NoLab(LabError):
    """There is no lab in the given directory."""


def _lab(args):
    from .lab import Lab

    path = check_lab_dir(Path(args.lab_dir))
    if not (path / "state.json").exists():
        raise NoLab(f"no lab in {args.lab_dir}")
    return Lab(LabConfig(target=args.target, target_reason="command line", lab_dir=path),
               announce=print)


def status(args) -> int:
    lab = _lab(args)
    print(f"stages applied: {', '.join(lab.state.applied_slugs()) or 'none'}")
    for rec in lab.target.cluster.records():
        print(f"  {rec.name:<18} pid {rec.pid:<8} {'running' if procs.is_alive(rec) else 'NOT RUNNING'}")
    print(lab.target.describe())
    return 0


def repair(args) -> int:
    lab = _lab(args)
    started = lab.target.repair()
    print(f"started: {', '.join(started)}" if started else "everything was running")
    return 0


def destroy(args) -> int:
    try:
        lab = _lab(args)
    except NoLab as exc:
        print(f"{exc}; nothing to do")
        return 0
    killed = lab.destroy()
    if killed:
        print(f"had to kill (SIGKILL): {', '.join(killed)}")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cephlab", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("setup", help="install the distro packages the local target needs")
    p.add_argument("--all", action="store_true",
                   help="install every package, also when the core programs are present")
    p.add_argument("--tests", action="store_true",
                   help="also install what the harness's own tests use (ruby)")
    p.set_defaults(fn=setup)
    for name, fn in (("status", status), ("repair", repair), ("destroy", destroy)):
        p = sub.add_parser(name)
        p.add_argument("--lab-dir", default=os.environ.get("LAB_DIR", ".lab/local"))
        p.add_argument("--target", default="local", choices=["local"])
        p.set_defaults(fn=fn)
    args = parser.parse_args(argv)
    try:
        return args.fn(args)
    except NoLab as exc:
        print(exc)
        return 1
    except LabError as exc:
        print(f"cephlab: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
