"""Stage 18: a toy stage beside the lab (tests/test_extending.py adds it to a copy)."""

from __future__ import annotations

from ..evidence import Probe
from ..local.parts import LocalLab
from ..stage import Stage

STAGE = Stage("18", "toy", "a toy note written in the lab directory")
LAB_STEP = "write toy.txt in the lab directory (not a step of the lab)"


def local(lab: LocalLab) -> None:
    (lab.cfg.lab_dir / "toy.txt").write_text("toy stage applied\n")


def evidence(probe: Probe) -> str | None:
    return None
