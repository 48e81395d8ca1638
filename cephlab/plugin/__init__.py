"""The pytest plugin, one module per concern (as pytest's own plugins are):

- :mod:`.session` — options, markers, the run's configuration and lab, the report header, the
  lab dir's lock, live progress;
- :mod:`.skips` — the one skip path (a stage that does not run on this target);
- :mod:`.planmode` — ``--lab-plan``: the plan written, nothing run;
- :mod:`.bdd_steps` — each step's time and the failed step;
- :mod:`.failures` — a failed scenario's diagnostics, compact message and redaction;
- :mod:`.summary` — the terminal summary (stage table, slowest steps, faults, the kept lab).

Each stage's feature carries the stage slug as a tag (``@extend_storage``), registered as a
marker, which is how an item is tied to its stage. Verify mode adds
:mod:`cephlab.verify.hooks`; the HTML report is :mod:`cephlab.report.collector`.
"""

from __future__ import annotations

from .session import SESSION, LabSession, get_lab, lab_session

pytest_plugins = [
    "cephlab.plugin.session",
    "cephlab.plugin.skips",
    "cephlab.plugin.planmode",
    "cephlab.plugin.bdd_steps",
    "cephlab.plugin.failures",
    "cephlab.plugin.summary",
]

__all__ = ["SESSION", "LabSession", "get_lab", "lab_session"]
