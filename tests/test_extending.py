"""Adding a stage and adding a target, shown on a copy of the harness: a toy stage is one
module under cephlab/stages/, its feature and its steps; a toy target is one line in the
registry and its folder. Nothing else in the copy is edited, and the copy's own
``pytest features/`` runs the toy stage on the toy target and skips every other stage with
the reason; the local target offers the toy stage too, since its module has local work."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.standin

TOY = ROOT / "tests" / "data" / "toy"
REGISTRY_END = "\n}\n#: What ``auto`` may choose"
TOY_ENTRY = '    "toy": Entry("cephlab.toy.target:ToyTarget", "a toy target (tests/test_extending.py)", False),'
COPIED = ("cephlab", "features", "steps", "fixtures", "conftest.py", "pytest.ini")


def _copy(dest: Path) -> Path:
    for name in COPIED:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, dest / name)
    return dest


def _add_toys(tree: Path) -> list[str]:
    """The toy stage and the toy target, as a newcomer would add them; the files written
    or edited, relative to the tree."""
    shutil.copy2(TOY / "toy_stage.py", tree / "cephlab/stages/toy.py")
    shutil.copy2(TOY / "toy.feature", tree / "features/18_toy.feature")
    shutil.copy2(TOY / "toy_steps.py", tree / "steps/toy_steps.py")
    (tree / "cephlab/toy").mkdir()
    (tree / "cephlab/toy/__init__.py").write_text('"""The toy target."""\n')
    shutil.copy2(TOY / "toy_target.py", tree / "cephlab/toy/target.py")
    registry = tree / "cephlab/registry.py"
    text = registry.read_text()
    assert text.count(REGISTRY_END) == 1, "the registry's table no longer ends as expected"
    registry.write_text(text.replace(REGISTRY_END, "\n" + TOY_ENTRY + REGISTRY_END))
    return ["cephlab/stages/toy.py", "features/18_toy.feature", "steps/toy_steps.py",
            "cephlab/toy/__init__.py", "cephlab/toy/target.py", "cephlab/registry.py"]


def _run(tree: Path, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LAB_", "PYTEST_"))}
    env["PYTHONPATH"] = str(tree)
    return subprocess.run([sys.executable, *args], cwd=tree, env=env, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture(scope="module")
def toy_tree(tmp_path_factory) -> Path:
    tree = _copy(tmp_path_factory.mktemp("harness"))
    edited = _add_toys(tree)
    before, after = _files(ROOT), _files(tree)
    assert sorted(set(after) - set(before)) == sorted(set(edited) - {"cephlab/registry.py"})
    changed = [name for name in before if after.get(name) != before[name]]
    assert changed == ["cephlab/registry.py"], changed  # the one edit of an existing file
    return tree


def _files(tree: Path) -> dict[str, bytes]:
    out = {}
    for name in COPIED:
        top = tree / name
        for path in ([top] if top.is_file() else top.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                out[str(path.relative_to(tree))] = path.read_bytes()
    return out


def test_a_toy_stage_and_target_run_in_the_copys_own_features(toy_tree):
    lab_dir = toy_tree / "toy-lab"
    res = _run(toy_tree, "-m", "pytest", "features/", "--lab-target=toy", f"--lab-dir={lab_dir}",
               "-p", "no:cacheprovider", "-q", "-rs", "--lab-destroy=never")
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-3000:]
    assert "1 passed" in out, out[-3000:]
    assert (lab_dir / "toy.txt").read_text() == "toy stage applied\n"
    # every other stage is skipped, each with the reason the toy target gives
    assert "the toy target has no ceph_cluster stage" in out
    assert "stage vms needs Kubernetes; the toy target has none" in out


def test_the_copy_lists_the_toy_stage_and_target(toy_tree):
    res = _run(toy_tree, "-c", "from cephlab import stages, targets, verify\n"
               "print(stages.STAGES[-1].slug, sorted(stages.runs_on('local'))[-1:])\n"
               "print(targets.why_not('local', 'toy'), '|', targets.why_not('toy', 'toy'), '|',\n"
               "      targets.why_not('vagrant', 'toy'))\n"
               "print(verify.LAB_STEPS['toy'])\n")
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0] == "toy ['toy']"          # last in key order; local work, so local runs it
    assert lines[1] == "None | None | the vagrant target has no toy stage"
    assert lines[2] == "write toy.txt in the lab directory (not a step of the lab)"


def test_a_stage_module_without_work_is_refused(tmp_path):
    """The table is checked when it is read: a module that builds but has no work for any
    family names what it lacks, instead of a stage every target skips."""
    tree = _copy(tmp_path)
    (tree / "cephlab/stages/toy.py").write_text(
        "from ..stage import Stage\nSTAGE = Stage('18', 'toy', 'a toy')\nLAB_STEP = 'toy'\n")
    res = _run(tree, "-c", "import cephlab.stages")
    assert res.returncode != 0
    assert "stage toy builds but has no work" in res.stderr, res.stderr[-2000:]
