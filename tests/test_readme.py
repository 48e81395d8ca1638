"""The README is for tasks and tells the truth about the files and commands it names."""

import re
import subprocess
import sys

from cephlab.__main__ import parser
from tests.conftest import ROOT
import pytest  # noqa: E402

pytestmark = pytest.mark.standin

README = (ROOT / "README.md").read_text()


def test_the_readme_is_short_and_points_inside_the_checkout():
    assert len(README.splitlines()) <= 200
    assert "../" not in README  # no path outside the repository
    for path in set(re.findall(r"\b((?:docs|examples|features|bench|reports)/[\w./-]*\w)", README)):
        assert (ROOT / path).exists() or path.startswith("reports/"), path


def test_every_doc_the_index_names_exists_and_no_doc_is_orphaned():
    named = set(re.findall(r"docs/([\w-]+\.md)", README))
    present = {p.name for p in (ROOT / "docs").glob("*.md")}
    assert named <= present, named - present
    assert present <= named, f"docs not linked from the README: {present - named}"


def test_every_cephlab_command_the_readme_names_exists():
    action = next(a for a in parser()._actions if a.__class__.__name__ == "_SubParsersAction")
    for name in set(re.findall(r"\bcephlab ([a-z]+)", README)) - {"is"}:
        assert name in action.choices, name


def test_the_example_cluster_configs_load():
    from cephlab.k8s import cluster_config

    for path in (ROOT / "examples").glob("cluster-*.yaml"):
        assert len(cluster_config.load(path).nodes) == 3, path


def test_the_console_script_is_installed_and_answers():
    script = ROOT / ".venv" / "bin" / "cephlab"
    if not script.exists():  # a run from another environment: that environment's script
        script = ROOT / sys.prefix / "bin" / "cephlab"
    res = subprocess.run([str(script), "--version"], capture_output=True, text=True)
    assert res.returncode == 0 and res.stdout.startswith("cephlab "), res.stderr
    res = subprocess.run([str(script), "stages", "--why"], capture_output=True, text=True, cwd=ROOT)
    assert res.returncode == 0 and "extend_storage" in res.stdout
