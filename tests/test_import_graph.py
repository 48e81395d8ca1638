"""The package's import graph has no circle. Every import of one of the package's own modules
counts, wherever it is written: at the top, inside a function (a lazy import only hides a
circle until the day both ends are imported at the top) or under TYPE_CHECKING."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT
import pytest  # noqa: E402

pytestmark = pytest.mark.unit

PACKAGE = "cephlab"


def modules(root: Path = ROOT) -> dict[str, Path]:
    out = {}
    for path in sorted((root / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _own(name: str, known: dict[str, Path]) -> str | None:
    """The package's module that ``name`` (a module or a name in one) lives in, or None."""
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def _base(node: ast.ImportFrom, package: str) -> str:
    """The module a ``from X import y`` reads, relative levels resolved against ``package``."""
    base = node.module or ""
    if node.level:
        parent = package
        for _ in range(node.level - 1):
            parent = parent.rpartition(".")[0]
        base = f"{parent}.{base}" if base else parent
    return base


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The package's own modules that module ``name`` imports, anywhere in its file."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(filter(None, (_own(a.name, known) for a in node.names)))
        elif isinstance(node, ast.ImportFrom):
            base = _base(node, package)
            for alias in node.names:  # `from . import x` imports the module x
                found.update(filter(None, [_own(f"{base}.{alias.name}", known)]))
    found.discard(name)
    # a module imports its parent packages' __init__ on the way: not an edge of its own
    return {m for m in found if not name.startswith(m + ".")}


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected component of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


#: Packages that import their modules by discovery (importlib), which no import statement
#: shows: each imports every module under it.
DISCOVERING = ("cephlab.stages",)


def graph_of(root: Path = ROOT) -> dict[str, set[str]]:
    known = modules(root)
    graph = {name: imports(name, path, known) for name, path in known.items()}
    for package in DISCOVERING:
        graph[package] |= {m for m in known if m.startswith(package + ".")}
    return graph


def test_the_package_imports_in_one_direction():
    graph = graph_of()
    assert sum(map(len, graph.values())) > 100, "the reading found too few imports to trust it"
    assert circles(graph) == []


def test_a_circle_through_a_lazy_import_is_found(tmp_path):
    """The reading sees an import inside a function and a relative `from . import`."""
    pkg = tmp_path / PACKAGE
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from .sub import b\n")
    (pkg / "sub" / "b.py").write_text("def f():\n    from ..c import X\n")
    (pkg / "c.py").write_text("from . import a\nX = 1\n")
    (pkg / "d.py").write_text("from .a import b\n")
    known = modules(tmp_path)
    graph = {name: imports(name, path, known) for name, path in known.items()}
    assert graph["cephlab.sub.b"] == {"cephlab.c"}
    assert circles(graph) == [["cephlab.a", "cephlab.c", "cephlab.sub.b"]]


def test_the_stage_modules_are_edges_of_the_stages_package():
    """The stage table imports its modules by discovery: a stage module that imports an
    engine which imports the stage table is a circle the reading must see."""
    graph = graph_of()
    assert "cephlab.stages.ceph_cluster" in graph["cephlab.stages"]
    assert "cephlab.stages" not in graph["cephlab.k8s.plan_ops"]  # the type, not the table


def unresolved(name: str, path: Path, known: dict[str, Path]) -> list[str]:
    """The package's own imports in module ``name`` that name no module of the package: a
    module moved or renamed under an import inside a function, which only fails the day
    that function runs. ``from X import y`` needs module X (y may be a name in it);
    ``import X`` needs X."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    bad = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            wanted = [a.name for a in node.names if a.name.split(".")[0] == PACKAGE]
        elif isinstance(node, ast.ImportFrom):
            base = _base(node, package)
            if base.split(".")[0] != PACKAGE:
                continue
            wanted = [base]
        else:
            continue
        bad += [f"{name}:{node.lineno} imports {w}" for w in wanted if w not in known]
    return bad


def test_every_import_of_the_package_names_a_module_that_exists():
    known = modules()
    assert [b for n, p in known.items() for b in unresolved(n, p, known)] == []


def test_an_import_left_behind_by_a_move_is_found(tmp_path):
    pkg = tmp_path / PACKAGE
    (pkg / "sub").mkdir(parents=True)
    for f in ("__init__.py", "sub/__init__.py", "report.py"):
        (pkg / f).write_text("")
    (pkg / "sub" / "hooks.py").write_text("def f():\n    from .report import x\n    from ..report import y\n")
    known = modules(tmp_path)
    assert unresolved("cephlab.sub.hooks", pkg / "sub" / "hooks.py", known) == [
        "cephlab.sub.hooks:2 imports cephlab.sub.report"]
