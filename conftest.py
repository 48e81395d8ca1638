"""The harness's pytest wiring: the engine's plugin, the lab fixtures and the step modules.

Every ``steps/*_steps.py`` is a step module: a new one is picked up without an edit here
(tests/test_steps_bind.py checks that no step of a feature matches two definitions, so the
order they load in decides nothing)."""

from pathlib import Path

pytest_plugins = [
    "cephlab.plugin",
    "fixtures.lab",
    "fixtures.kube",
    "fixtures.browser",
    *(f"steps.{path.stem}" for path in sorted((Path(__file__).parent / "steps").glob("*_steps.py"))),
]
