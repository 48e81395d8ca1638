"""How long a lab that cannot become healthy takes to go red, and whether the failure names
the cause: for the benchmark (``bench/bench.py``) and the harness's own tests.

:func:`time_to_red` breaks a healthy kept lab in one way that cannot heal by itself, runs the
wait a scenario's Then steps run (OSDs up and in, then health; the same interval and
fail-fast),
measures the seconds until it fails, undoes the break and waits for health again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from . import ceph_checks
from .errors import LabError, WaitTimeout
from .waits import wait_for

#: how -> (what is done, the Ceph commands that do it, the commands that undo it, what the
#: failure must name: the object and its next command, the lab's own ceph as printed).
#: ``{osd}`` is the OSD the break is applied to, ``{lab}`` the lab dir.
BREAKS: dict[str, tuple[str, list[list[str]], list[list[str]], list[str]]] = {
    "osd_held_down": ("osd.{osd} held down (ceph osd add-noup {osd}; ceph osd down {osd})",
                      [["osd", "add-noup", "{osd}"], ["osd", "down", "{osd}"]],
                      [["osd", "rm-noup", "{osd}"]], ["osd.{osd}", "ceph --lab-dir {lab} -- osd rm-noup {osd}"]),
    "noup": ("cluster flag noup set and osd.{osd} marked down",
             [["osd", "set", "noup"], ["osd", "down", "{osd}"]],
             [["osd", "unset", "noup"]], ["noup", "ceph --lab-dir {lab} -- osd unset noup"]),
    "pause": ("cluster flag pause set", [["osd", "set", "pause"]], [["osd", "unset", "pause"]],
              ["pause", "ceph --lab-dir {lab} -- osd unset pause"]),
    "osd_out": ("osd.{osd} marked out by hand", [["osd", "out", "{osd}"]], [["osd", "in", "{osd}"]],
                ["osd.{osd}", "ceph --lab-dir {lab} -- osd in {osd}"]),
}


@dataclass
class Red:
    how: str
    injected: str
    seconds: float      #: from the break in place (its commands done) to the failed wait
    named: bool         #: the failure names the object and its next command
    message: str        #: the failure's text
    healthy_again: float  #: seconds until healthy after the break was undone
    restarted: list[str]  #: daemons repair had to start after the break (see time_to_red)


def lab_probe(lab):
    """What a scenario's Then steps poll on a lab at its stages: every OSD up and in where
    the lab model puts them, then health with every PG active+clean."""
    from . import stages

    layout = {lab.target.crush_host(node): n
              for node, n in stages.osd_layout(lab.state.applied_slugs()).items()}
    ceph = lab.ceph

    def probe():
        ceph_checks.assert_osds(ceph.json("osd", "dump"), ceph.json("osd", "tree"), layout)
        ceph_checks.assert_pgs_clean(ceph.json("status"))
        return ceph_checks.assert_health(ceph.json("health", "detail"))
    return probe


def time_to_red(lab_dir: Path | str, how: str = "osd_held_down", osd: int = 1,
                timeout: float = 90.0) -> Red:
    """Break the healthy kept lab in ``lab_dir`` as ``how`` says (:data:`BREAKS`), time the
    health wait to red, undo the break and wait for health again."""
    from .lab import Lab

    if how not in BREAKS:
        raise LabError(f"unknown break {how!r}; choose one of: {', '.join(BREAKS)}")
    text, do, undo, names = BREAKS[how]
    lab = Lab.open(Path(lab_dir), announce=lambda _: None)
    ceph = lab.ceph
    probe = lab_probe(lab)
    wait_for("the lab healthy before the break", probe, timeout=timeout, interval=1)
    fmt = lambda argv: [a.format(osd=osd) for a in argv]  # noqa: E731
    try:
        for argv in do:
            ceph.run(*fmt(argv))
        start = time.monotonic()  # the break is in place: the clock runs from here
        try:
            wait_for("the OSDs up and in, HEALTH_OK with every PG active+clean", probe,
                     timeout=timeout, interval=2,
                     fail_fast=lab.target.fail_fast)
            message = "the wait succeeded: the break was not noticed"
        except (AssertionError, LabError) as exc:  # WaitTimeout, CannotHeal, DaemonExited
            message = str(exc)
            if isinstance(exc, WaitTimeout):
                message = "timed out (no fail-fast): " + message
        seconds = time.monotonic() - start
    finally:
        for argv in undo:
            ceph.run(*fmt(argv), check=False)
    again = time.monotonic()
    # An OSD marked down 5 times in 10 minutes stops itself (osd_max_markdown_count): the
    # lab's own repair restarts it, as a user would.
    restarted = lab.target.repair()
    wait_for("the lab healthy after the break was undone", probe, timeout=timeout, interval=1)
    wanted = [n.format(osd=osd, lab=lab.cfg.lab_dir) for n in names]  # as the fix prints it
    return Red(how, text.format(osd=osd), round(seconds, 1),
               all(n in message for n in wanted), message, round(time.monotonic() - again, 1),
               restarted)
