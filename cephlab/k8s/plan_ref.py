"""What every plan operation shares: object references, how the plan reaches the Ceph CLI,
the bounds of its HTTP checks, and shell quoting for ``render()``. Nothing here runs anything.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Optional

from .objects import ROOK_NS, TOOLBOX, Obj

#: The one place for how the plan reaches the Ceph CLI: ``kubectl exec`` into the toolbox.
TOOLBOX_EXEC = ("kubectl", "-n", ROOK_NS, "exec", f"deploy/{TOOLBOX}", "--")
#: ``ceph`` gives up on unreachable mons after this long (item 12 of the upstream review: a
#: command killed at kubectl's timeout must not keep running in the pod).
CEPH_CONNECT_TIMEOUT = 15
#: curl after a NodePort Service: kube-proxy and the backing pod may lag the apply.
HTTP_RETRIES, HTTP_RETRY_DELAY, HTTP_MAX_TIME = 20, 6, 10
#: Every download of the plan (an upstream manifest), retried with a bound: a mirror's
#: hiccup must not fail a stage that took an hour to reach.
DOWNLOAD = ("curl", "-fsSL", "--retry", "5", "--retry-connrefused", "--retry-all-errors",
            "--retry-delay", "3", "--max-time", "120")


def download_line(url: str, dest: str) -> str:
    """The commands.sh line that downloads ``url`` to ``dest`` (already shell-quoted)."""
    return f"{quoted([*DOWNLOAD, url])} -o {dest}"


def quoted(argv) -> str:
    """One shell line of ``argv``, each argument quoted (:func:`shlex.join`)."""
    return shlex.join(str(a) for a in argv)


@dataclass(frozen=True)
class Ref:
    """An object by kind, namespace (None: cluster-scoped) and name."""
    kind: str
    name: str
    namespace: Optional[str] = None

    def __str__(self) -> str:
        return f"{self.kind} {self.namespace + '/' if self.namespace else ''}{self.name}"


def ref_of(obj: Obj) -> Ref:
    meta = obj["metadata"]
    return Ref(obj["kind"], meta["name"], meta.get("namespace"))


