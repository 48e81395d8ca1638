"""The tests' tiers and address blocks: every module that builds a real lab of its own is in
the second tier (marker ``lab``) but for the one smoke module of the fast tier, and every lab
takes its addresses from the one table, each row used by exactly one file."""

from __future__ import annotations

import ast
import re

from tests.conftest import ADDRESS_BLOCKS, ROOT

#: The fast tier's one real lab: the smoke test of the lifecycle core.
SMOKE = "test_local_lab.py"
#: What every module that keeps a real lab of its own calls (tests/conftest.py).
BUILDS = "destroyed_at_end("


def _marked_lab(tree: ast.AST) -> bool:
    return any(isinstance(n, ast.Attribute) and n.attr == "lab"
               and isinstance(n.value, ast.Attribute) and n.value.attr == "mark"
               for n in ast.walk(tree))


def test_every_module_building_a_real_lab_is_in_the_lab_tier_but_the_smoke_test():
    builders, unmarked = [], []
    for path in sorted((ROOT / "tests").glob("test_*.py")):
        text = path.read_text()
        if BUILDS not in text or path.name == "test_tiers.py":
            continue
        builders.append(path.name)
        if not _marked_lab(ast.parse(text)):
            unmarked.append(path.name)
    assert SMOKE in builders and len(builders) >= 8, builders
    assert unmarked == [SMOKE], f"build real labs outside the lab tier: {unmarked}"


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
