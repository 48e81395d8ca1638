"""``cephlab`` (or ``python3 -m cephlab``): set-up and housekeeping around the pytest run.

    cephlab setup      the venv, Python and distro packages, the Ceph root (before the venv
                       exists: /usr/bin/python3 -m cephlab setup, or make setup)
    cephlab status     a kept lab: its options, daemons, mounts, services, ceph health and
                       what keeps it from being healthy (--json: as one document)
    cephlab repair     start what of a kept lab is not running, then wait until it is
                       healthy (or say why it cannot be)
    cephlab destroy    stop a kept lab's daemons (by pid) and remove its files
    cephlab ceph -- ARGS   (and rados, rbd) the lab's own Ceph client, as the lab runs it
    cephlab stages     which stage runs on which target, and why not

status, repair, destroy and the Ceph tools open the lab with the options it was built with
(target, ip prefix, Ceph release: saved in its state.json), whatever the target. The
virtual environment's script (.venv/bin/cephlab) works without activating it.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

from .errors import LabError
from .model import LOCAL_IP_PREFIX

EXIT_CODES = """exit codes:
  0  done; for status and repair: everything that should run runs and ceph health is
     HEALTH_OK or only accepted warnings (cephlab.ceph_checks.ACCEPTED_WARNINGS)
  1  the lab is not healthy: a daemon or mount that should run does not, ceph health has
     other checks, or a cause was found (each printed with its next command); for repair:
     what it could not bring back, and why
  2  bad usage or input, or the harness could not act on the lab (the error says what)
  4  no lab in the given --lab-dir (status, repair)
cephlab ceph, rados and rbd exit with the tool's own code (2 when the lab cannot be opened).
"""
OK, UNHEALTHY, ERROR, NO_LAB = 0, 1, 2, 4

TOOL_HELP = """Run the lab's own {tool} with ARGS: the Ceph release the lab runs (this machine's,
or the one in the lab's Ceph root), with the lab's ceph.conf (never /etc/ceph), on the lab's
transport (the Rook toolbox on a Kubernetes target). Its output and exit code are {tool}'s.

    cephlab {tool} --lab-dir .lab/local -- {example}
"""
TOOL_EXAMPLES = {"ceph": "osd tree", "rados": "df", "rbd": "ls replicapool"}


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


def _lab(args, for_destroy: bool = False, quiet: bool = False):
    from .lab import Lab

    return Lab.open(Path(args.lab_dir), announce=(lambda text: None) if quiet else say,
                    for_destroy=for_destroy)


def default_lab_dir() -> str:
    """$LAB_DIR, else the one kept lab under .lab/ (pytest keeps each target's lab in
    .lab/TARGET), else .lab/local (the default target's, where `make lab` keeps it)."""
    from .state import STATE_FILE

    if os.environ.get("LAB_DIR"):
        return os.environ["LAB_DIR"]
    kept = sorted(str(p.parent) for p in Path(".lab").glob(f"*/{STATE_FILE}"))
    if len(kept) > 1:
        raise LabError(f"several kept labs: {', '.join(kept)}; say which with --lab-dir")
    return kept[0] if kept else ".lab/local"


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


def lab_status(lab) -> dict:
    """The lab as it is, as data: what ``status`` prints and ``status --json`` writes."""
    from . import ceph_checks
    from .failure import next_commands

    cfg = lab.cfg
    doc: dict = {"lab_dir": str(cfg.lab_dir),
                 "options": {"target": cfg.target, "ip_prefix": cfg.ip_prefix,
                             "ceph": cfg.ceph_release, "kubeconfig": cfg.kubeconfig,
                             "context": cfg.kube_context},
                 "stages_applied": lab.state.applied_slugs(), "describe": lab.target.describe(),
                 "parts": lab.target.status(), "not_running": lab.target.broken(),
                 "health": None, "health_error": None, "causes": [], "problems": []}
    problems = doc["problems"]
    if doc["not_running"]:
        problems.append(f"not running: {', '.join(doc['not_running'])}")
    health = None
    if lab.state.applied("ceph_cluster"):   # a Kubernetes-only lab has no Ceph to ask
        try:
            health = lab.ceph.json("health", "detail", timeout=30)
        except LabError as exc:
            problems.append("ceph health cannot be read")
            doc["health_error"] = str(exc).splitlines()[0]
    if health is not None:
        doc["health"] = {"status": health.get("status", "UNKNOWN"), "checks": [
            {"code": code, "message": message, "accepted": ceph_checks.ACCEPTED_WARNINGS.get(code)}
            for code, message in sorted(ceph_checks.health_checks(health).items())]}
        try:
            ceph_checks.assert_health(health)
        except AssertionError as exc:
            problems.append(f"health {exc}")
        found = lab.causes(detail=True)
        doc["causes"] = [{"subject": c.subject, "text": c.text, "next": c.fix} for c in found]
        if found:
            problems.append(f"{len(found)} cause(s)")
    doc["healthy"] = not problems
    doc["next"] = next_commands(cfg.lab_dir, lab.target.describe())
    return doc


def status(args) -> int:
    """Print the lab as it is; exit 1 when anything keeps it from being healthy."""
    import json

    doc = lab_status(_lab(args, quiet=args.json))
    if args.json:
        say(json.dumps(doc, indent=2))
        return OK if doc["healthy"] else UNHEALTHY
    opts = doc["options"]
    say(f"lab {doc['lab_dir']}")
    say(f"  options: target {opts['target']}, ip prefix {opts['ip_prefix']}, ceph {opts['ceph']}"
        + (f", kubeconfig {opts['kubeconfig']}" if opts["kubeconfig"] else "")
        + (f", context {opts['context']}" if opts["context"] else ""))
    say(f"  stages applied: {', '.join(doc['stages_applied']) or 'none'}")
    say(f"  {doc['describe']}")
    say("parts:")
    for line in doc["parts"]:
        say(f"  {line}")
    say("ceph health:")
    if "ceph_cluster" not in doc["stages_applied"]:
        say("  no Ceph cluster yet (stage ceph_cluster is not applied)")
    elif doc["health"] is None:
        say(f"  cannot be read: {doc['health_error']}")
    else:
        say(f"  {doc['health']['status']}")
        for check in doc["health"]["checks"]:
            say(f"  {check['code']}: {check['message']}"
                + (f"  (accepted: {check['accepted']})" if check["accepted"] else ""))
    if doc["causes"]:
        say("causes:")
        for cause in doc["causes"]:
            say(f"  - {cause['text']}; next: {cause['next']}")
    if doc["problems"]:
        say(f"NOT HEALTHY: {'; '.join(doc['problems'])}")
        for line in doc["next"]:
            say(f"  {line}")
        return UNHEALTHY
    say("healthy: every part runs"
        + (f", ceph health {doc['health']['status']}" if doc["health"] else ""))
    return OK


def tool(args) -> int:
    """``cephlab ceph|rados|rbd -- ARGS``: the lab's own Ceph tool, its exit code."""
    import subprocess

    from . import invoke

    lab = _lab(args, quiet=True)
    if not lab.state.applied("ceph_cluster"):
        print(f"cephlab: the lab in {lab.cfg.lab_dir} has no Ceph cluster yet (stage "
              f"ceph_cluster is not applied)", file=sys.stderr)
        return ERROR
    argv = lab.ceph.command([args.command, *invoke.split_tool_args(args.args)])
    try:
        return subprocess.call(argv)
    except FileNotFoundError as exc:
        print(f"cephlab: cannot run {argv[0]!r}: {exc}", file=sys.stderr)
        return ERROR
    except KeyboardInterrupt:
        return 130


def repair(args) -> int:
    """Restart what is missing, report what only a person should change, wait for health."""
    from . import ceph_checks, waits
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
        say("NOT HEALTHY: the lab cannot become healthy until these are done; then run "
            "repair again")
        return UNHEALTHY
    if not lab.state.applied("ceph_cluster"):
        say("the lab has no Ceph cluster yet: nothing to wait for")
        return OK
    timeout = args.timeout if args.timeout is not None else lab.cfg.timeouts.health

    def healthy():
        ceph_checks.assert_pgs_clean(lab.ceph.json("status"))
        return ceph_checks.assert_health(lab.ceph.json("health", "detail"))

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


_PROGRESS_SAID: dict[str, float] = {}  #: each wait's elapsed seconds when last reported


def _progress(name: str, seen: str, elapsed: float) -> None:
    if seen == "done" or elapsed - _PROGRESS_SAID.get(name, -5) < 5:
        return
    _PROGRESS_SAID[name] = elapsed
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


def doctor(args) -> int:
    from . import doctor as dr

    found = dr.checks(Path(args.lab_dir), args.lab_ip_prefix, tests=args.tests)
    for line in dr.render(found):
        say(line)
    return UNHEALTHY if any(c.state == dr.BLOCKED for c in found) else OK


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
    top = argparse.ArgumentParser(prog="cephlab", description=__doc__, epilog=EXIT_CODES,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    top.add_argument("--version", action="version", version=f"cephlab {version()}")
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
                   help="also what the harness's own tests use (ruby, vagrant, and the "
                        "distro's Ceph for the one lab test module on it)")
    p.add_argument("--venv", default=".venv",
                   help="the project's virtual environment (ignored when $VIRTUAL_ENV is set)")
    p.add_argument("--no-venv", action="store_true", help="leave Python packages alone")
    p.add_argument("--no-root", action="store_true", help="do not build the Ceph root now")
    p.add_argument("--kube", action="store_true",
                   help="also build the nodes target's Kubernetes from source (Go modules and "
                        "Debian packages): its programs, node root and images, cached")
    lab_dir: dict[str, Any] = dict(default=None, help="the kept lab's directory (default: $LAB_DIR, "
                                                      "else the one kept lab under .lab/, else .lab/local)")
    p = command("status", "show a kept lab: its options, each daemon, mounts and services, "
                "ceph health and the causes that keep it from being healthy; exit 1 when "
                "something that should run does not or health is not as the lab expects", status)
    p.add_argument("--lab-dir", **lab_dir)
    p.add_argument("--json", action="store_true", help="write it as one JSON document")
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
    for name in ("ceph", "rados", "rbd"):
        p = sub.add_parser(name, help=f"run the lab's own {name} (its release, its ceph.conf, "
                           f"its transport) with ARGS",
                           description=TOOL_HELP.format(tool=name, example=TOOL_EXAMPLES[name]),
                           formatter_class=argparse.RawDescriptionHelpFormatter,
                           usage=f"cephlab {name} [--lab-dir DIR] -- ARGS...")
        p.set_defaults(fn=tool)
        p.add_argument("--lab-dir", **lab_dir)
        p.add_argument("args", nargs=argparse.REMAINDER, help=f"{name}'s own arguments, after --")
    p = command("doctor", "whether this machine can run the lab, before any work: Python, "
                "root, kernel features (fuse, loop, nftables), free disk, what set-up would "
                "install or build, and whether the lab's addresses are free; exit 1 when "
                "something blocks the default run", doctor)
    p.add_argument("--lab-ip-prefix", default=os.environ.get("LAB_IP_PREFIX", LOCAL_IP_PREFIX),
                   help="the addresses whose ports are checked (default: $LAB_IP_PREFIX, else 127.0.1)")
    p.add_argument("--tests", action="store_true",
                   help="also what `make test` installs (this machine's Ceph, ruby)")
    p.add_argument("--lab-dir", **lab_dir)
    p = command("stages", "which stage runs on which target", stages_table)
    p.add_argument("--why", action="store_true", help="also say why a stage does not run")
    return top


def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    try:
        return dist_version("cephlab")
    except PackageNotFoundError:
        return "(not installed; run from its checkout)"


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    from .lab import NoLab

    real, sys.stdout = sys.stdout, _ClosedPipeSafe(sys.stdout)
    try:
        if "lab_dir" in vars(args) and args.lab_dir is None:
            args.lab_dir = default_lab_dir()
        return args.fn(args)
    except NoLab as exc:
        say(f"{exc} (give the lab's directory with --lab-dir)")
        return NO_LAB
    except LabError as exc:
        print(f"cephlab: {exc}", file=sys.stderr)
        return ERROR
    except KeyboardInterrupt:
        print("cephlab: interrupted", file=sys.stderr)
        return ERROR
    except Exception as exc:  # noqa: BLE001 - an unexpected error: exit 2 with a message
        print(f"cephlab: unexpected {type(exc).__name__}: {exc} (a defect of the harness: "
              f"please report it with the command you ran)", file=sys.stderr)
        return ERROR
    finally:
        sys.stdout = real


def entry() -> None:
    """The ``cephlab`` console script."""
    sys.exit(main())


if __name__ == "__main__":
    sys.exit(main())
