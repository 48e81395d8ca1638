"""Which ``ceph`` arguments the command server takes (cephlab.ceph_server.split_args); its
answers against the CLI's are compared on a real lab in test_local_lab.py."""

import pytest

from cephlab.ceph_server import split_args


@pytest.mark.parametrize("args, expected", [
    (["osd", "dump", "--format", "json"], (["osd", "dump"], "json", False)),
    (["osd", "tree", "-f", "json-pretty"], (["osd", "tree"], "json-pretty", False)),
    (["status", "--format=json"], (["status"], "json", False)),
    (["osd", "new", "uuid", "3", "-i", "-"], (["osd", "new", "uuid", "3"], None, True)),
    (["osd", "pool", "delete", "p", "p", "--yes-i-really-really-mean-it"],
     (["osd", "pool", "delete", "p", "p", "--yes-i-really-really-mean-it"], None, False)),
    (["osd", "pool", "set", "p", "x", "-1"], (["osd", "pool", "set", "p", "x", "-1"], None, False)),
])
def test_the_server_takes_command_words_format_and_stdin(args, expected):
    assert split_args(args) == expected


@pytest.mark.parametrize("args", [
    ["--admin-daemon", "/run/x.asok", "mon_status"],  # the CLI's own mode
    ["osd", "new", "uuid", "-i", "/etc/file"],         # input from a file
    ["status", "--debug-ms", "1"],                     # a config option for the client
    ["-s"], ["-w"], ["status", "-o", "/tmp/out"],      # CLI options
])
def test_the_cli_keeps_its_own_options(args):
    assert split_args(args) is None
