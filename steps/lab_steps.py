"""Steps that move the lab to a stage. The engine does the work; these only name it."""

from __future__ import annotations

import pytest
from pytest_bdd import given, parsers, when

from cephlab import stages
from cephlab.verify import NotReached


@given(parsers.parse("the lab has what stage {slug} needs"))
def lab_has_requirements(lab, slug):
    stages.get(slug)  # an unknown slug in a feature is an error, not a no-op
    try:
        lab.prepare(slug)
    except NotReached as exc:  # verify mode: the learner has not got this far
        pytest.skip(str(exc))


@when(parsers.parse("stage {slug} is applied"))
def stage_applied(lab, slug):
    """In verify mode nothing is applied: the stage must be one the lab reached."""
    try:
        lab.reach(slug)
    except NotReached as exc:
        pytest.skip(str(exc))
