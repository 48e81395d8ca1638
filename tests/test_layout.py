"""The package layout is written down and the Kubernetes package says what its layers are:
docs/layout.md lists every module of cephlab/ (and none that is gone), the cephlab.k8s
docstring names each of its modules, and no module imports another module's private name."""

from __future__ import annotations

import ast
import re
import subprocess
import sys

from tests.conftest import ROOT
import pytest  # noqa: E402

pytestmark = pytest.mark.standin


def package_modules(under: str = "cephlab") -> set[str]:
    return {str(p.relative_to(ROOT)) for p in (ROOT / under).rglob("*.py") if "__pycache__" not in p.parts}


def test_layout_md_lists_every_module_and_only_those():
    listed = set(re.findall(r"`(cephlab/[\w/]+\.py)`", (ROOT / "docs" / "layout.md").read_text()))
    modules = package_modules()
    assert not modules - listed, (f"docs/layout.md does not list {sorted(modules - listed)}; "
                                  f"regenerate it: python3 docs/layout.py > docs/layout.md")
    assert not listed - modules, f"docs/layout.md lists modules that do not exist: {sorted(listed - modules)}"


def test_the_layout_script_writes_a_row_per_module_with_its_line_count(tmp_path):
    out = subprocess.run([sys.executable, str(ROOT / "docs" / "layout.py")], capture_output=True,
                         text=True, check=True).stdout
    rows = dict(re.findall(r"`(cephlab/[\w/]+\.py)` \| (\d+) \|", out))
    assert set(rows) == package_modules()
    stages = "cephlab/stages/__init__.py"
    assert int(rows[stages]) == len((ROOT / stages).read_text().splitlines())


def test_the_k8s_package_docstring_names_each_of_its_modules():
    doc = ast.get_docstring(ast.parse((ROOT / "cephlab/k8s/__init__.py").read_text()))
    named = set(re.findall(r":mod:`cephlab\.k8s\.(\w+)`", doc))
    modules = {p.stem for p in (ROOT / "cephlab/k8s").glob("*.py") if p.stem != "__init__"}
    assert modules - named == set(), f"cephlab/k8s/__init__.py does not list {sorted(modules - named)}"
    assert named - modules == set(), f"it lists modules that do not exist: {sorted(named - modules)}"


def test_no_private_name_is_imported_across_modules():
    found = []
    for path in (ROOT / "cephlab").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module != "__future__":
                found += [f"{path.relative_to(ROOT)}:{node.lineno} {a.name}" for a in node.names
                          if a.name.startswith("_")]
            if isinstance(node, ast.Import):
                found += [f"{path.relative_to(ROOT)}:{node.lineno} {a.name}" for a in node.names
                          if any(part.startswith("_") for part in a.name.split("."))]
    assert not found, found
