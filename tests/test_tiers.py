"""The tests' tiers and address blocks: every module names its tier; every module that builds
a real lab of its own is in the second tier (marker ``lab``) but for the one smoke module of
the fast tier; a unit test cannot start a child process; and every lab takes its addresses
from the one table, each row used by exactly one file."""

from __future__ import annotations

import ast
import re
import subprocess

import pytest

from tests.conftest import ADDRESS_BLOCKS, ROOT, TIERS

pytestmark = pytest.mark.unit
import pytest  # noqa: E402

pytestmark = pytest.mark.unit

#: The fast tier's one real lab: the smoke test of the lifecycle core.
SMOKE = "test_local_lab.py"
#: What every module that keeps a real lab of its own calls (tests/conftest.py).
BUILDS = "destroyed_at_end("


def _tiers(node: ast.AST) -> set[str]:
    """The tier markers (``pytest.mark.<tier>``) written anywhere under ``node``."""
    return {n.attr for n in ast.walk(node) if isinstance(n, ast.Attribute) and n.attr in TIERS
            and isinstance(n.value, ast.Attribute) and n.value.attr == "mark"}


def module_tiers(tree: ast.Module) -> tuple[set[str], set[str]]:
    """The tiers a module names for itself (``pytestmark``) and those its tests name."""
    own: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(x, "id", "") == "pytestmark" for x in node.targets):
            own |= _tiers(node)
    return own, _tiers(tree) - own if own else _tiers(tree)


def test_every_module_names_its_tier():
    """One tier per module (``pytestmark``), or, in a module whose tests differ (the contract
    over three targets, Ghost with and without npm), a tier on those tests."""
    unnamed, several = [], []
    for path in sorted((ROOT / "tests").glob("test_*.py")):
        own, tests = module_tiers(ast.parse(path.read_text()))
        if len(own) > 1:
            several.append(f"{path.name}: {sorted(own)}")
        elif not own and not tests:
            unnamed.append(path.name)
    assert several == [] and unnamed == [], (
        f"name one tier in pytestmark ({', '.join(TIERS)}): several {several}, none {unnamed}")


def test_every_module_building_a_real_lab_is_in_the_lab_tier_but_the_smoke_test():
    builders, outside = [], []
    for path in sorted((ROOT / "tests").glob("test_*.py")):
        text = path.read_text()
        if BUILDS not in text or path.name == "test_tiers.py":
            continue
        builders.append(path.name)
        own, tests = module_tiers(ast.parse(text))
        if (own or tests) != ({"smoke"} if path.name == SMOKE else {"lab"}) and "lab" not in tests:
            outside.append(f"{path.name}: {sorted(own or tests)}")
    assert SMOKE in builders and len(builders) >= 8, builders
    assert outside == [], f"build real labs outside the lab tier: {outside}"


def test_a_unit_test_that_starts_a_child_process_fails():
    """This module is in the unit tier, so the guard is on here: the tier's promise holds."""
    # AssertionError: pytest loads tests/conftest.py as a module of its own, apart from tests.conftest
    with pytest.raises(AssertionError, match="a unit test started a child process"):
        subprocess.run(["true"], check=False)


def test_the_contract_on_the_local_target_is_in_the_lab_tier_and_the_stand_ins_are_not():
    from tests import test_contract

    marks = {(p.values[0] if hasattr(p, "values") else p):
             [m.name for m in getattr(p, "marks", ())] for p in test_contract.TARGETS}
    assert marks == {"local": ["lab"], "vagrant": [], "cluster": []}


def test_each_address_block_is_used_by_one_file():
    files = [*(ROOT / "tests").glob("*.py"), ROOT / "bench" / "bench.py"]
    users: dict[str, list[str]] = {name: [] for name in ADDRESS_BLOCKS}
    for path in files:
        for name in re.findall(r"loopback_prefix\(['\"]([\w-]+)['\"]\)", path.read_text()):
            assert name in ADDRESS_BLOCKS, f"{path.name} names an unknown block {name}"
            if path.name not in users[name]:
                users[name].append(path.name)
    assert {n: u for n, u in users.items() if len(u) != 1} == {}
    assert len(set(ADDRESS_BLOCKS.values())) == len(ADDRESS_BLOCKS)


def test_no_test_module_shares_its_name_with_one_of_the_features():
    """pytest imports both folders' modules by their bare names (no __init__.py), so a run of
    features/ in this process (harness_in_process) after tests/test_X.py cannot collect a
    features/test_X.py: "import file mismatch"."""
    ours = {p.name for p in (ROOT / "tests").glob("test_*.py")}
    assert ours & {p.name for p in (ROOT / "features").glob("test_*.py")} == set()
