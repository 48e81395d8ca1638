"""Binds every stage's feature, in the lab's stage order (pytest runs them in this order)."""

from pytest_bdd import scenarios

from cephlab.stages import STAGES

for _stage in STAGES:
    scenarios(_stage.feature_file)
