"""PyMySQL logs in to MySQL 8.4 as root over plain TCP: caching_sha2_password's full
authentication, which needs RSA (the ``cryptography`` package, PyMySQL's ``rsa`` extra).

MySQL 8.4 cannot run here, so a stand-in server speaks the part of MySQL's protocol this
login uses: the handshake naming caching_sha2_password, "perform full authentication" (no
cached entry for the account, as after a restart of mysqld), the public key on request, and
the check of the RSA-encrypted password; a wrong password gets MySQL's error 1045.
"""

from __future__ import annotations

import importlib.metadata
import os
import socket
import struct
import subprocess
import sys
import threading
import tomllib

import pytest
from packaging.requirements import Requirement

from tests.conftest import ROOT

pytest.importorskip("pymysql")
rsa_mod = pytest.importorskip("cryptography.hazmat.primitives.asymmetric.rsa")
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import padding  # noqa: E402

pytestmark = pytest.mark.standin

PLUGIN = b"caching_sha2_password"
CAPS = (0x1 | 0x8 | 0x200 | 0x2000 | 0x8000 | 0x20000 | 0x80000 | 0x200000)


def _packet(seq: int, payload: bytes) -> bytes:
    return struct.pack("<I", len(payload))[:3] + bytes([seq & 0xFF]) + payload


def _read(sock: socket.socket) -> tuple[int, bytes]:
    head = b""
    while len(head) < 4:
        chunk = sock.recv(4 - len(head))
        if not chunk:
            raise ConnectionError("client went away")
        head += chunk
    length, seq = int.from_bytes(head[:3], "little"), head[3]
    body = b""
    while len(body) < length:
        body += sock.recv(length - len(body))
    return seq, body


def _error(seq: int, code: int, state: bytes, message: str) -> bytes:
    return _packet(seq, b"\xff" + struct.pack("<H", code) + b"#" + state + message.encode())


OK = b"\x00\x00\x00\x02\x00\x00\x00"


class StandInMySQL:
    """One-account MySQL 8.4 login over plain TCP, caching_sha2_password, cache empty."""

    def __init__(self, password: bytes):
        self.password = password
        self.key = rsa_mod.generate_private_key(public_exponent=65537, key_size=2048)
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.steps: list[str] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                try:
                    self._session(conn)
                except ConnectionError:
                    pass

    def _session(self, conn: socket.socket) -> None:
        nonce = os.urandom(20).replace(b"\0", b"\1")
        hello = (b"\x0a" + b"8.4.8\0" + struct.pack("<I", 7) + nonce[:8] + b"\0"
                 + struct.pack("<H", CAPS & 0xFFFF) + b"\xff" + struct.pack("<H", 2)
                 + struct.pack("<H", CAPS >> 16) + bytes([21]) + b"\0" * 10 + nonce[8:] + b"\0"
                 + PLUGIN + b"\0")
        conn.sendall(_packet(0, hello))
        seq, resp = _read(conn)
        user = resp[32:resp.index(b"\0", 32)]
        self.steps.append(f"login {user.decode()}")
        if user != b"root":
            conn.sendall(_error(seq + 1, 1045, b"28000", f"Access denied for user '{user.decode()}'"))
            return
        conn.sendall(_packet(seq + 1, b"\x01\x04"))          # perform full authentication
        seq, data = _read(conn)
        if data == b"\x02":                                  # the client asks for the public key
            self.steps.append("public key requested")
            pem = self.key.public_key().public_bytes(serialization.Encoding.PEM,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo)
            conn.sendall(_packet(seq + 1, b"\x01" + pem))
            seq, data = _read(conn)
        else:   # a cleartext password over an insecure connection is refused by MySQL
            conn.sendall(_error(seq + 1, 2061, b"HY000", "Authentication requires secure connection."))
            return
        plain = self.key.decrypt(data, padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA1()),
                                                   algorithm=hashes.SHA1(), label=None))
        sent = bytes(b ^ nonce[i % len(nonce)] for i, b in enumerate(plain))
        if sent != self.password + b"\0":
            self.steps.append("password refused")
            conn.sendall(_error(seq + 1, 1045, b"28000",
                                "Access denied for user 'root'@'127.0.0.1' (using password: YES)"))
            return
        self.steps.append("password accepted")
        conn.sendall(_packet(seq + 1, OK))
        while True:
            seq, cmd = _read(conn)
            if cmd[:1] == b"\x01":          # COM_QUIT
                return
            conn.sendall(_packet(seq + 1, OK))

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def server():
    srv = StandInMySQL(b"generated-root-password")
    yield srv
    srv.close()


def test_pyproject_asks_for_the_rsa_extra():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    (req,) = [Requirement(d) for d in deps if Requirement(d).name.lower() == "pymysql"]
    assert "rsa" in req.extras
    assert importlib.metadata.version("PyMySQL") in req.specifier, "the installed PyMySQL fits the pin"
    wanted = [Requirement(r) for r in importlib.metadata.requires("PyMySQL") or []
              if "extra == \"rsa\"" in r]
    assert wanted and all(w.name == "cryptography" for w in wanted)
    assert importlib.metadata.version("cryptography") in wanted[0].specifier


def test_root_logs_in_through_full_authentication(server):
    import pymysql
    conn = pymysql.connect(host="127.0.0.1", port=server.port, user="root",
                           password="generated-root-password", autocommit=None, connect_timeout=10)
    conn.ping(reconnect=False)
    conn.close()
    assert server.steps == ["login root", "public key requested", "password accepted"]


def test_a_wrong_password_is_refused(server):
    import pymysql
    with pytest.raises(pymysql.err.OperationalError) as err:
        pymysql.connect(host="127.0.0.1", port=server.port, user="root", password="wrong",
                        autocommit=None, connect_timeout=10)
    assert err.value.args[0] == 1045
    assert server.steps == ["login root", "public key requested", "password refused"]


def test_without_cryptography_the_login_fails(server):
    """What the lab met before: PyMySQL without its rsa extra cannot answer full auth."""
    code = ("import sys; sys.modules['cryptography'] = None\n"
            "import pymysql\n"
            f"pymysql.connect(host='127.0.0.1', port={server.port}, user='root', "
            "password='generated-root-password', autocommit=None, connect_timeout=10)\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         cwd=ROOT)
    assert res.returncode != 0
    assert "'cryptography' package is required" in res.stderr
