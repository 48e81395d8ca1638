"""Which ``ceph`` arguments the command server takes (cephlab.ceph_server.split_args) and how
a dead server hands over to the CLI; its answers against the CLI's are compared on a real lab in
test_local_lab.py."""

import pytest

from cephlab.ceph_server import split_args

pytestmark = pytest.mark.standin


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


def test_a_server_that_died_before_the_request_leaves_the_answer_to_the_cli():
    """The pool hands a dead server's command to the CLI (Unavailable); the request left in
    the pipe's buffer must not raise again when the pipe is closed (CI saw BrokenPipeError
    from that close when the server was gone before the request was written)."""
    import sys
    from cephlab.ceph_server import Server, ServerPool, Unavailable

    # the child at the pipe's far end says ready and exits: the pipe, not Ceph, is tested
    argv = [sys.executable, "-c", "import sys; print('{\"ready\": true}', flush=True)"]
    pool = ServerPool(lambda: argv)
    server = Server(argv)
    server.proc.wait()            # gone before the request is written,
    server.alive = lambda: True   # after the pool last saw it alive
    pool._idle.append(server)
    with pytest.raises(Unavailable, match="the server failed: .*Broken pipe"):
        pool.ask(["status"], "json", b"", 5)
    assert server.proc.stdin.closed and server.proc.stdout.closed
