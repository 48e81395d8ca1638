"""One definition of each lab constant the Kubernetes side uses: a second literal copy in the
package fails here (stage titles, NodePorts, pg_num, the toolbox's name, pinned versions)."""

from __future__ import annotations

import re

import pytest

from cephlab import model, stages
from cephlab import versions
from tests.conftest import ROOT

pytestmark = pytest.mark.unit

PACKAGE = sorted((ROOT / "cephlab").rglob("*.py"))


def _code(path):
    """The module's text without comments and docstrings (prose may name a value)."""
    text = re.sub(r'(?s)""".*?"""', "", path.read_text())
    return re.sub(r"#[^\n]*", "", text)


def _holders(literal: str, exclude=()) -> list[str]:
    pattern = re.compile(rf"(?<![\w.]){re.escape(literal)}(?![\w.])" if literal.isdigit()
                         else re.escape(literal))
    return [str(p.relative_to(ROOT)) for p in PACKAGE
            if p.name not in exclude and pattern.search(_code(p))]


@pytest.mark.parametrize("stage", stages.STAGES, ids=lambda s: s.slug)
def test_a_stage_title_is_written_once(stage):
    assert _holders(f'"{stage.title}"') == [f"cephlab/stages/{stage.slug}.py"]


@pytest.mark.parametrize("name,port", sorted(model.PORTS.items()))
def test_a_node_port_is_written_once(name, port):
    # plan_check.py holds Kubernetes' NodePort range (30000-32767), not a lab port
    assert _holders(str(port), exclude={"plan_check.py"}) == ["cephlab/model.py"], name


def test_pg_num_toolbox_and_removed_node_once():
    k8s = [h for h in _holders(str(model.PG_NUM_TARGET)) if h.startswith("cephlab/k8s/")]
    assert k8s == []
    assert _holders('"rook-ceph-tools"') == ["cephlab/k8s/objects.py"]
    assert "STAGES" not in _code(ROOT / "cephlab" / "k8s" / "plan_build.py").split("import")[0]


@pytest.mark.parametrize("key", sorted(versions.ALL))
def test_a_pinned_version_is_written_once(key):
    value = versions.ALL[key]
    tag = value.rsplit(":", 1)[-1] if ":" in value else value
    assert _holders(tag) in (["cephlab/versions.py"], [])
