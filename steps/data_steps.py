"""Data written before a change and read back after it, byte for byte."""

from __future__ import annotations

from pytest_bdd import given, parsers, then

from cephlab import data, model, stages

FACT = "written_before"   #: stage slug -> what was written before it (cephlab.state.FACTS)


@given(parsers.parse("objects, a block image and files are written before {slug}"))
def write_before(lab, judge, ceph, slug):
    """Written once per lab: a kept lab that already went through ``slug`` keeps what was
    written before it, so the check still compares against data older than the change."""
    stages.get(slug)  # an unknown slug in a feature is an error
    written = dict(lab.state.get(FACT, {}))
    if slug in written:
        return
    if judge.too_late_to_write(slug):  # verify mode: the lab is past the stage
        return
    record = {
        "objects": data.write_objects(ceph, model.BLOCK_POOL, f"before-{slug}"),
        "image": f"before-{slug}",
        "files": {},
        "files_skipped": None,
    }
    record["image_sha256"] = data.write_image(ceph, model.BLOCK_POOL, record["image"])
    root, why = lab.target.cephfs_root("data")
    if root is None:
        record["files_skipped"] = why
    else:
        record["files"] = data.write_files(root, f"before-{slug}")
    written[slug] = record
    lab.state.put(FACT, written)


@then(parsers.parse("everything written before {slug} reads back byte-identical"))
def read_back(lab, judge, ceph, slug):
    record = lab.state.get(FACT, {}).get(slug)
    if not record and judge.nothing_recorded(slug):
        return
    bad = data.read_objects(ceph, model.BLOCK_POOL, record["objects"])
    bad += data.read_image(ceph, model.BLOCK_POOL, record["image"], record["image_sha256"])
    root, why = lab.target.cephfs_root("data") if record["files"] else (None, "")
    if record["files"] and root is None and judge.skip_unreadable(
            slug, f"{len(record['files'])} CephFS files written before {slug} not read back: {why}"):
        record = {**record, "files": {}}
    if record["files"]:
        assert root is not None, f"files were written through CephFS but it cannot be mounted: {why}"
        bad += data.read_files(root, record["files"])
    checked = len(record["objects"]) + 1 + len(record["files"])
    assert not bad, f"{len(bad)} of {checked} items lost or changed: " + "; ".join(bad)
    if record["files_skipped"]:
        print(f"CephFS files were not part of this check: {record['files_skipped']}")
