"""MySQL on Ceph block storage, locally: an RBD image in replicapool (5 GiB, like the lab's
PVC) exposed by rbd-fuse as a file, attached to a loop device, formatted XFS and mounted
under the lab dir; MariaDB keeps its datadir there and listens on node k8s-1's address at
the lab's NodePort 30020 with a generated root password.

The chain is brought up in order (rbd-fuse → loop → XFS → MariaDB) and taken down in the
reverse order. ``ensure()`` repairs a chain left half-alive by a killed run: stale mounts
are unmounted, stray loop devices of this lab detached, then everything comes up again.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Optional

import pymysql

from .. import procs
from ..errors import LabError
from ..model import BLOCK_POOL, PORTS, SERVICE_NODE
from ..secrets import SecretStore, password
from ..waits import wait_for
from . import mounts
from ..procs import run_checked
from .daemons import CephDaemons

IMAGE = "mysql-pvc"
IMAGE_SIZE = "5G"
MYSQL_PORT = PORTS["mysql"]
RBD_FUSE = "client.rbd-fuse"
MARIADB = "mariadb"
#: This machine's programs (rbd-fuse comes with the lab's Ceph release: cluster.COMPONENTS).
BINARIES = {"losetup": "mount", "mkfs.xfs": "xfsprogs",
            "mariadbd": "mariadb-server", "mariadb-install-db": "mariadb-server"}


def unavailable() -> Optional[str]:
    """Why MySQL-on-RBD cannot run on this machine (None: it can)."""
    if os.geteuid() != 0:
        return "MySQL on Ceph block needs root here (loop devices and mounts)"
    missing = [b for b in BINARIES if not shutil.which(b)]
    if missing:
        return (f"missing {', '.join(missing)} (packages: "
                f"{' '.join(sorted({BINARIES[b] for b in missing}))})")
    for dev in ("/dev/fuse", "/dev/loop-control"):
        if not Path(dev).exists():
            return f"{dev} is missing"
    return None


class BlockDatabase:
    def __init__(self, daemons: CephDaemons, secrets: SecretStore):
        self.daemons, self.secrets = daemons, secrets
        self.base = daemons.dir / "mysql"
        self.rbd_mnt = self.base / "rbd"      # rbd-fuse: the image as a file
        self.xfs_mnt = self.base / "xfs"      # the XFS on the loop device
        self.datadir = self.xfs_mnt / "data"
        self.socket = self.base / "mysqld.sock"
        self.ip = daemons.cfg.loopback_ip(SERVICE_NODE)
        self.pool = BLOCK_POOL  #: where the image is mapped from (a test moves it to show a wrong pool)

    # ------------------------------------------------------------------ facts
    @property
    def image_file(self) -> Path:
        return self.rbd_mnt / IMAGE

    def root_password(self) -> str:
        return self.secrets.get("mysql-root", password)

    def connect(self, **kw) -> pymysql.connections.Connection:
        """A TCP connection as root, as a client of the lab would make."""
        return pymysql.connect(host=self.ip, port=MYSQL_PORT, user="root",
                               password=self.root_password(), connect_timeout=5, **kw)

    def loop_device(self) -> Optional[str]:
        return self.daemons.state.get("mysql_loop")

    # ------------------------------------------------------------------ lifecycle
    def deploy(self) -> None:
        ceph = self.daemons.ceph
        if IMAGE not in ceph.json("ls", BLOCK_POOL, tool="rbd"):
            ceph.run("create", f"{BLOCK_POOL}/{IMAGE}", "--size", IMAGE_SIZE, tool="rbd")
        self.ensure(first=True)
        self._secure()

    def ensure(self, first: bool = False) -> list[str]:
        """Bring the chain up, repairing leftovers. Returns what had to be (re)started."""
        started: list[str] = []
        if self._healthy():
            return started
        self.down()
        self.base.mkdir(parents=True, exist_ok=True)
        self._mount_rbd()
        started.append("rbd-fuse")
        self._attach_and_mount(format_if_new=first)
        started.append("xfs")
        self._start_mariadb()
        started.append(MARIADB)
        return started

    def _healthy(self) -> bool:
        rec = self.daemons.record(MARIADB)
        fuse = self.daemons.record(RBD_FUSE)
        return bool(rec and fuse and procs.is_alive(rec) and procs.is_alive(fuse)
                    and mounts.is_mounted(self.xfs_mnt) and mounts.is_mounted(self.rbd_mnt))

    def _mount_rbd(self) -> None:
        self.rbd_mnt.mkdir(parents=True, exist_ok=True)
        argv = ["rbd-fuse", "-f", "-c", str(self.daemons.conf), "-p", self.pool, "-r", IMAGE,
                str(self.rbd_mnt)]
        rec = self.daemons.spawn_client(RBD_FUSE, argv)
        wait_for(f"rbd-fuse to expose {IMAGE}", lambda: _assert_file(self.image_file),
                 timeout=self.daemons.cfg.timeouts.daemon_start, interval=0.2,
                 fail_fast=lambda: procs.assert_running([rec]))

    def _attach_and_mount(self, format_if_new: bool) -> None:
        loop = run_checked(["losetup", "--find", "--show", str(self.image_file)]).strip()
        self.daemons.state.put("mysql_loop", loop)
        fs = subprocess.run(["blkid", "-o", "value", "-s", "TYPE", loop],
                            capture_output=True, text=True).stdout.strip()
        if not fs:
            if not format_if_new:
                raise LabError(f"{BLOCK_POOL}/{IMAGE} holds no filesystem although MySQL's data "
                               f"was written to it before")
            run_checked(["mkfs.xfs", "-q", loop], timeout=120)
        elif fs != "xfs":
            raise LabError(f"{BLOCK_POOL}/{IMAGE} holds {fs}, not XFS; refusing to touch it")
        self.xfs_mnt.mkdir(parents=True, exist_ok=True)
        # nouuid: after a crash the old, lazily detached mount of this XFS may linger.
        run_checked(["mount", "-t", "xfs", "-o", "nouuid", loop, str(self.xfs_mnt)])

    def _start_mariadb(self) -> None:
        fresh = not (self.datadir / "mysql").exists()
        if fresh:
            self.datadir.mkdir(parents=True, exist_ok=True)
            run_checked(["mariadb-install-db", "--no-defaults", f"--datadir={self.datadir}",
                  "--user=root", "--auth-root-authentication-method=normal", "--skip-test-db"],
                 timeout=180)
        argv = ["mariadbd", "--no-defaults", f"--datadir={self.datadir}", f"--socket={self.socket}",
                f"--port={MYSQL_PORT}", f"--bind-address={self.ip}", "--user=root",
                "--skip-name-resolve", f"--pid-file={self.base / 'mysqld.pid'}",
                "--innodb-buffer-pool-size=64M", "--log-error=" + str(self.base / "error.log")]
        rec = procs.spawn(MARIADB, argv, self.daemons.dir / "log" / "mariadb.out")
        self.daemons.remember(rec)
        wait_for(f"MariaDB to accept connections on {self.socket}", lambda: self._admin().close(),
                 timeout=self.daemons.cfg.timeouts.daemon_start, interval=0.3,
                 fail_fast=lambda: procs.assert_running([rec]))

    def _admin(self) -> pymysql.connections.Connection:
        """root over the unix socket: with the generated password, or none on a fresh server."""
        try:
            return pymysql.connect(unix_socket=str(self.socket), user="root",
                                   password=self.root_password(), connect_timeout=2)
        except pymysql.err.OperationalError as exc:
            if exc.args and exc.args[0] == 1045:
                try:
                    return pymysql.connect(unix_socket=str(self.socket), user="root", connect_timeout=2)
                except pymysql.err.OperationalError:
                    pass
            raise AssertionError(f"MariaDB does not answer yet: {exc}") from None

    def _secure(self) -> None:
        """Idempotent: root may log in over TCP with the generated password, and only so."""
        pw = self.root_password()
        with self._admin() as conn, conn.cursor() as cur:
            # mariadb-install-db also makes password-less root@127.0.0.1, @::1 and @<hostname>;
            # being more specific than '%', they would win over it. None may stay.
            cur.execute("SELECT host FROM mysql.user WHERE user = 'root' "
                        "AND host NOT IN ('localhost', '%%')")
            for (host,) in cur.fetchall():
                cur.execute("DROP USER 'root'@%s", (host,))
            cur.execute("CREATE USER IF NOT EXISTS 'root'@'%%' IDENTIFIED BY %s", (pw,))
            cur.execute("ALTER USER 'root'@'%%' IDENTIFIED BY %s", (pw,))
            cur.execute("GRANT ALL PRIVILEGES ON *.* TO 'root'@'%' WITH GRANT OPTION")
            cur.execute("ALTER USER 'root'@'localhost' IDENTIFIED BY %s", (pw,))
            cur.execute("FLUSH PRIVILEGES")

    def down(self) -> None:
        """Stop MariaDB → unmount XFS → detach the loop device → unmount rbd-fuse."""
        rec = self.daemons.record(MARIADB)
        if rec:
            procs.stop(rec, timeout=60)
            self.daemons.forget(MARIADB)
        if mounts.unmount(self.xfs_mnt, timeout=60) == "lazy":
            self.daemons.state.put("mysql_lazy_unmount", True)  # XFS may not have been flushed
        loop = self.loop_device()
        if loop:
            subprocess.run(["losetup", "-d", loop], capture_output=True)
            self.daemons.state.put("mysql_loop", None)
        mounts.unmount(self.rbd_mnt)
        rec = self.daemons.record(RBD_FUSE)
        if rec:
            # Unmounted, rbd-fuse closes the image and exits by itself (0.1 s here); closing
            # releases the image's exclusive lock. A SIGTERM during that leaves the lock to a
            # dead client, and the next rbd-fuse waited 30 s (the OSDs' watch timeout) before
            # blocklisting it (seen once under load). So it gets time to finish first.
            deadline = time.monotonic() + 10
            while procs.is_alive(rec) and time.monotonic() < deadline:
                time.sleep(0.05)
            procs.stop(rec)
            self.daemons.forget(RBD_FUSE)

    def restart(self) -> None:
        """The whole chain down and up again: what a pod restart does to the lab's MySQL."""
        self.down()
        self.ensure()


def _assert_file(path: Path) -> None:
    assert path.is_file(), f"{path} does not exist yet"

