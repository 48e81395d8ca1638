"""How a person types this harness's commands: the one place that spells them.

Every command the harness prints (the next commands of a kept or failed lab, a cause's fix,
the toolbox line, toolbox.env, skip reasons) comes from here, so that it can be pasted as
printed: the ``cephlab`` script of the environment that runs the harness (its virtual
environment need not be active), and the lab's own Ceph client through ``cephlab ceph``,
which runs the release and transport the lab uses (this machine's Ceph, the Ceph root of
the lab's release, or the Rook toolbox) with the lab's ceph.conf, never /etc/ceph.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from pathlib import Path
from typing import Sequence

#: The Ceph tools ``cephlab TOOL -- ARGS`` runs (cephlab.ceph.CEPH_TOOLS less radosgw-admin,
#: which a person rarely needs and `cephlab ceph` users can reach the same way).
TOOLS = ("ceph", "rados", "rbd")


def harness() -> list[str]:
    """The argv that starts this install's ``cephlab`` command."""
    script = Path(sys.prefix) / "bin" / "cephlab"
    if sys.prefix != sys.base_prefix and script.exists():  # a virtual environment's script
        return [_short(script)]
    found = shutil.which("cephlab")
    if found and Path(found).resolve().parent == Path(sys.executable).resolve().parent:
        return ["cephlab"]
    return [sys.executable, "-m", "cephlab"]


def _short(path: Path) -> str:
    """``path`` relative to the working directory when it lies below it (.venv/bin/cephlab),
    else absolute."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def command(*words: object) -> str:
    """``cephlab WORDS…`` as a shell line."""
    return " ".join(shlex.quote(str(w)) for w in [*harness(), *words])


def pytest_run(*words: object) -> str:
    """``python -m pytest features/ WORDS…`` with this install's Python, as a shell line."""
    py = Path(sys.executable)
    py_text = _short(py) if sys.prefix != sys.base_prefix else str(py)
    return " ".join(shlex.quote(str(w)) for w in [py_text, "-m", "pytest", "features/", *words])


def lab(name: str, lab_dir: Path | str, *more: object) -> str:
    """A lab command: ``cephlab status --lab-dir D``."""
    return command(name, "--lab-dir", lab_dir, *more)


def ceph(lab_dir: Path | str, *args: object, tool: str = "ceph") -> str:
    """The lab's own Ceph tool: ``cephlab ceph --lab-dir D -- ARGS``."""
    return " ".join([command(tool, "--lab-dir", lab_dir, "--"), *(shlex.quote(str(a)) for a in args)])


def runnable(fix: str, lab_dir: Path | str) -> str:
    """A Ceph command line written as Ceph's docs write it (``ceph osd in 1``) as the lab runs
    it; anything else unchanged."""
    for tool in TOOLS:
        if fix.startswith(tool + " "):
            return f"{command(tool, '--lab-dir', lab_dir, '--')} {fix[len(tool) + 1:]}"
    return fix


def toolbox_env(lab_dir: Path | str, release: str) -> str:
    """toolbox.env: sourced, it makes ``ceph``, ``rados`` and ``rbd`` the lab's own."""
    lines = [f"# Source this file (. {shlex.quote(str(Path(lab_dir) / 'toolbox.env'))}): ceph, rados",
             f"# and rbd then run the lab's own Ceph client ({release}) with its ceph.conf, in",
             "# this shell only. `unset -f ceph rados rbd` undoes it."]
    absolute = Path(os.path.abspath(lab_dir))
    for tool in TOOLS:
        lines.append(f'{tool}() {{ {_absolute_command(tool, absolute)} "$@"; }}')
    return "\n".join(lines) + "\n"


def _absolute_command(tool: str, lab_dir: Path) -> str:
    argv = harness()
    if argv[0] != "cephlab" and not os.path.isabs(argv[0]):
        argv = [os.path.abspath(argv[0]), *argv[1:]]
    return " ".join(shlex.quote(w) for w in [*argv, tool, "--lab-dir", str(lab_dir), "--"])


def split_tool_args(rest: Sequence[str]) -> list[str]:
    """The tool's arguments after ``cephlab TOOL [--lab-dir D] --``."""
    rest = list(rest)
    return rest[1:] if rest[:1] == ["--"] else rest
