"""Services of the local lab on node k8s-1's address, at the lab's own NodePorts: the
Ceph dashboard (30001, as the lab exposes it) and RGW for S3 (30040)."""

from __future__ import annotations

import tempfile

import requests

from .. import procs
from ..model import PORTS, SERVICE_NODE
from ..secrets import SecretStore, access_key, password, secret_key
from ..waits import wait_for
from .daemons import CephDaemons

DASHBOARD_PORT = PORTS["ceph_dashboard"]
RGW_PORT = PORTS["rgw"]
RGW_USER = "lab"
DASHBOARD_USER = "admin"
API = {"Accept": "application/vnd.ceph.api.v1.0+json", "Content-Type": "application/json"}


class Dashboard:
    def __init__(self, daemons: CephDaemons, secrets: SecretStore):
        self.daemons, self.secrets = daemons, secrets
        self.ip = daemons.cfg.loopback_ip(SERVICE_NODE)

    @property
    def url(self) -> str:
        return f"http://{self.ip}:{DASHBOARD_PORT}"

    def deploy(self) -> None:
        ceph = self.daemons.ceph
        self.daemons.run_at_once(*[("config", "set", "mgr", f"mgr/dashboard/{key}", value) for key, value in
                                   (("server_addr", self.ip), ("server_port", str(DASHBOARD_PORT)),
                                    ("ssl", "false"))])
        ceph.run("mgr", "module", "enable", "dashboard")
        wait_for(f"the dashboard to answer on {self.url}", self._answers,
                 timeout=self.daemons.cfg.timeouts.daemon_start, interval=0.5,
                 fail_fast=lambda: self.daemons.assert_daemons_running(
                     [r.name for r in self.daemons.records() if r.name.startswith("mgr.")]))
        pw = self.secrets.get("dashboard-admin", password)
        with tempfile.NamedTemporaryFile("w", dir=self.daemons.dir, delete=True) as fh:
            fh.write(pw)
            fh.flush()
            res = ceph.run("dashboard", "ac-user-create", DASHBOARD_USER, "-i", fh.name,
                           "administrator", check=False)
            if res.rc != 0 and "already exists" not in res.stderr:
                res.check()

    def _answers(self) -> int:
        try:
            status = requests.get(self.url + "/", timeout=3).status_code
        except requests.RequestException as exc:
            raise AssertionError(f"{self.url} does not answer: {type(exc).__name__}") from None
        assert status == 200, f"{self.url} answers HTTP {status}"
        return status


class RGW:
    name = f"client.rgw.{SERVICE_NODE}"

    def __init__(self, daemons: CephDaemons, secrets: SecretStore):
        self.daemons, self.secrets = daemons, secrets
        self.ip = daemons.cfg.loopback_ip(SERVICE_NODE)

    @property
    def endpoint(self) -> str:
        return f"{self.ip}:{RGW_PORT}"

    def credentials(self) -> tuple[str, str]:
        return (self.secrets.get("rgw-access-key", access_key),
                self.secrets.get("rgw-secret-key", secret_key))

    def start(self) -> procs.DaemonRecord:
        argv = ["radosgw", "-f", "-c", str(self.daemons.conf), "-n", self.name,
                "--rgw-frontends", f"beast endpoint={self.endpoint}",
                "--log-file", str(self.daemons.dir / "log" / f"ceph-{self.name}.log")]
        rec = self.daemons._start(self.name, argv)
        wait_for(f"RGW to answer on {self.endpoint}", self._answers,
                 timeout=self.daemons.cfg.timeouts.daemon_start, interval=0.5,
                 fail_fast=lambda: procs.assert_running([rec]))
        return rec

    def _answers(self) -> None:
        try:
            requests.get(f"http://{self.endpoint}/", timeout=3)
        except requests.RequestException as exc:
            raise AssertionError(f"RGW on {self.endpoint} does not answer: {type(exc).__name__}") from None

    def deploy(self) -> None:
        self.start()
        key, secret = self.credentials()
        res = self.daemons.ceph.run("user", "info", "--uid", RGW_USER, tool="radosgw-admin",
                                    check=False)
        if res.rc != 0:
            self.daemons.ceph.run("user", "create", "--uid", RGW_USER, "--display-name",
                                  "cephlab S3 user", "--access-key", key, "--secret", secret,
                                  tool="radosgw-admin")
