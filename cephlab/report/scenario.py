"""Which feature file, line and scenario a pytest-bdd item runs.

pytest-bdd (8 and later) keeps each bound scenario function's template in
``pytest_bdd.scenario.scenario_wrapper_template_registry``: its name, its line and its
feature's file. pytest's own location of such an item points into pytest-bdd's package.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import pytest


@dataclass(frozen=True)
class ScenarioRef:
    name: str
    path: str   #: the feature file, relative to the rootdir when it is inside it
    line: int   #: 1-based line of the ``Scenario:`` keyword

    @property
    def location(self) -> str:
        return f"{self.path}:{self.line}"

    @property
    def skip_prefix(self) -> str:
        """Put before a skip reason on pytest's skip line (the table has its own column)."""
        return f"scenario '{self.name}': "


def scenario_of(item: pytest.Item, root: Path) -> Optional[ScenarioRef]:
    from pytest_bdd.scenario import scenario_wrapper_template_registry

    func = getattr(item, "obj", None)  # only python Function items have one
    try:
        template = scenario_wrapper_template_registry.get(func) if func is not None else None
    except TypeError:  # not weak-referenceable: not a scenario
        template = None
    if template is None:
        return None
    path = Path(template.feature.filename)
    try:
        shown = os.path.relpath(path, root) if path.is_relative_to(root) else str(path)
    except ValueError:
        shown = str(path)
    return ScenarioRef(template.name, shown, template.line_number)
