"""The lab's services through their real clients: the Ceph dashboard (requests), S3 (minio),
MySQL (pymysql), and the shared filesystem through two independent mounts.

Endpoints and generated credentials come from the target; credentials are never printed.
"""

from __future__ import annotations

import hashlib
import io
import os
import uuid

import pymysql
import pytest
import requests
from minio import Minio
from minio.error import S3Error
from pytest_bdd import parsers, then, when

from cephlab import data, model
from steps.lists import LIST

API = {"Accept": "application/vnd.ceph.api.v1.0+json", "Content-Type": "application/json"}
OBJECT_SIZES = (0, 1, 1024 * 1024, 12 * 1024 * 1024 + 7)  # the last one goes multipart
PART_SIZE = 5 * 1024 * 1024


def _url(lab, service):
    host, port = lab.target.endpoint(service)
    return f"http://{host}:{port}"


# ------------------------------------------------------------------ Ceph dashboard
@then("the Ceph dashboard serves its login page")
def dashboard_page(lab, expect, timeouts):
    def probe():
        try:
            res = requests.get(_url(lab, "ceph_dashboard") + "/", timeout=5)
        except requests.RequestException as exc:
            raise AssertionError(f"{_url(lab, 'ceph_dashboard')} does not answer: {exc}") from None
        assert res.status_code == 200, f"HTTP {res.status_code}"
        assert "<title>Ceph</title>" in res.text, "the page is not the Ceph dashboard"
    expect("the Ceph dashboard's login page", probe, timeout=timeouts.daemon_start)


@when("the dashboard's admin user logs in with the generated password and with a wrong one",
      target_fixture="dashboard_logins")
def dashboard_login(lab):
    creds = lab.target.credentials("ceph_dashboard")
    url = _url(lab, "ceph_dashboard") + "/api/auth"
    good = requests.post(url, json=creds, headers=API, timeout=10)
    wrong = requests.post(url, json={"username": creds["username"], "password": "not-" + uuid.uuid4().hex},
                          headers=API, timeout=10)
    return {"user": creds["username"], "good": good, "wrong": wrong}


@then("the generated password gets a token and the wrong one is refused", target_fixture="dashboard_token")
def dashboard_login_answers(dashboard_logins):
    good, wrong = dashboard_logins["good"], dashboard_logins["wrong"]
    assert good.status_code == 201 and good.json().get("token"), (
        f"login as {dashboard_logins['user']} answered HTTP {good.status_code}")
    assert wrong.status_code in (400, 401), f"a wrong password got HTTP {wrong.status_code}"
    return good.json()["token"]


@then("the health the dashboard reports matches ceph status")
def dashboard_health(lab, ceph, expect, timeouts, dashboard_token):
    def probe():
        res = requests.get(_url(lab, "ceph_dashboard") + "/api/health/minimal", timeout=10,
                           headers={**API, "Authorization": f"Bearer {dashboard_token}"})
        assert res.status_code == 200, f"/api/health/minimal answered HTTP {res.status_code}"
        shown = res.json()["health"]["status"]
        truth = ceph.json("status")["health"]["status"]
        assert shown == truth, f"dashboard says {shown}, ceph status says {truth}"
        return shown
    expect("the dashboard's health to match ceph status", probe, timeout=30, interval=1)


# ------------------------------------------------------------------ S3
def _s3(lab, *, wrong_secret: bool = False) -> Minio:
    host, port = lab.target.endpoint("s3")
    creds = lab.target.credentials("s3")
    secret = creds["secret_key"]
    if wrong_secret:  # differs in its first character whatever that character is
        secret = ("y" if secret[:1] == "x" else "x") + secret[1:]
    return Minio(f"{host}:{port}", access_key=creds["access_key"], secret_key=secret, secure=False)


@when("a bucket is created through the S3 API", target_fixture="bucket")
def s3_bucket(request, lab, judge, expect, timeouts):
    name = judge.name("S3", "lab")
    client = _s3(lab)
    host, port = lab.target.endpoint("s3")

    def make():
        try:
            client.make_bucket(name)
        except S3Error:
            raise  # an answer from S3 (e.g. a denial) is final, not a reason to wait
        except Exception as exc:  # urllib3 gives up with its own error types
            raise AssertionError(f"S3 at {host}:{port} does not answer: {type(exc).__name__}: "
                                 f"{str(exc)[:200]}") from None
    expect(f"S3 at {host}:{port} to create bucket {name}", make, timeout=timeouts.daemon_start)
    request.addfinalizer(lambda: _remove_bucket(client, name))
    return name


def _remove_bucket(client: Minio, name: str) -> None:
    """Leave no bucket behind when a scenario stops half-way (a no-op after the delete step)."""
    try:
        if client.bucket_exists(name):
            for obj in client.list_objects(name):
                client.remove_object(name, obj.object_name)
            client.remove_bucket(name)
    except Exception:  # cleanup must not hide the scenario's own outcome
        pass


@then("the bucket is listed")
def s3_bucket_listed(lab, bucket):
    client = _s3(lab)
    assert client.bucket_exists(bucket), f"bucket {bucket} was created but does not exist"
    assert bucket in [b.name for b in client.list_buckets()], f"bucket {bucket} is not listed"


@when("objects of several sizes are put into the bucket", target_fixture="s3_digests")
def s3_put_objects(lab, bucket):
    client, digests = _s3(lab), {}
    for size in OBJECT_SIZES:
        blob, key = os.urandom(size), f"object-{size}"
        client.put_object(bucket, key, io.BytesIO(blob), size, part_size=PART_SIZE)
        digests[key] = (size, hashlib.sha256(blob).hexdigest())
    return digests


@then("they are listed with their sizes and read back byte-identical")
def s3_objects_read_back(lab, bucket, s3_digests):
    client = _s3(lab)
    for key, (size, _) in s3_digests.items():
        if size > PART_SIZE:  # a multipart upload's ETag ends in -<number of parts>
            etag = client.stat_object(bucket, key).etag or ""
            assert "-" in etag, f"{key} ({size} bytes) was not uploaded in parts: etag {etag!r}"
    listed = {o.object_name: o.size for o in client.list_objects(bucket)}
    assert listed == {k: size for k, (size, _) in s3_digests.items()}, f"listing shows {listed}"
    for key, (_, digest) in s3_digests.items():
        resp = client.get_object(bucket, key)
        try:
            got = hashlib.sha256(resp.read()).hexdigest()
        finally:
            resp.close()
            resp.release_conn()
        assert got == digest, f"{key} read back different from what was written"


@when("the objects and the bucket are deleted")
def s3_delete(lab, bucket):
    client = _s3(lab)
    for obj in list(client.list_objects(bucket)):
        client.remove_object(bucket, obj.object_name)
    client.remove_bucket(bucket)


@then("the bucket is gone")
def s3_bucket_gone(lab, bucket):
    client = _s3(lab)
    assert not client.bucket_exists(bucket), f"bucket {bucket} still exists after it was deleted"
    assert bucket not in [b.name for b in client.list_buckets()]


@then("wrong keys are denied")
def s3_denied(lab):
    with pytest.raises(S3Error) as err:
        _s3(lab, wrong_secret=True).list_buckets()
    assert err.value.code in ("SignatureDoesNotMatch", "InvalidAccessKeyId", "AccessDenied"), err.value.code


# ------------------------------------------------------------------ MySQL
def _mysql(lab, **kw):
    host, port = lab.target.endpoint("mysql")
    creds = lab.target.credentials("mysql")
    return pymysql.connect(host=host, port=port, user=creds["user"], password=creds["password"],
                           connect_timeout=5, **kw)


def _mysql_reachable(lab):
    try:
        _mysql(lab).close()
    except pymysql.err.OperationalError as exc:
        host, port = lab.target.endpoint("mysql")
        raise AssertionError(f"MySQL at {host}:{port}: {exc}") from None


@then("a client connects and lists the databases")
def mysql_databases(lab, expect, timeouts, record_property):
    expect("MySQL to accept a client", lambda: _mysql_reachable(lab), timeout=timeouts.daemon_start)
    with _mysql(lab) as conn, conn.cursor() as cur:
        cur.execute("SELECT VERSION()")
        version = cur.fetchone()[0]
        cur.execute("SHOW DATABASES")
        names = {r[0] for r in cur.fetchall()}
    assert {"mysql", "information_schema"} <= names, f"databases: {sorted(names)}"
    server = "MariaDB" if "mariadb" in version.lower() else "MySQL"
    record_property("mysql_server", f"{server} {version}")
    print(f"the MySQL-compatible server on this target is {server} {version}")


@when(parsers.parse("{count:d} rows are written to database ghost"), target_fixture="mysql_rows")
def mysql_write_rows(request, lab, judge, count):
    rows = [(i, uuid.uuid4().hex) for i in range(count)]
    judge.writes("MySQL")
    db = judge.database()
    judge.cleanup(request, lambda: _drop(lab, db))
    with _mysql(lab, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE IF NOT EXISTS {db}")
        cur.execute(f"CREATE TABLE IF NOT EXISTS {db}.lab_rows (id INT PRIMARY KEY, payload CHAR(32))")
        cur.execute(f"DELETE FROM {db}.lab_rows")
        cur.executemany(f"INSERT INTO {db}.lab_rows VALUES (%s, %s)", rows)
    return rows


def _drop(lab, db: str) -> None:
    with _mysql(lab, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {db}")


@when("the server restarts")
def mysql_restart(judge):
    judge.restart("mysql", "rows")  # verify mode: the rows are still read back, unrestarted


@then("the rows read back identical")
def mysql_rows_read_back(lab, judge, expect, timeouts, mysql_rows):
    def read():
        try:
            with _mysql(lab) as conn, conn.cursor() as cur:
                cur.execute(f"SELECT id, payload FROM {judge.database()}.lab_rows ORDER BY id")
                return [tuple(r) for r in cur.fetchall()]
        except pymysql.err.OperationalError as exc:
            raise AssertionError(f"cannot reach MySQL: {exc}") from None
    got = expect("MySQL to answer", read, timeout=timeouts.daemon_start)
    assert got == mysql_rows, (f"{len(got)} rows read, {len(mysql_rows)} written; first differences: "
                               f"{[r for r in mysql_rows if r not in set(got)][:3]}")


@then("the database's volume holds its data in Ceph")
def mysql_volume_in_ceph(lab, ceph):
    pool, image = lab.target.block_volume("mysql")
    assert pool == model.BLOCK_POOL, (
        f"MySQL's volume is RBD image {image} in pool {pool}, expected pool {model.BLOCK_POOL} "
        f"(StorageClass rook-ceph-block)")
    usage = ceph.json("du", f"{pool}/{image}", tool="rbd")
    used = sum(i.get("used_size", 0) for i in usage.get("images", []))
    assert used > 0, f"rbd du {pool}/{image} reports {used} bytes used"


# ------------------------------------------------------------------ CephFS through mounts
@when(parsers.parse("directories {dirs:List} are made through one mount of the shared filesystem", LIST),
      target_fixture="cephfs_mounts")
def cephfs_dirs(lab, dirs):
    root_a, why = lab.target.cephfs_root("a")
    if root_a is None:
        pytest.skip(f"the shared filesystem cannot be mounted here: {why}")
    root_b, _ = lab.target.cephfs_root("b")
    for name in dirs:
        (root_a / name).mkdir(exist_ok=True)  # as the lab's helper pod did
    return {"a": root_a, "b": root_b, "dirs": dirs}


@then("the other mount sees the directories")
def cephfs_dirs_seen(cephfs_mounts):
    missing = [d for d in cephfs_mounts["dirs"] if not (cephfs_mounts["b"] / d).is_dir()]
    assert not missing, f"made through one mount, not seen by the other: {missing}"


@when("files are written through one mount", target_fixture="cephfs_written")
def cephfs_write(cephfs_mounts):
    return data.write_files(cephfs_mounts["a"], f"shared-{uuid.uuid4().hex[:8]}")


@then("they read back identical through the other mount")
def cephfs_shared(cephfs_mounts, cephfs_written):
    bad = data.read_files(cephfs_mounts["b"], cephfs_written)
    assert not bad, "through the second mount: " + "; ".join(bad)
