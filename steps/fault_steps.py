"""Faults injected by the target's engine; the steps only name them and judge the report."""

from __future__ import annotations

import json

from pytest_bdd import parsers, then, when


@when("an OSD is killed while a client writes", target_fixture="fault_report")
def osd_killed(lab):
    return lab.inject_fault("osd_killed_during_writes")


@when(parsers.parse("every daemon of node {node} is killed"), target_fixture="fault_report")
def node_killed(lab, node):
    return lab.inject_fault("node_stopped", node=node)


@when("the active MDS is killed", target_fixture="fault_report")
def mds_killed(lab):
    return lab.inject_fault("mds_failover")


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
