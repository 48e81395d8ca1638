"""``python -m cephlab``: set-up and housekeeping around the pytest run.

    python -m cephlab setup      install what the local target needs (apt, as root)
    python -m cephlab status     what a kept lab runs, and where
    python -m cephlab repair     start what of a kept lab is not running
    python -m cephlab destroy    stop a kept lab's daemons (by pid) and remove its files
    python -m cephlab stages     which stage runs on which target, and why not

status, repair and destroy open the lab with the options it was built with (target, ip
prefix, Ceph release: saved in its state.json), whatever the target.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from .errors import LabError
from .local.cluster import BINARIES, install_hint, missing_binaries

#: Everything the local target runs, for `setup` (the Ceph daemons and tools, the FUSE
#: clients, MariaDB and XFS for the data stages).
SETUP_PACKAGES = sorted(set(BINARIES.values()) | {
    "ceph-fuse", "rbd-fuse", "radosgw", "ceph-mgr-dashboard", "mariadb-server", "xfsprogs",
    "fuse3",
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


def _lab(args, for_destroy: bool = False):
    from .lab import Lab

    return Lab.open(Path(args.lab_dir), announce=print, for_destroy=for_destroy)


def status(args) -> int:
    lab = _lab(args)
    print(f"stages applied: {', '.join(lab.state.applied_slugs()) or 'none'}")
    for line in lab.target.status():
        print(f"  {line}")
    print(lab.target.describe())
    return 0


def repair(args) -> int:
    lab = _lab(args)
    started = lab.target.repair()
    print(f"started: {', '.join(started)}" if started else "everything was running")
    return 0


def destroy(args) -> int:
    from .lab import NoLab

    try:
        lab = _lab(args, for_destroy=True)
    except NoLab as exc:
        print(f"{exc}; nothing to do")
        return 0
    killed = lab.destroy()
    if killed:
        print(f"had to kill (SIGKILL): {', '.join(killed)}")
    return 0


def stages_table(args) -> int:
    from .stages import STAGES
    from .targets import TARGETS, support_table

    table = support_table()
    names = list(TARGETS)
    print(f"{'stage':<22}" + "".join(f"{n:<9}" for n in names))
    for stage in STAGES:
        row = table[stage.slug]
        print(f"{stage.key + ' ' + stage.slug:<22}" + "".join(
            f"{'runs' if row[n] is None else '-':<9}" for n in names))
    if args.why:
        for stage in STAGES:
            for n in names:
                if table[stage.slug][n]:
                    print(f"{stage.slug} on {n}: {table[stage.slug][n]}")
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
        p.set_defaults(fn=fn)
    p = sub.add_parser("stages", help="which stage runs on which target")
    p.add_argument("--why", action="store_true", help="also say why a stage does not run")
    p.set_defaults(fn=stages_table)
    args = parser.parse_args(argv)
    from .lab import NoLab

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
