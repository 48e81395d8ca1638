"""Ghost (feature 17), the same steps on every target: through the target's endpoint("ghost")
and endpoint("mysql") (k8s-1's address and the lab's NodePorts), its generated credentials
(never printed) and its restarts. When acts, Then observes.

Ghost's Admin API is used as its own admin app uses it: owner set-up, then a session
cookie, with an ``Origin`` header matching the blog's ``url``.
"""

from __future__ import annotations

import hashlib
import struct
import uuid
import zlib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import pymysql
import pytest
import requests
from pytest_bdd import parsers, then, when

from cephlab import versions

#: What Ghost reports as its version (admin API, migrations table): major.minor.
GHOST_VERSION = ".".join(versions.GHOST.split(".")[:2])
ADMIN = "/ghost/api/admin"


def _names(text: str) -> list[str]:
    return [n.strip() for n in text.replace(" and ", ",").split(",") if n.strip()]


def _base(lab) -> str:
    host, port = lab.target.endpoint("ghost")
    return f"http://{host}:{port}"


def _mysql(lab, **kw):
    host, port = lab.target.endpoint("mysql")
    creds = lab.target.credentials("mysql")
    return pymysql.connect(host=host, port=port, user=creds["user"], password=creds["password"],
                           connect_timeout=10, **kw)


def _get(url: str, **kw) -> requests.Response:
    try:
        return requests.get(url, timeout=15, **kw)
    except requests.RequestException as exc:
        raise AssertionError(f"{url} does not answer: {type(exc).__name__}") from None


def png(width: int = 48, height: int = 32) -> bytes:
    """A valid PNG of random pixels (so every upload is a new file)."""
    raw = b"".join(b"\x00" + uuid.uuid4().bytes * (width * 3 // 16) for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw))
            + chunk(b"IEND", b""))


@dataclass
class Published:
    slug: str
    title: str
    marker: str
    image_url: str
    image: bytes  #: as uploaded
    served: bytes = b""  #: as Ghost served it before the restarts (it may re-encode)


# ------------------------------------------------------------------ the blog answers
@then("the blog's home page answers over HTTP")
def ghost_home(lab, expect, timeouts):
    url = _base(lab) + "/"

    def probe():
        res = _get(url)
        assert res.status_code == 200, f"Ghost at {url} answered HTTP {res.status_code}"
        assert 'content="Ghost' in res.text, "the page is not served by Ghost (no generator tag)"
    expect("Ghost's home page", probe, timeout=timeouts.daemon_start * 5, interval=1)


@then("the admin API reports the pinned Ghost version")
def ghost_admin_version(lab, record_property):
    res = _get(_base(lab) + ADMIN + "/site/")
    assert res.status_code == 200, f"{ADMIN}/site/ answered HTTP {res.status_code}"
    version = res.json()["site"]["version"]
    assert version == GHOST_VERSION, f"Ghost reports version {version}, pinned is {versions.GHOST}"
    record_property("ghost_version", version)


@then(parsers.parse("database ghost holds the tables {tables}"))
def ghost_tables(lab, tables):
    with _mysql(lab, database="ghost") as conn, conn.cursor() as cur:
        cur.execute("SHOW TABLES")
        have = {row[0] for row in cur.fetchall()}
    missing = [t for t in _names(tables) if t not in have]
    assert not missing, f"database ghost lacks tables {missing} ({len(have)} tables present)"


@then("table migrations records the pinned Ghost version")
def ghost_migrations(lab):
    with _mysql(lab, database="ghost") as conn, conn.cursor() as cur:
        cur.execute("SELECT COUNT(*), COUNT(DISTINCT version) FROM migrations")
        count, versions_seen = cur.fetchone()
        cur.execute("SELECT DISTINCT currentVersion FROM migrations")
        current = sorted(r[0] for r in cur.fetchall())
    assert count > 0, "table migrations is empty: Ghost ran no migration"
    assert current == [GHOST_VERSION], (
        f"table migrations records Ghost version(s) {current}, pinned is {GHOST_VERSION} "
        f"({count} migrations of {versions_seen} versions)")


@then("the report names the database server Ghost runs on")
def ghost_database_server(lab, record_property):
    with _mysql(lab) as conn, conn.cursor() as cur:
        cur.execute("SELECT VERSION()")
        version = cur.fetchone()[0]
    server = "MariaDB" if "mariadb" in version.lower() else "MySQL"
    record_property("ghost_database_server", f"{server} {version}")
    print(f"Ghost's database server on the {lab.target.name} target is {server} {version}")


# ------------------------------------------------------------------ a post and an image
def _admin_session(lab) -> requests.Session:
    """The owner's session: set up on first use (generated credentials), then logged in."""
    base, creds = _base(lab), lab.target.credentials("ghost")
    session = requests.Session()
    session.headers.update({"Origin": base, "Accept-Version": f"v{GHOST_VERSION}"})
    state = session.get(base + ADMIN + "/authentication/setup/", timeout=15)
    assert state.status_code == 200, f"setup state: HTTP {state.status_code}"
    if not state.json()["setup"][0]["status"]:
        res = session.post(base + ADMIN + "/authentication/setup/", timeout=60, json={"setup": [{
            "name": "Lab Owner", "email": creds["email"], "password": creds["password"],
            "blogTitle": "cephlab"}]})
        assert res.status_code in (200, 201), f"owner set-up answered HTTP {res.status_code}"
    res = session.post(base + ADMIN + "/session/", timeout=30,
                       json={"username": creds["email"], "password": creds["password"]})
    assert res.status_code in (200, 201), (
        f"owner login answered HTTP {res.status_code}: {res.text[:200]}")
    return session


@when("the blog's owner publishes a post with an image through the Admin API",
      target_fixture="published")
def publish(lab, judge) -> Published:
    judge.change("publishing a post (and setting up the blog's owner) changes the learner's blog")
    base, session = _base(lab), _admin_session(lab)
    image = png()
    name = f"lab-{uuid.uuid4().hex[:8]}.png"
    res = session.post(base + ADMIN + "/images/upload/", timeout=60,
                       files={"file": (name, image, "image/png")},
                       data={"purpose": "image", "ref": name})
    assert res.status_code == 201, f"image upload answered HTTP {res.status_code}: {res.text[:200]}"
    image_url = res.json()["images"][0]["url"]
    marker = uuid.uuid4().hex
    title = f"cephlab post {marker[:8]}"
    html = f'<p>{marker}</p><img src="{image_url}" alt="lab image">'
    res = session.post(base + ADMIN + "/posts/?source=html", timeout=60, json={"posts": [{
        "title": title, "html": html, "status": "published"}]})
    assert res.status_code == 201, f"creating the post answered HTTP {res.status_code}: {res.text[:200]}"
    post = res.json()["posts"][0]
    return Published(slug=post["slug"], title=title, marker=marker, image_url=image_url,
                     image=image)


@then("the post is a row of table posts")
def post_in_table(lab, published):
    with _mysql(lab, database="ghost") as conn, conn.cursor() as cur:
        cur.execute("SELECT title, status FROM posts WHERE slug = %s", (published.slug,))
        rows = cur.fetchall()
    assert rows, f"table posts has no row with slug {published.slug}"
    assert rows[0] == (published.title, "published"), f"posts row for {published.slug}: {rows[0]}"


def _assert_post_served(lab, published: Published) -> None:
    url = f"{_base(lab)}/{published.slug}/"
    res = _get(url)
    assert res.status_code == 200, f"{url} answered HTTP {res.status_code}"
    assert published.marker in res.text, f"{url} does not show the post's text"
    assert urlparse(published.image_url).path in res.text, f"{url} does not show the image"


def _image_served(published: Published) -> bytes:
    res = _get(published.image_url)
    assert res.status_code == 200, f"{published.image_url} answered HTTP {res.status_code}"
    assert res.content[:8] == b"\x89PNG\r\n\x1a\n", f"{published.image_url} is not a PNG"
    return res.content


@then("the post is on the blog's public page")
def post_public(lab, expect, published):
    expect(f"post {published.slug} on the public page",
           lambda: _assert_post_served(lab, published), timeout=30, interval=1)
    published.served = _image_served(published)


@when("Ghost and MySQL are restarted")
def restart_ghost_and_mysql(lab):
    lab.target.restart("mysql")
    lab.target.restart("ghost")


@then("the post and the image are still served")
def still_served(lab, expect, timeouts, published):
    def probe():
        _assert_post_served(lab, published)
        assert _image_served(published) == published.served, (
            f"{published.image_url} serves other bytes than before the restarts")
    expect(f"post {published.slug} and its image served after the restarts", probe,
           timeout=timeouts.daemon_start * 3, interval=1)


@then("the image is a file under /ghost/images on the shared filesystem, byte-identical "
      "through a second mount")
def image_on_cephfs(lab, published, record_property):
    root, why = lab.target.cephfs_root("ghost-reader")  # its own ceph-fuse client
    if root is None:
        pytest.skip(f"the image's file on CephFS is not checked here: {why}")
    path = urlparse(published.image_url).path  # /content/images/YYYY/MM/name.png
    assert path.startswith("/content/images/"), f"the image's URL is {published.image_url}"
    rel = Path("ghost") / path[len("/content/"):]
    found = root / rel
    assert found.is_file(), f"/{rel} is not on the shared filesystem (through a second mount)"
    # Ghost may re-encode an upload it can resize; it then keeps the upload as <name>_o.<ext>
    original = found.with_name(f"{found.stem}_o{found.suffix}")
    kept = original if original.is_file() else found
    got = kept.read_bytes()
    assert hashlib.sha256(got).digest() == hashlib.sha256(published.image).digest(), (
        f"/{kept.relative_to(root)} holds {len(got)} bytes that differ from the "
        f"{len(published.image)} uploaded")
    assert _image_served(published) == found.read_bytes(), (
        f"{published.image_url} serves other bytes than /{rel} on CephFS")
    record_property("ghost_image_on_cephfs", f"/{kept.relative_to(root)}")
