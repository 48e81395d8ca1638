"""The one skip path: a stage that does not run on this run's target is skipped at collection."""

from __future__ import annotations

import pytest

from .. import stages as S
from .session import lab_session


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items) -> None:
    """The one skip path: a stage that does not run on this run's target (or that this run's
    options forbid) is skipped here, with the reason :func:`cephlab.targets.why_not` gives."""
    from ..targets import why_not

    cfg = lab_session(config).cfg
    for item in items:
        stage = S.of_item(item)
        reason = why_not(cfg.target, stage, cfg, needs_kubernetes=item.get_closest_marker("k8s") is not None
                         ) if stage is not None else None
        if reason:
            item.add_marker(pytest.mark.skip(reason=reason))
