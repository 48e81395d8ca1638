"""Write the lab's Kubernetes manifests, stage by stage, into the repository's manifests/.

    python -m cephlab.k8s.export [manifests]

The Python renderers in this package are the source of truth; manifests/ is their output,
for people who read or apply YAML, and a test keeps the two identical. Secrets are left out:
their values are generated for each lab at run time (``--lab-plan`` writes them, mode 0600).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import yaml

from . import manifests as m
from .plan_build import build

README = """# The lab's Kubernetes manifests

Generated from `cephlab/k8s/` by `python -m cephlab.k8s.export manifests`; do not edit by
hand (a test fails when these files and the renderers disagree). One directory per stage,
files numbered in apply order. Secrets are not here: their values are generated for each
lab at run time; `pytest features/ --lab-target=vagrant --lab-plan=DIR` writes a complete
plan, Secrets and host commands included.
"""


def export(out_dir: Path) -> list[Path]:
    out_dir = Path(out_dir)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    written = [out_dir / "README.md"]
    written[0].write_text(README)
    for plan in build("vagrant", m.NODES, m.generate_secrets()):
        for op in plan.applies():
            obj = op.obj
            if obj["kind"] == "Secret":
                continue
            path = out_dir / plan.dirname / op.file
            path.parent.mkdir(exist_ok=True)
            path.write_text(yaml.safe_dump(obj, sort_keys=False, default_flow_style=False))
            written.append(path)
    return written


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "manifests")
    print(f"{len(export(target))} files written to {target}")
