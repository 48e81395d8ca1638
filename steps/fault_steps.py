"""Faults injected by the target's engine; the steps only name them and judge the report."""

from __future__ import annotations

import json

import pytest
from pytest_bdd import parsers, then, when

from cephlab.diagnose import full_ratios
from cephlab.targets import NotOffered

RATIOS_BEFORE = pytest.StashKey[dict]()


@pytest.fixture
def undo_faults(lab):
    """Whatever happens in the scenario, no partition rule and no lowered ratio outlives it."""
    yield
    for what in lab.target.undo_faults():
        lab.announce(f"after the scenario: {what}")


@when("an OSD is killed while a client writes", target_fixture="fault_report")
def osd_killed(lab):
    return lab.inject_fault("osd_killed_during_writes")


@when(parsers.parse("every daemon of node {node} is killed"), target_fixture="fault_report")
def node_killed(lab, node):
    return lab.inject_fault("node_stopped", node=node)


@when("the active MDS is killed", target_fixture="fault_report")
def mds_killed(lab):
    return lab.inject_fault("mds_failover")


@when(parsers.parse("node {node} is cut off from the other nodes while clients write"),
      target_fixture="fault_report")
def node_cut_off(lab, node, undo_faults):
    try:
        return lab.inject_fault("network_partition", node=node)
    except NotOffered as exc:  # no nft or no root here: said before anything was done
        pytest.skip(str(exc))


@when("the OSDs are pushed past near-full and then past full", target_fixture="fault_report")
def disks_filled(lab, undo_faults, request):
    request.node.stash[RATIOS_BEFORE] = full_ratios(lab.ceph.json("osd", "dump"))
    return lab.inject_fault("disk_full")


@then("no partition rule of the lab is left")
def no_partition_rule(lab):
    left = lab.target.fault_leftovers()
    assert not left, "; ".join(left)


@then("the full ratios are the cluster's own again")
def ratios_restored(lab, request):
    now = full_ratios(lab.ceph.json("osd", "dump"))
    assert now == request.node.stash[RATIOS_BEFORE], f"ratios now {now}, before {request.node.stash[RATIOS_BEFORE]}"
    left = lab.target.fault_leftovers()
    assert not left, "; ".join(left)


@then("the fault was noticed and the lab recovered")
def fault_recovered(lab, fault_report, record_property):
    lab.fault_reports.append(fault_report.to_json())
    record_property("fault_report", json.dumps(fault_report.to_json()))
    print(json.dumps(fault_report.to_json(), indent=2))
    assert fault_report.detect_seconds > 0 and fault_report.recover_seconds > 0, fault_report


@then("nothing was lost")
def nothing_lost(fault_report):
    assert sum(fault_report.checked.values()) > 0, f"nothing was checked: {fault_report.checked}"
    assert fault_report.lost == 0, (f"{fault_report.lost} lost after {fault_report.injected}: "
                                    + "; ".join(fault_report.lost_items[:10]))
