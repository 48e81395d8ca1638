"""``python -m cephlab``: set-up and housekeeping around the pytest run.

    python -m cephlab setup      the venv, Python and distro packages, the Ceph root
    python -m cephlab status     what a kept lab runs, and its ceph status
    python -m cephlab repair     start what of a kept lab is not running
    python -m cephlab destroy    stop a kept lab's daemons (by pid) and remove its files
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

from . import procs
from .config import LabConfig, check_lab_dir
from .errors import LabError


def setup(args) -> int:
    from . import install

    return install.main(args.ceph, tests=args.tests,
                        venv=None if args.no_venv else Path(args.venv), root=not args.no_root)


class NoLab(LabError):
    """There is no lab in the given directory."""


def _lab(args):
    from .lab import Lab

    path = check_lab_dir(Path(args.lab_dir))
    if not (path / "state.json").exists():
        raise NoLab(f"no lab in {args.lab_dir}")
    return Lab(LabConfig(target=args.target, target_reason="command line", lab_dir=path,
                         ip_prefix=lab_ip_prefix(path)), announce=print)


def lab_ip_prefix(lab_dir: Path) -> str:
    """The addresses the kept lab was built on (its mons' in ceph.conf): a service that
    `repair` starts again must listen where the lab's clients reach it."""
    conf = lab_dir / "ceph.conf"
    found = re.search(r"^mon host = \[v2:(127\.\d+\.\d+)\.\d+:", conf.read_text(), re.M) \
        if conf.exists() else None
    return found.group(1) if found else LabConfig.ip_prefix


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
    p = sub.add_parser("setup", help="the project's venv, its Python packages, the distro "
                       "packages and the Ceph root the local target needs")
    p.add_argument("--ceph", default=os.environ.get("LAB_CEPH", "auto"),
                   help="the Ceph release to prepare: host, 20, 18 or auto [env LAB_CEPH]")
    p.add_argument("--tests", action="store_true",
                   help="also what the harness's own tests use (ruby, the distro's Ceph)")
    p.add_argument("--venv", default=".venv",
                   help="the project's virtual environment (ignored when $VIRTUAL_ENV is set)")
    p.add_argument("--no-venv", action="store_true", help="leave Python packages alone")
    p.add_argument("--no-root", action="store_true", help="do not build the Ceph root now")
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
