"""manifests/ is the renderers' output, exactly, and holds no credential."""

from __future__ import annotations

import filecmp

from cephlab.k8s.export import export
from tests.conftest import ROOT
import pytest  # noqa: E402

pytestmark = pytest.mark.unit


def test_manifests_dir_matches_the_renderers(tmp_path):
    export(tmp_path / "m")
    cmp = filecmp.dircmp(ROOT / "manifests", tmp_path / "m")
    stack, problems = [cmp], []
    while stack:
        c = stack.pop()
        problems += [f"only in manifests/: {c.left_only}"] if c.left_only else []
        problems += [f"missing from manifests/: {c.right_only}"] if c.right_only else []
        _, mismatch, errors = filecmp.cmpfiles(c.left, c.right, c.common_files, shallow=False)
        problems += [f"differs: {mismatch}"] if mismatch or errors else []
        stack.extend(c.subdirs.values())
    assert not problems, "run `python -m cephlab.k8s.export manifests`: " + "; ".join(problems)


def test_no_secret_object_is_committed():
    for path in (ROOT / "manifests").rglob("*.yaml"):
        assert "\nkind: Secret\n" not in "\n" + path.read_text(), path
