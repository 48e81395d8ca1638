"""``python -m cephlab``: set-up and housekeeping around the pytest run.

    python -m cephlab setup      the venv, Python and distro packages, the Ceph root
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
import sys
from pathlib import Path

from .errors import LabError


def setup(args) -> int:
    from . import install

    return install.main(args.ceph, tests=args.tests,
                        venv=None if args.no_venv else Path(args.venv), root=not args.no_root)


def _lab(args, for_destroy: bool = False):
    from .lab import Lab

    return Lab.open(Path(args.lab_dir), announce=print, for_destroy=for_destroy)


def _locked(fn):
    """A command that changes the lab holds its lock (cephlab.lock) while it runs."""
    def run(args) -> int:
        from .config import check_lab_dir
        from .lock import LabLock

        path = check_lab_dir(Path(args.lab_dir))
        if not path.exists():
            return fn(args)  # no lab: nothing to lock (the command says so)
        lock = LabLock(path)
        note = lock.acquire()
        if note:
            print(note)
        try:
            return fn(args)
        finally:
            lock.release()
    return run


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
    for name, fn in (("status", status), ("repair", _locked(repair)), ("destroy", _locked(destroy))):
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
