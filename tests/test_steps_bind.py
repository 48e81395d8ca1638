"""Each step of every feature matches exactly one step definition of steps/, so the order in
which conftest.py loads the step modules (it discovers them) decides nothing."""

from __future__ import annotations

import importlib
from pathlib import Path

from pytest_bdd.feature import get_features
from pytest_bdd.steps import step_function_context_registry

from tests.conftest import ROOT
import pytest  # noqa: E402

pytestmark = pytest.mark.unit


def definitions() -> list:
    for path in sorted((ROOT / "steps").glob("*_steps.py")):
        importlib.import_module(f"steps.{path.stem}")
    return [ctx for ctx in list(step_function_context_registry.values())
            if getattr(ctx.step_func, "__module__", "").startswith("steps.")]


def feature_steps(features_dir: Path = ROOT / "features") -> list[tuple[str, str, str]]:
    """(feature file, step type, step text) of every step of every scenario."""
    out = []
    for feature in get_features([str(features_dir)]):
        for template in feature.scenarios.values():
            contexts = [c for ex in template.examples for c in ex.as_contexts()] or [{}]
            for context in contexts:
                for step in template.render(context).steps:
                    out.append((Path(feature.filename).name, step.type, step.name))
    return out


def matches(defs: list, step_type: str, text: str) -> list[str]:
    return [f"{ctx.step_func.__module__}.{ctx.step_func.__name__}" for ctx in defs
            if ctx.type in (None, step_type) and ctx.parser.is_matching(text)]


def test_every_step_matches_one_definition():
    defs = definitions()
    steps = feature_steps()
    assert len(steps) > 100 and len(defs) > 50, "the reading found too little to trust it"
    twice = {f"{name}: {kind} {text!r} -> {', '.join(found)}"
             for name, kind, text in steps if len(found := matches(defs, kind, text)) > 1}
    missing = {f"{name}: {kind} {text!r}" for name, kind, text in steps
               if not matches(defs, kind, text)}
    assert not twice, "steps with two definitions:\n" + "\n".join(sorted(twice))
    assert not missing, "steps without a definition:\n" + "\n".join(sorted(missing))


def test_a_step_two_definitions_match_is_found():
    """The reading tells a collision apart from a single match (the collision this replaced
    once: "a pod is pinned to {node}" caught a longer phrase)."""
    from pytest_bdd import parsers
    from pytest_bdd.steps import StepFunctionContext

    def one(): ...

    def two(): ...

    defs = [StepFunctionContext("then", one, parsers.parse("a pod is pinned to {node}")),
            StepFunctionContext("then", two, parsers.parse("a pod is pinned to each of {nodes}"))]
    assert len(matches(defs, "then", "a pod is pinned to each of k8s-1, k8s-2")) == 2
    assert len(matches(defs, "then", "a pod is pinned to k8s-1")) == 1
    assert matches(defs, "given", "a pod is pinned to k8s-1") == []
