"""What a stage's evidence reads of a lab made by hand (verify mode), read only: Ceph's own
maps, each read once, and whether the lab's services answer (:class:`Probe`).

Each stage's module says what shows that the lab did it (``evidence(probe)``, see
:mod:`cephlab.stages`); :func:`cephlab.verify.evidence` asks every stage.
"""

from __future__ import annotations

import socket
from typing import Any, Callable, Optional

from . import ceph_checks
from .ceph import CephRunner


class NoCeph(Exception):
    """No Ceph answers this probe (or not as Ceph does); the reason is in Probe.ceph_error."""


def answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=3):
            return True
    except OSError:
        return False


class Probe:
    """Read-only signs of a lab. ``endpoint(service)`` is the target's, ``crush_host(node)``
    names the CRUSH host of a lab node."""

    def __init__(self, ceph: CephRunner, endpoint: Callable[[str], tuple[str, int]],
                 crush_host: Callable[[str], str], answers: Callable[[str, int], bool] = answers):
        self._ceph, self._endpoint, self.crush_host, self._answers = ceph, endpoint, crush_host, answers
        self._read: dict[str, Any] = {}
        #: Why Ceph's maps could not be read (None: they could, or nobody asked yet).
        self.ceph_error: Optional[str] = None

    def _json(self, *args: str) -> Any:
        key = " ".join(args)
        if self.ceph_error is not None:
            raise NoCeph(self.ceph_error)
        if key not in self._read:
            try:
                self._read[key] = self._ceph.json(*args, timeout=30)
            except Exception as exc:  # no Ceph answers (or not as Ceph does)
                self.ceph_error = f"no Ceph evidence: {type(exc).__name__}: {str(exc)[:120]}"
                raise NoCeph(self.ceph_error) from exc
        return self._read[key]

    @property
    def osd_dump(self) -> dict:
        return self._json("osd", "dump")

    @property
    def pools(self) -> dict[str, dict]:
        """pool name -> its entry in ``osd dump``"""
        return {p.get("pool_name"): p for p in self.osd_dump.get("pools", [])}

    @property
    def hosts(self) -> dict[str, list[int]]:
        """CRUSH host -> its OSD ids (``osd tree``)"""
        return ceph_checks.osd_hosts(self._json("osd", "tree"))

    def answers(self, service: str) -> Optional[str]:
        """"<service> answers on host:port", or None (not listening, or no such service)."""
        try:
            host, port = self._endpoint(service)
        except Exception:  # the target offers no such service
            return None
        return f"{service} answers on {host}:{port}" if self._answers(host, port) else None
