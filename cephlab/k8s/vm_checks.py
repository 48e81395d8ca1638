"""Pure checks of stage vms on what the VMs report (``vagrant status``, ``ip``, ``lsblk``)."""

from __future__ import annotations

import json
from typing import Iterable, Mapping


def assert_machines_running(states: Mapping[str, str], names: Iterable[str]) -> list[str]:
    """``VagrantLab.status()``: every machine in ``names`` is running. Returns the names."""
    names = list(names)
    wrong = [f"{n} is {states.get(n, 'not defined')}" for n in names if states.get(n) != "running"]
    assert not wrong, "machines not running: " + "; ".join(wrong)
    return names


def ipv4_addresses(ip_output: str) -> list[str]:
    """``ip -4 -o addr show``: the addresses, without prefix length."""
    found = []
    for line in ip_output.splitlines():
        cols = line.split()
        if "inet" in cols:
            found.append(cols[cols.index("inet") + 1].split("/")[0])
    return found


def assert_has_address(ip_output: str, node: str, address: str) -> None:
    have = ipv4_addresses(ip_output)
    assert address in have, f"{node} lacks its private address {address} (has {', '.join(have) or 'none'})"


def assert_empty_disk(lsblk_json: str, node: str, device: str) -> None:
    """``lsblk -J -o NAME,TYPE,FSTYPE,PTTYPE /dev/DEV``: a whole disk, no partition table,
    filesystem or holder (LVM, partitions)."""
    try:
        devices = json.loads(lsblk_json).get("blockdevices") or []
    except json.JSONDecodeError:
        raise AssertionError(f"{node}: /dev/{device} is missing ({lsblk_json.strip()[:120]})") from None
    assert devices, f"{node}: /dev/{device} is missing"
    disk = devices[0]
    problems = [f"{k} {disk[k]}" for k in ("fstype", "pttype") if disk.get(k)]
    if disk.get("type") != "disk":
        problems.append(f"type {disk.get('type')}")
    if disk.get("children"):
        problems.append("holds " + ", ".join(c.get("name", "?") for c in disk["children"]))
    assert not problems, f"{node}: /dev/{device} is not empty: " + "; ".join(problems)
