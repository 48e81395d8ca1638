"""Ghost on the local target: the blog on the lab's MariaDB (datadir on RBD image mysql-pvc)
and with its content directory on the lab's CephFS at ``/ghost``, through the lab's
ceph-fuse mount, as the lab runs it on Kubernetes.

Ghost 6 and Node 22 come from the cache ``python3 -m cephlab setup`` fills
(:mod:`cephlab.local.ghost_install`). Ghost runs as a lab daemon (recorded by pid, stopped
by pid, its log in the lab dir) on node k8s-1's address at the lab's ghost NodePort, with
``url`` set to that address. Its database user has a generated password, passed in the
environment, never on a command line.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Callable, Optional

import pymysql
import requests

from .. import procs
from ..errors import LabError
from ..model import GHOST_OWNER_EMAIL, PORTS, SERVICE_NODE
from ..secrets import SecretStore, password
from ..waits import wait_for
from . import ghost_install
from .blockdb import MYSQL_PORT, BlockDatabase
from .daemons import CephDaemons

NAME = "ghost"
PORT = PORTS["ghost"]
DATABASE = "ghost"
DB_USER = "ghost"
CONTENT = "ghost"  #: the directory on CephFS, as the lab's helper pod makes it
MOUNT = "ghost"    #: the lab's ceph-fuse mount Ghost's content lives under


def unavailable() -> Optional[str]:
    return ghost_install.unavailable()


class GhostBlog:
    def __init__(self, daemons: CephDaemons, secrets: SecretStore, mysql: BlockDatabase,
                 mount: Callable[[str], Path]):
        self.daemons, self.secrets, self.mysql, self.mount = daemons, secrets, mysql, mount
        self.ip = daemons.cfg.loopback_ip(SERVICE_NODE)
        self.log = daemons.dir / "log" / "ghost.log"

    @property
    def url(self) -> str:
        return f"http://{self.ip}:{PORT}"

    def owner(self) -> dict[str, str]:
        """The blog owner's generated credentials (never print them)."""
        return {"email": GHOST_OWNER_EMAIL, "password": self.secrets.get("ghost-owner", password)}

    def content_dir(self) -> Path:
        return self.mount(MOUNT) / CONTENT

    # ------------------------------------------------------------------ lifecycle
    def deploy(self) -> float:
        """Database, user, content directory, then the first boot (Ghost's migrations).
        Returns the seconds the first boot took."""
        self._database()
        self._seed_content()  # the mount waits for an active MDS
        start = time.monotonic()
        self.start(first=True)
        seconds = time.monotonic() - start
        self.daemons.state.put("ghost_first_boot_seconds", round(seconds, 1))
        return seconds

    def _database(self) -> None:
        pw = self.secrets.get("ghost-db", password)
        with self.mysql.connect(autocommit=True) as conn, conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE IF NOT EXISTS {DATABASE} "
                        "CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci")
            cur.execute(f"ALTER DATABASE {DATABASE} CHARACTER SET utf8mb4 "
                        "COLLATE utf8mb4_general_ci")
            cur.execute("CREATE USER IF NOT EXISTS %s@'%%' IDENTIFIED BY %s", (DB_USER, pw))
            cur.execute("ALTER USER %s@'%%' IDENTIFIED BY %s", (DB_USER, pw))
            cur.execute(f"GRANT ALL PRIVILEGES ON {DATABASE}.* TO %s@'%%'", (DB_USER,))

    def _seed_content(self) -> None:
        """The content directory starts as a copy of the one Ghost ships (its themes among
        it), as Ghost's CLI and its image do; what is there already is kept."""
        content = self.content_dir()
        content.mkdir(exist_ok=True)
        shipped = ghost_install.ghost_dir() / "content"
        for item in shipped.iterdir():
            target = content / item.name
            if item.is_dir():
                shutil.copytree(item, target, dirs_exist_ok=True,
                                copy_function=_copy_if_missing)
            elif not target.exists():
                shutil.copy2(item, target)

    def _env(self) -> dict[str, str]:
        node_bin = ghost_install.node_bin()
        # nothing of the caller's environment configures Ghost: only what is set here
        env = {k: v for k, v in os.environ.items() if "__" not in k and k != "url"}
        env.update({
            "PATH": f"{node_bin}{os.pathsep}{os.environ.get('PATH', '')}",
            "NODE_ENV": "production",
            "url": self.url,
            "server__host": self.ip,
            "server__port": str(PORT),
            "database__client": "mysql",
            "database__connection__host": self.ip,
            "database__connection__port": str(MYSQL_PORT),
            "database__connection__user": DB_USER,
            "database__connection__password": self.secrets.get("ghost-db", password),
            "database__connection__database": DATABASE,
            "paths__contentPath": str(self.content_dir()),
            # the log goes to the lab dir's log file (stdout), not only under content/logs
            "logging__transports": '["stdout"]',
            # fewer calls out of the machine (update check, gravatar), and no e-mailed
            # codes for a new device's login (there is no mail here)
            "privacy__useTinfoil": "true",
            "security__staffDeviceVerification": "false",
        })
        return env

    def start(self, first: bool = False) -> procs.DaemonRecord:
        """Start Ghost and wait until its admin API answers. The first boot runs every
        migration: that wait is longer and shows how far the migrations got."""
        why = unavailable()
        if why:
            raise LabError(why)
        argv = [str(ghost_install.node_bin() / "node"), "index.js"]
        rec = procs.spawn(NAME, argv, self.log, env=self._env(), cwd=ghost_install.ghost_dir())
        self.daemons.remember(rec)
        timeouts = self.daemons.cfg.timeouts
        wait_for(f"Ghost {'first boot (migrations)' if first else 'start'} on {self.url}",
                 self._answers, timeout=timeouts.ghost_boot if first else timeouts.daemon_start * 3,
                 interval=0.5, fail_fast=lambda: procs.assert_running([rec]))
        return rec

    def _answers(self) -> str:
        try:
            res = requests.get(self.url + "/ghost/api/admin/site/", timeout=5)
        except requests.RequestException as exc:
            raise AssertionError(f"Ghost does not answer yet ({type(exc).__name__}); "
                                 f"{self._progress()}") from None
        if res.status_code != 200:
            raise AssertionError(f"Ghost answers HTTP {res.status_code}; {self._progress()}")
        return res.json()["site"]["version"]

    def _progress(self) -> str:
        """How far the first boot got, from the database itself."""
        try:
            with self.mysql.connect() as conn, conn.cursor() as cur:
                cur.execute("SELECT COUNT(*) FROM information_schema.tables "
                            "WHERE table_schema = %s", (DATABASE,))
                tables = cur.fetchone()[0]
                cur.execute("SELECT COUNT(*) FROM information_schema.tables "
                            "WHERE table_schema = %s AND table_name = 'migrations'", (DATABASE,))
                done = 0
                if cur.fetchone()[0]:
                    cur.execute(f"SELECT COUNT(*) FROM {DATABASE}.migrations")
                    done = cur.fetchone()[0]
            return f"database {DATABASE}: {tables} tables, {done} migrations recorded"
        except pymysql.err.MySQLError as exc:
            return f"database not readable: {exc.args[-1] if exc.args else exc}"

    def running(self) -> bool:
        rec = self.daemons.record(NAME)
        return bool(rec and procs.is_alive(rec))

    def stop(self) -> None:
        rec = self.daemons.record(NAME)
        if rec:
            procs.stop(rec, timeout=30)
            self.daemons.forget(NAME)

    def restart(self) -> float:
        """Stop Ghost by pid and start it again (a warm start). Returns its seconds."""
        self.stop()
        start = time.monotonic()
        self.start()
        return time.monotonic() - start

    def ensure(self) -> list[str]:
        """Start Ghost if it is not running (repair, a kept lab after a reboot)."""
        if self.running():
            return []
        self.stop()
        self.start()
        return [NAME]


def _copy_if_missing(src: str, dst: str) -> str:
    if not os.path.exists(dst):
        shutil.copy2(src, dst)
    return dst
