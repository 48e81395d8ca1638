"""The lab's stages: one module per stage under this package, and the table they make.

A stage's module (``cephlab/stages/<slug>.py``) holds everything the harness knows of that
stage, apart from its feature, its steps and its generated manifests:

- ``STAGE``: its declaration (:class:`cephlab.stage.Stage`: key, requirements, kind);
- ``LAB_STEP``: the lab's own step that makes it, in the lab's terms (verify mode names it);
- ``POOLS``: the Ceph pools it makes (none by default);
- ``osds(layout)``: the OSD layout (CRUSH host -> OSDs) after it, from the one before;
- its work, one function per target family it runs on, named after the family:
  ``local(lab)`` on the local target (a :class:`cephlab.local.parts.LocalLab`) and
  ``kubernetes(plan, ctx)`` on the Kubernetes targets (adds its operations to ``plan``, a
  :class:`cephlab.k8s.plan_ops.StagePlan`, for the lab in ``ctx``, a
  :class:`cephlab.k8s.plan_context.PlanContext`);
- ``evidence(probe)``: what shows that a lab made by hand did it (verify mode), read only,
  from a :class:`cephlab.evidence.Probe`;
- ``ACTS_ON``: for a stage that builds nothing (``builds=False``), the families its
  scenarios run on.

Everything optional may be left out. Which stages a target family runs is derived from which
modules have work for it (:func:`runs_on`); the stage table (:data:`STAGES`) is every module
here, in the order of their keys. Adding a stage is its module, its feature and its steps.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType
from typing import Callable, Iterable, Optional, Sequence

from ..model import NODES
from ..stage import Stage

#: The target families a stage's module may have work for (see :data:`cephlab.registry`).
FAMILIES = ("local", "kubernetes")


def discover(package: str = __name__, path: Optional[Sequence[str]] = None) -> list[ModuleType]:
    """Every stage module of ``package`` (its modules whose names do not start with _), in
    the order of their stages' keys."""
    found = [importlib.import_module(f"{package}.{info.name}")
             for info in pkgutil.iter_modules(path if path is not None else __path__)
             if not info.name.startswith("_")]
    return check(found)


def check(found: Iterable[ModuleType]) -> list[ModuleType]:
    """The modules in stage order, refused where two disagree or one is incomplete."""
    found = list(found)
    for mod in found:
        stage = getattr(mod, "STAGE", None)
        if not isinstance(stage, Stage):
            raise TypeError(f"stage module {mod.__name__} has no STAGE (a cephlab.stage.Stage)")
        if stage.slug in RESERVED:
            raise ValueError(f"stage slug {stage.slug!r} is a name of cephlab.stages itself: "
                             f"choose another")
        if mod.__name__.rpartition(".")[2] != stage.slug:
            raise ValueError(f"stage module {mod.__name__} declares stage {stage.slug}: the "
                             f"module is named after its stage")
        if not isinstance(getattr(mod, "LAB_STEP", None), str):
            raise TypeError(f"stage module {mod.__name__} has no LAB_STEP (the lab's own step)")
        work = [f for f in FAMILIES if callable(getattr(mod, f, None))]
        if stage.builds and not work:
            raise ValueError(f"stage {stage.slug} builds but has no work: give its module a "
                             f"function named after a target family ({', '.join(FAMILIES)})")
        if not stage.builds and (work or not getattr(mod, "ACTS_ON", ())):
            raise ValueError(f"stage {stage.slug} builds nothing: its module has no work and "
                             f"says where its scenarios run (ACTS_ON)")
    keys = [m.STAGE.key for m in found]
    slugs = [m.STAGE.slug for m in found]
    for what, values in (("key", keys), ("slug", slugs)):
        twice = sorted({v for v in values if values.count(v) > 1})
        if twice:
            raise ValueError(f"two stages share the {what} {', '.join(twice)}")
    found.sort(key=lambda m: m.STAGE.order)
    for mod in found:
        unknown = [r for r in (*mod.STAGE.requires, *mod.STAGE.invalidated_by) if r not in slugs]
        if unknown:
            raise ValueError(f"stage {mod.STAGE.slug} names unknown stage(s) {', '.join(unknown)}")
    return found




def get(slug: str) -> Stage:
    try:
        return BY_SLUG[slug]
    except KeyError:
        raise KeyError(f"unknown stage {slug!r}; stages are: {', '.join(BY_SLUG)}") from None


def module(stage: Stage | str) -> ModuleType:
    """The module of a stage."""
    return _MODULE[get(stage if isinstance(stage, str) else stage.slug).slug]


# ---------------------------------------------------------------------------- work
def work(stage: Stage | str, family: str) -> Optional[Callable]:
    """The stage's work on target family ``family``, or None where it has none."""
    if family not in FAMILIES:
        raise ValueError(f"unknown target family {family!r}; families are: {', '.join(FAMILIES)}")
    fn = getattr(module(stage), family, None)
    return fn if callable(fn) else None


def runs_on(family: str) -> frozenset[str]:
    """The stages a target of ``family`` runs: those with work for it, and those that build
    nothing but whose scenarios act there."""
    return frozenset(s.slug for s in STAGES
                     if work(s, family) is not None or family in getattr(module(s), "ACTS_ON", ()))


def lab_steps() -> dict[str, str]:
    """Stage slug -> the lab's own step that makes it."""
    return {s.slug: module(s).LAB_STEP for s in STAGES}


# ---------------------------------------------------------------------------- the lab's model
def _applied_in_order(applied: Iterable[str]) -> list[Stage]:
    done = set(applied)
    return [s for s in STAGES if s.slug in done]


def osd_layout(applied: Iterable[str], nodes: Iterable[str] = NODES) -> dict[str, int]:
    """CRUSH host -> number of OSDs, after the ``applied`` stages (each stage that changes
    the layout says how, in stage order)."""
    layout: dict[str, int] = {}
    nodes = tuple(nodes)
    for stage in _applied_in_order(applied):
        change = getattr(module(stage), "osds", None)
        if change is not None:
            layout = change(dict(layout), nodes)
    return layout


def lab_pools(applied: Iterable[str]) -> list[str]:
    """The lab's pools after the ``applied`` stages, in stage order."""
    return [p for s in _applied_in_order(applied) for p in getattr(module(s), "POOLS", ())]


def pool_owner(pool: str) -> Optional[str]:
    """The stage that makes ``pool`` (None: no stage of the lab does)."""
    return next((s.slug for s in STAGES if pool in getattr(module(s), "POOLS", ())), None)


# ---------------------------------------------------------------------------- order
def of_item(item) -> Optional[Stage]:
    """The stage a collected scenario belongs to: the stage whose marker (its slug) it
    carries, or None. ``item`` is a pytest item; only its ``get_closest_marker`` is used."""
    for stage in STAGES:
        if item.get_closest_marker(stage.slug) is not None:
            return stage
    return None


def closure(slug: str, applicable=lambda stage: True) -> list[Stage]:
    """``slug`` and everything it transitively requires, requirements first (ties in stage
    order).

    Stages for which ``applicable`` is false (Kubernetes stages on the local target) are
    left out, and so is what only they require.
    """
    out: list[Stage] = []
    seen: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        if name in path:
            raise ValueError(f"stage requirements form a cycle: {' -> '.join(path + (name,))}")
        stage = get(name)
        if name in seen or not applicable(stage):
            return
        for req in sorted(stage.requires, key=lambda r: ORDER[r]):
            visit(req, path + (name,))
        seen.add(name)
        out.append(stage)

    visit(slug, ())
    return out


# ---------------------------------------------------------------------------- the table
#: The package's own names, which a stage's module (an attribute of the package once
#: imported) must not shadow.
RESERVED = frozenset(n for n in dir() if not n.startswith("_")) | {
    "MODULES", "STAGES", "ORDER", "BY_SLUG", "RESERVED"}
MODULES: tuple[ModuleType, ...] = tuple(discover())
STAGES: tuple[Stage, ...] = tuple(m.STAGE for m in MODULES)
ORDER: dict[str, int] = {s.slug: i for i, s in enumerate(STAGES)}
BY_SLUG: dict[str, Stage] = {s.slug: s for s in STAGES}
_MODULE: dict[str, ModuleType] = {m.STAGE.slug: m for m in MODULES}

__all__ = ["BY_SLUG", "FAMILIES", "MODULES", "ORDER", "STAGES", "Stage", "check",
           "closure", "discover", "get", "lab_pools", "lab_steps", "module", "of_item", "osd_layout",
           "pool_owner", "runs_on", "work"]
