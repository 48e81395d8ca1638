"""Pure checks of stage vms on what the VMs report (``vagrant status``, ``ip``, ``lsblk``)."""

from __future__ import annotations

import functools
import json
from typing import Callable, Iterable, Mapping, Sequence

#: The lab's two data disks on every machine.
DATA_DISKS = ("sdc", "sdd")


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


def assert_empty_disk(lsblk_json: str, node: str, device: str,
                      types: Sequence[str] = ("disk",)) -> None:
    """``lsblk -J -o NAME,TYPE,FSTYPE,PTTYPE /dev/DEV``: a whole disk (of one of ``types``:
    a node container's disks are loop devices), no partition table, filesystem or holder
    (LVM, partitions)."""
    try:
        devices = json.loads(lsblk_json).get("blockdevices") or []
    except json.JSONDecodeError:
        raise AssertionError(f"{node}: /dev/{device} is missing ({lsblk_json.strip()[:120]})") from None
    assert devices, f"{node}: /dev/{device} is missing"
    disk = devices[0]
    problems = [f"{k} {disk[k]}" for k in ("fstype", "pttype") if disk.get(k)]
    if disk.get("type") not in types:
        problems.append(f"type {disk.get('type')}")
    if disk.get("children"):
        problems.append("holds " + ", ".join(c.get("name", "?") for c in disk["children"]))
    assert not problems, f"{node}: /dev/{device} is not empty: " + "; ".join(problems)


def machine_problems(run: Callable[[str, str], str], nodes: Iterable[str],
                     addresses: Mapping[str, str], disk_types: Sequence[str] = ("disk",)) -> list[str]:
    """What does not fit the lab on running machines: each calls itself by its name, has its
    private address, and two empty data disks. ``run(node, shell_line)`` is the machine's
    shell (``vagrant ssh``, a node container's exec); an empty list: everything fits."""
    problems = []
    for node in nodes:
        hostname = run(node, "hostname").strip()
        if hostname != node:
            problems.append(f"{node} calls itself {hostname!r}")

        def has_address(node: str = node) -> None:
            assert_has_address(run(node, "ip -4 -o addr show"), node, addresses[node])

        def empty_disk(dev: str, node: str = node) -> None:
            assert_empty_disk(run(node, f"lsblk -J -o NAME,TYPE,FSTYPE,PTTYPE /dev/{dev} || true"), node, dev,
                              disk_types)

        checks: list[Callable[[], None]] = [has_address]
        checks += [functools.partial(empty_disk, dev) for dev in DATA_DISKS]
        for check in checks:
            try:
                check()
            except AssertionError as exc:
                problems.append(str(exc))
    return problems
