"""Steps that move the lab to a stage. The engine does the work; these only name it."""

from __future__ import annotations

from pytest_bdd import given, parsers, when

from cephlab import stages


@given(parsers.parse("the lab has what stage {slug} needs"))
def lab_has_requirements(lab, slug):
    stages.get(slug)  # an unknown slug in a feature is an error, not a no-op
    lab.prepare(slug)


@when(parsers.parse("stage {slug} is applied"))
def stage_applied(lab, slug):
    lab.reach(slug)
