"""What verify mode allows: its modes and scratch names, its two refusals, and which Ceph
commands it lets through (read-only ones, and writes on scratch names)."""

from __future__ import annotations

from typing import Optional, Sequence

from ..errors import LabError

MODES = ("build", "verify")
#: Every name a verify run writes (RBD image, RADOS object, S3 bucket, MySQL database) starts
#: with this; the scenario that wrote it removes it.
SCRATCH = "cephlab-verify-scratch"
SCRATCH_DB = SCRATCH.replace("-", "_")
#: Longest a verify-mode wait polls: the lab is as it is, nothing is being built.
WAIT_CAP = 30.0
#: How long a verify-mode wait polls before its fail-fast may end it (cephlab.judge).
SETTLE = 5.0


class VerifyRefused(LabError):
    """Verify mode changes nothing: this call would have changed the lab."""


class NotReached(LabError):
    """The stage lies beyond the stage the lab reached."""



# ---------------------------------------------------------------------------- Ceph
#: Read-only Ceph commands (argv prefixes after the tool name).
READ_ONLY = {
    "ceph": (("status",), ("health", "detail"), ("quorum_status",), ("mon", "dump"), ("mon", "stat"),
             ("mgr", "stat"), ("mgr", "services"), ("mgr", "module", "ls"), ("versions",),
             ("version",), ("osd", "dump"), ("osd", "tree"), ("osd", "stat"), ("osd", "status"),
             ("osd", "df"), ("osd", "ls"), ("osd", "metadata"), ("osd", "pool", "ls"),
             ("osd", "pool", "get"), ("osd", "pool", "autoscale-status"), ("osd", "crush", "rule", "dump"),
             ("osd", "crush", "rule", "ls"), ("osd", "safe-to-destroy"), ("osd", "ok-to-stop"),
             ("pg", "ls"), ("pg", "stat"), ("pg", "dump"), ("df",), ("fs", "status"), ("fs", "ls"),
             ("fs", "dump"), ("fs", "get"), ("mds", "stat"), ("config", "dump"), ("config", "get"),
             ("config", "show"), ("auth", "ls"), ("auth", "get"), ("crash", "ls"), ("log", "last")),
    "rados": (("df",), ("lspools",), ("ls",), ("get",), ("stat",)),
    "rbd": (("ls",), ("info",), ("du",), ("status",), ("export",)),
    "radosgw-admin": (("user", "info"), ("bucket", "list"), ("bucket", "stats")),
}
#: Writes allowed on scratch names only.
SCRATCH_WRITES = {"rbd": ("create", "resize", "rm", "import"), "rados": ("put", "rm")}
#: Options that take a value (the value is not a command word).
VALUED = {"-p", "--pool", "--size", "--format", "-f", "--connect-timeout", "--image-feature"}


def _words(args: Sequence[str]) -> list[str]:
    words, skip = [], False
    for a in args:
        if skip:
            skip = False
        elif a in VALUED:
            skip = True
        elif not a.startswith("-"):
            words.append(a)
    return words


def ceph_refusal(tool: str, args: Sequence[str], readonly: bool) -> Optional[str]:
    """Why verify mode refuses ``TOOL ARGS`` (None: allowed)."""
    words = _words(args)
    if tool == "ceph" and words == ["health"]:
        return None
    for prefix in READ_ONLY.get(tool, ()):
        if tuple(words[:len(prefix)]) == prefix:
            return None
    verbs = SCRATCH_WRITES.get(tool, ())
    if verbs and words and words[0] in verbs:
        names = [w.split("/", 1)[1] if "/" in w else w for w in words[1:]
                 if not w[:1].isdigit()]   # a size such as 64M is not a name
        if names and all(n.startswith(SCRATCH) for n in names):
            if readonly:
                return (f"`{tool} {' '.join(args)}` writes scratch data, and this run is "
                        f"--lab-verify-readonly")
            return None
    return f"`{tool} {' '.join(args)}` would change the lab"

