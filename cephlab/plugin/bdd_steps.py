"""Each step's time, and which step failed (pytest-bdd's step hooks)."""

from __future__ import annotations

import time

import pytest

from .session import SESSION

FAILED_STEP = pytest.StashKey[str]()
STEP_START = pytest.StashKey[float]()


def pytest_bdd_before_step(request, feature, scenario, step, step_func):
    request.node.stash[STEP_START] = time.monotonic()


def _step_done(request, feature, step) -> None:
    sess = request.config.stash.get(SESSION, None)
    start = request.node.stash.get(STEP_START, None)
    if sess is None or start is None:
        return
    seconds = time.monotonic() - start
    where = f"{feature.rel_filename}:{step.line_number}"
    sess.step_seconds.append((seconds, f"{step.keyword} {step.name}", where))
    request.node.user_properties.append(("step seconds", f"{seconds:.1f} {where}"))


def pytest_bdd_after_step(request, feature, scenario, step, step_func, step_func_args):
    _step_done(request, feature, step)


def pytest_bdd_step_error(request, feature, scenario, step, step_func, step_func_args, exception):
    _step_done(request, feature, step)
    request.node.stash[FAILED_STEP] = (f"{step.keyword} {step.name}  "
                                       f"({feature.rel_filename}:{step.line_number})")
