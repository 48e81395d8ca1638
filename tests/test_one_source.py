"""One source of truth: each lab constant and each stage title is defined once in cephlab/
(cephlab/model.py, each stage's module under cephlab/stages/) and imported everywhere else. An AST scan of the
package finds a second definition: the same literal (a port, a node or pool name, the pod
network, pg_num 150, a stage title) written in another module. Docstrings are prose, not
definitions, and are not scanned."""

from __future__ import annotations

import ast
from pathlib import Path

from cephlab import model, stages
from tests.conftest import ROOT
import pytest  # noqa: E402

pytestmark = pytest.mark.unit

PACKAGE = ROOT / "cephlab"
#: literal -> the module that defines it
DEFINED: dict[object, str] = {
    **{port: "cephlab/model.py" for port in model.PORTS.values()},
    **{name: "cephlab/model.py" for name in model.NODES},
    model.SUBNET: "cephlab/model.py", model.POD_CIDR: "cephlab/model.py",
    model.LOCAL_IP_PREFIX: "cephlab/model.py",
    model.BLOCK_POOL: "cephlab/model.py", model.FS_NAME: "cephlab/model.py",
    model.FS_METADATA: "cephlab/model.py", model.FS_DATA: "cephlab/model.py",
    model.PG_NUM_TARGET: "cephlab/model.py",
    **{stage.title: f"cephlab/stages/{stage.slug}.py" for stage in stages.STAGES},
}
def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = getattr(node, "body", [])
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                ids.add(id(body[0].value))
    return ids


def second_definitions(root: Path = PACKAGE) -> list[str]:
    found = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root.parent).as_posix()
        tree = ast.parse(path.read_text(), rel)
        skip = _docstrings(tree)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Constant) or id(node) in skip or isinstance(node.value, bool):
                continue
            try:
                home = DEFINED.get(node.value)
            except TypeError:
                continue
            if home and home != rel:
                found.append(f"{rel}:{node.lineno}: {node.value!r} (defined in {home})")
    return found


def test_each_lab_constant_and_stage_title_is_defined_once():
    found = second_definitions()
    assert not found, "second definitions; import them instead:\n" + "\n".join(found)


def test_the_scan_finds_a_second_definition(tmp_path):
    pkg = tmp_path / "cephlab"
    pkg.mkdir()
    (pkg / "extra.py").write_text('"""Port 30001 in prose is fine."""\nDASHBOARD = 30001\n'
                                  'POOL = "replicapool"\nTITLE = "sdd added on every node"\n')
    found = second_definitions(pkg)
    assert [f.split(": ", 1)[1] for f in found] == [
        "30001 (defined in cephlab/model.py)", "'replicapool' (defined in cephlab/model.py)",
        "'sdd added on every node' (defined in cephlab/stages/extend_storage.py)"]
