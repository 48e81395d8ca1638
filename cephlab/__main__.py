"""``python -m cephlab``: set-up and housekeeping around the pytest run.

    python -m cephlab setup      the venv, Python and distro packages, the Ceph root
    python -m cephlab status     a kept lab: its options, daemons, mounts, services, ceph
                                 health and what keeps it from being healthy
    python -m cephlab repair     start what of a kept lab is not running, then wait until
                                 it is healthy (or say why it cannot be)
    python -m cephlab destroy    stop a kept lab's daemons (by pid) and remove its files
    python -m cephlab stages     which stage runs on which target, and why not

status, repair and destroy open the lab with the options it was built with (target, ip
prefix, Ceph release: saved in its state.json), whatever the target.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from .errors import LabError

EXIT_CODES = """exit codes:
  0  done; for status and repair: everything that should run runs and ceph health is
     HEALTH_OK or only accepted warnings (cephlab.checks.ACCEPTED_WARNINGS)
  1  the lab is not healthy: a daemon or mount that should run does not, ceph health has
     other checks, or a cause was found (each printed with its next command); for repair:
     what it could not bring back, and why
  2  bad usage or input, or the harness could not act on the lab (the error says what)
  4  no lab in the given --lab-dir (status, repair)
"""
OK, UNHEALTHY, ERROR, NO_LAB = 0, 1, 2, 4


class _ClosedPipeSafe:
    """stdout that survives a reader that went away (``| head``): the rest of the output is
    dropped, the command still finishes its work and keeps its exit code."""

    def __init__(self, stream):
        self.stream, self.closed_pipe = stream, False

    def write(self, text: str) -> int:
        if not self.closed_pipe:
            try:
                self.stream.write(text)
                self.stream.flush()
            except BrokenPipeError:
                self._drop()
        return len(text)

    def flush(self) -> None:
        if not self.closed_pipe:
            try:
                self.stream.flush()
            except BrokenPipeError:
                self._drop()

    def _drop(self) -> None:
        self.closed_pipe = True
        try:  # what is still buffered goes nowhere, also at interpreter exit
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self.stream.fileno())
        except (OSError, ValueError, AttributeError):
            pass

    # What else callers ask of stdout, forwarded by name (no attribute probing).
    def fileno(self) -> int:
        return self.stream.fileno()

    def isatty(self) -> bool:
        return self.stream.isatty()

    @property
    def encoding(self) -> str:
        return self.stream.encoding


def say(text: str = "") -> None:
    print(text, flush=True)


# ---------------------------------------------------------------------------- commands
def setup(args) -> int:
    from . import install

    return install.main(args.ceph, tests=args.tests,
                        venv=None if args.no_venv else Path(args.venv), root=not args.no_root,
                        kube=args.kube)


def _lab(args, for_destroy: bool = False):
    from .lab import Lab

    return Lab.open(Path(args.lab_dir), announce=say, for_destroy=for_destroy)


def _locked(fn):
    """A command that changes the lab holds its lock (cephlab.lock) while it runs."""
    def run(args) -> int:
        from .config import check_lab_dir
        from .lock import LabLock
        from .state import STATE_FILE

        path = check_lab_dir(Path(args.lab_dir), reading=True)
        if not (path / STATE_FILE).exists():
            return fn(args)  # no lab: nothing to lock (the command says so)
        lock = LabLock(path)
        note = lock.acquire()
        if note:
            say(note)
        try:
            return fn(args)
        finally:
            lock.release()
    return run


def status(args) -> int:
    """Print the lab as it is; exit 1 when anything keeps it from being healthy."""
    from . import checks
    from .failure import next_commands

    lab = _lab(args)
    cfg = lab.cfg
    say(f"lab {cfg.lab_dir}")
    say(f"  options: target {cfg.target}, ip prefix {cfg.ip_prefix}, ceph {cfg.ceph_release}"
        + (f", kubeconfig {cfg.kubeconfig}" if cfg.kubeconfig else "")
        + (f", context {cfg.kube_context}" if cfg.kube_context else ""))
    say(f"  stages applied: {', '.join(lab.state.applied_slugs()) or 'none'}")
    say(f"  {lab.target.describe()}")
    problems = []
    say("parts:")
    for line in lab.target.status():
        say(f"  {line}")
    broken = lab.target.broken()
    if broken:
        problems.append(f"not running: {', '.join(broken)}")
    say("ceph health:")
    health = None
    if not lab.state.applied("ceph_cluster"):   # a Kubernetes-only lab has no Ceph to ask
        say("  no Ceph cluster yet (stage ceph_cluster is not applied)")
    else:
        try:
            health = lab.ceph.json("health", "detail", timeout=30)
        except LabError as exc:
            problems.append("ceph health cannot be read")
            say(f"  cannot be read: {str(exc).splitlines()[0]}")
    if health is not None:
        say(f"  {health.get('status', 'UNKNOWN')}")
        for code, message in sorted(checks.health_checks(health).items()):
            accepted = checks.ACCEPTED_WARNINGS.get(code)
            say(f"  {code}: {message}" + (f"  (accepted: {accepted})" if accepted else ""))
        try:
            checks.assert_health(health)
        except AssertionError as exc:
            problems.append(f"health {exc}")
    found = lab.causes(detail=True) if health is not None else []
    if found:
        say("causes:")
        for cause in found:
            say(f"  - {cause.line()}")
        say(f"  (Ceph commands run in the lab's toolbox: {_toolbox(lab)})")
        problems.append(f"{len(found)} cause(s)")
    if problems:
        say(f"NOT HEALTHY: {'; '.join(problems)}")
        for line in next_commands(cfg.lab_dir, lab.target.describe()):
            say(f"  {line}")
        return UNHEALTHY
    say("healthy: every part runs" + (f", ceph health {health.get('status', '?')}" if health else ""))
    return OK


def repair(args) -> int:
    """Restart what is missing, report what only a person should change, wait for health."""
    from . import checks, waits
    from .errors import CannotHeal, WaitTimeout

    lab = _lab(args)
    started = lab.target.repair()
    say(f"started: {', '.join(started)}" if started else "every part of the lab was running")
    found = lab.causes(detail=True)
    lasting = [c for c in found if c.persist == 0]
    if lasting:  # states that do not heal by themselves and that repair does not change
        say("not changed by repair (each with the command that does it):")
        for cause in lasting:
            say(f"  - {cause.line()}")
        say(f"  (Ceph commands run in the lab's toolbox: {_toolbox(lab)})")
        say("NOT HEALTHY: the lab cannot become healthy until these are done; then run "
            "repair again")
        return UNHEALTHY
    if not lab.state.applied("ceph_cluster"):
        say("the lab has no Ceph cluster yet: nothing to wait for")
        return OK
    timeout = args.timeout if args.timeout is not None else lab.cfg.timeouts.health

    def healthy():
        checks.assert_pgs_clean(lab.ceph.json("status"))
        return checks.assert_health(lab.ceph.json("health", "detail"))

    waits.set_progress(_progress)
    start = time.monotonic()
    try:
        result = waits.wait_for("the lab healthy again", healthy, timeout=timeout, interval=2,
                                fail_fast=lab.target.fail_fast)
    except (WaitTimeout, CannotHeal) as exc:
        say(f"NOT HEALTHY after {time.monotonic() - start:.0f}s: {exc}")
        if not isinstance(exc, CannotHeal):  # a cause carries its own; a timeout: look now
            for cause in lab.causes(detail=True):
                say(f"  - {cause.line()}")
        return UNHEALTHY
    finally:
        waits.set_progress(None)
    say(f"healthy: {result}, every PG active+clean (after {time.monotonic() - start:.1f}s)")
    return OK


def _toolbox(lab) -> str:
    describe = lab.target.describe()
    return describe.split("toolbox: ", 1)[1] if "toolbox: " in describe else "see status"


def _progress(name: str, seen: str, elapsed: float, _last={}) -> None:
    if seen == "done" or elapsed - _last.get(name, -5) < 5:
        return
    _last[name] = elapsed
    say(f"[wait] {name}: {elapsed:.0f}s, last seen: {seen[:160]}")


def destroy(args) -> int:
    from .lab import NoLab

    try:
        lab = _lab(args, for_destroy=True)
    except NoLab as exc:
        say(f"{exc}; nothing to do")
        return OK
    killed = lab.destroy()
    if killed:
        say(f"had to kill (SIGKILL): {', '.join(killed)}")
    return OK


def stages_table(args) -> int:
    from .stages import STAGES
    from .targets import TARGETS, support_table

    table = support_table()
    names = list(TARGETS)
    say(f"{'stage':<22}" + "".join(f"{n:<9}" for n in names))
    for stage in STAGES:
        row = table[stage.slug]
        say(f"{stage.key + ' ' + stage.slug:<22}" + "".join(
            f"{'runs' if row[n] is None else '-':<9}" for n in names))
    if args.why:
        for stage in STAGES:
            for n in names:
                if table[stage.slug][n]:
                    say(f"{stage.slug} on {n}: {table[stage.slug][n]}")
        from .targets import target_class

        for n in names:
            for text in target_class(n).limits:
                say(f"what a pass on {n} does not prove: {text}")
    return OK


# ---------------------------------------------------------------------------- parser
def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m cephlab", description=__doc__, epilog=EXIT_CODES,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_: str, fn) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_, description=help_, epilog=EXIT_CODES,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        p.set_defaults(fn=fn)
        return p

    p = command("setup", "the project's venv, its Python packages, the distro packages and "
                "the Ceph root the local target needs", setup)
    p.add_argument("--ceph", default=os.environ.get("LAB_CEPH", "auto"),
                   help="the Ceph release to prepare: host, 20, 18 or auto [env LAB_CEPH]")
    p.add_argument("--tests", action="store_true",
                   help="also what the harness's own tests use (ruby, the distro's Ceph)")
    p.add_argument("--venv", default=".venv",
                   help="the project's virtual environment (ignored when $VIRTUAL_ENV is set)")
    p.add_argument("--no-venv", action="store_true", help="leave Python packages alone")
    p.add_argument("--no-root", action="store_true", help="do not build the Ceph root now")
    p.add_argument("--kube", action="store_true",
                   help="also build the nodes target's Kubernetes from source (Go modules and "
                        "Debian packages): its programs, node root and images, cached")
    lab_dir = dict(default=os.environ.get("LAB_DIR", ".lab/local"),
                   help="the kept lab's directory (default: $LAB_DIR, else .lab/local)")
    p = command("status", "show a kept lab: its options, each daemon, mounts and services, "
                "ceph health and the causes that keep it from being healthy; exit 1 when "
                "something that should run does not or health is not as the lab expects", status)
    p.add_argument("--lab-dir", **lab_dir)
    p = command("repair", "start what of a kept lab is not running (daemons, mounts, "
                "MariaDB, Ghost), report what only a person should change (an OSD marked out "
                "by hand, a cluster flag) with the command that does it, then wait until ceph "
                "health is HEALTH_OK or only accepted warnings with every PG active+clean", _locked(repair))
    p.add_argument("--lab-dir", **lab_dir)
    p.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                   help="how long to wait for health (default: the lab's health timeout, 180 s)")
    p = command("destroy", "stop a kept lab's daemons (only its own, by recorded pid), "
                "unmount what it mounted and remove its directory; a directory without a lab "
                "is left alone (exit 0)", _locked(destroy))
    p.add_argument("--lab-dir", **lab_dir)
    p = command("stages", "which stage runs on which target", stages_table)
    p.add_argument("--why", action="store_true", help="also say why a stage does not run")
    return top


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    from .lab import NoLab

    real, sys.stdout = sys.stdout, _ClosedPipeSafe(sys.stdout)
    try:
        return args.fn(args)
    except NoLab as exc:
        say(f"{exc} (give the lab's directory with --lab-dir)")
        return NO_LAB
    except LabError as exc:
        print(f"cephlab: {exc}", file=sys.stderr)
        return ERROR
    finally:
        sys.stdout = real


if __name__ == "__main__":
    sys.exit(main())
