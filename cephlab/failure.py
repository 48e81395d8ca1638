"""How the lab's own failures read in pytest's report, and the commands that come next.

A failure raised by the harness (:class:`cephlab.errors.LabError`: a wait that gave up or
cannot succeed, a daemon gone, a command that failed) is shown as the harness's message,
the wait's last observed state, the causes found in the lab with their next commands, the
failing step, and the lab's own commands, once, without pytest's and tenacity's frames.
``--tb=long`` (or ``-v``) keeps the full traceback; the HTML report always has it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

from . import invoke
from .errors import CannotHeal, DaemonExited, LabError


def cephlab(command: str, lab_dir: Path | str) -> str:
    return invoke.lab(command, lab_dir)


def next_commands(lab_dir: Path | str, describe: str = "") -> list[str]:
    """What to run on a kept lab: status, repair, destroy and its toolbox."""
    lines = [f"status:  {cephlab('status', lab_dir)}   (daemons, mounts, ceph health, causes)",
             f"repair:  {cephlab('repair', lab_dir)}   (restart what is missing, wait until healthy)",
             f"destroy: {cephlab('destroy', lab_dir)}   (stop its daemons by pid, remove it)"]
    if "toolbox: " in describe:  # a lab with Ceph to ask: its own client, as it runs it
        lines.append(f"toolbox: {invoke.ceph(lab_dir, 'status')}   (any ceph, rados or rbd "
                     f"command after the --)")
    return lines


@dataclass
class Crash:
    """What pytest's short summary and junit read of a failure (``reprcrash``)."""

    path: str
    lineno: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.lineno}: {self.message}"


class CompactFailure:
    """A failure's text for pytest's report (it calls :meth:`toterminal`)."""

    def __init__(self, lines: Sequence[str], crash: Crash, full: str):
        self.lines, self.reprcrash, self.full = list(lines), crash, full

    def toterminal(self, tw) -> None:
        for line in self.lines:
            tw.line(line, red=line.startswith("E "), bold=line.startswith("E "))

    def __str__(self) -> str:
        return "\n".join(self.lines)


def wants_compact(tbstyle: str, verbose: int) -> bool:
    return tbstyle in ("auto", "short") and verbose <= 0


def compact(exc: BaseException, *, lab_dir: Path | str, step: str = "", where: str = "",
            causes: Sequence = (), full: str = "") -> Optional[CompactFailure]:
    """The compact failure of ``exc`` (None: not the lab's own failure, pytest's text stays).
    ``causes``: what :meth:`cephlab.targets.Target.causes` found after the failure (a
    :class:`~cephlab.errors.CannotHeal` carries its own)."""
    if not isinstance(exc, LabError):
        return None
    own = list(exc.causes) if isinstance(exc, CannotHeal) else []
    text = str(exc).strip()
    headline, *body = text.splitlines() or [type(exc).__name__]
    if isinstance(exc, DaemonExited) and ", last lines:" in text:
        # its log tail is in the lab diagnostics below: shown once, there
        head, _, rest = text.partition(", last lines:")
        headline, _, log = head.partition("; log ")
        body = ([f"log: {log} (its last lines are under 'lab diagnostics')"] if log else [])
        body += [ln for ln in rest.splitlines() if ln.startswith("(the wait ")]
    repair = cephlab("repair", lab_dir)
    if own:
        first = headline  # already "<the first cause>; next: <its command>"
    elif isinstance(exc, DaemonExited):
        first = f"{headline}; next: {repair}"
        named = headline.split()[1] if headline.startswith("daemon ") else ""
        causes = [c for c in causes if named not in (c.subject, f"daemon {c.subject}")
                  and c.subject != f"daemon {named}"]
    elif causes:
        first, body = causes[0].line(), [headline, *body]
    else:
        first = f"{_one(headline, 110)}; next: {repair}"
        if _one(headline, 110) != headline:
            body = [headline, *body]
    lines = [f"E   {first}"] + [f"E   {ln}" for ln in body if ln.strip()]
    extra = [c for c in causes if c not in own and c.line() != first]
    if extra:
        lines.append("other causes found in the lab:")
        lines += [f"  - {c.line()}" for c in extra]
    lines.append("")
    if step:
        lines.append(f"failed step: {step}" + (f"  ({where})" if where else ""))
    elif where:
        lines.append(f"failed at: {where}")
    lines += ["next:"] + [f"  {ln}" for ln in next_commands(lab_dir)]
    lines.append("full traceback: --tb=long or -v")
    return CompactFailure(lines, Crash(where.split(":")[0] if where else "", _lineno(where), first),
                          full)


def _one(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _lineno(where: str) -> int:
    tail = where.rsplit(":", 1)[-1] if ":" in where else ""
    return int(tail) if tail.isdigit() else 0


def project_frame(entries, root: Path) -> str:
    """``path:line`` of the innermost traceback entry in this project's steps (else its
    fixtures, else anywhere in the project), relative to ``root``."""
    found: dict[str, str] = {}
    for entry in entries:
        try:
            rel = Path(entry.path).resolve().relative_to(root.resolve())
        except (ValueError, TypeError):
            continue
        kind = rel.parts[0] if rel.parts[0] in ("steps", "fixtures") else "project"
        found[kind] = f"{rel}:{entry.lineno + 1}"
    return found.get("steps") or found.get("fixtures") or found.get("project", "")
