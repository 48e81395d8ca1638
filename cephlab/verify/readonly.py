"""The read-only stand-ins verify mode hands the steps: the Ceph runner, the Kubernetes API,
the machines and the target, each refusing what would change the lab."""

from __future__ import annotations

import abc
from typing import Any, ClassVar, NoReturn, Optional, Sequence

from ..ceph import CephRunner, CommandResult
from ..errors import ConfigError
from ..targets import Target
from .rules import VerifyRefused, ceph_refusal


class GuardedCeph(CephRunner):
    def __init__(self, inner: CephRunner, readonly: bool = False):
        self.inner, self.readonly = inner, readonly
        self.timeout = inner.timeout

    def command(self, argv: Sequence[str]) -> list[str]:
        return self.inner.command(argv)

    def run(self, *args: str, tool: str = "ceph", **kw) -> CommandResult:
        why = ceph_refusal(tool, args, self.readonly)
        if why:
            raise VerifyRefused(f"verify mode: {why}")
        return self.inner.run(*args, tool=tool, **kw)



# ---------------------------------------------------------------------------- Kubernetes
class ReadOnlyKube:
    """The reading half of :class:`cephlab.k8s.kube.Kube`; writes are refused."""

    def __init__(self, inner):
        self.inner = inner
        self.kubeconfig, self.context = inner.kubeconfig, inner.context

    #: What passes through unchanged: reads, and a TokenRequest (answered, not stored: the
    #: cluster keeps nothing of it).
    READS = frozenset({"where", "probe_api", "get_json", "exists", "secret_value", "pod_log",
                       "events", "create_token"})

    def __getattr__(self, name: str):
        if name in self.READS:
            return getattr(self.inner, name)
        raise AttributeError(f"{type(self).__name__} has no {name}: verify mode passes only "
                             f"{', '.join(sorted(self.READS))} to the API, and refuses writes")

    def exec(self, pod: str, namespace: str, argv: list[str], timeout: float = 60):
        if argv[:1] not in (["ls"], ["cat"], ["stat"]):
            raise VerifyRefused(f"verify mode: `{' '.join(argv)}` in pod {pod} may change the lab")
        return self.inner.exec(pod, namespace, argv, timeout)

    def _refuse(self, what: str, obj) -> NoReturn:
        kind = obj.get("kind", "?")
        name = (obj.get("metadata") or {}).get("name") or obj.get("name", "?")
        raise VerifyRefused(f"verify mode does not {what} {kind} {name}")

    def apply(self, obj) -> bool:
        self._refuse("apply", obj)

    def create_if_absent(self, obj) -> bool:
        self._refuse("create", obj)

    def delete(self, ref) -> bool:
        self._refuse("delete", ref)

    def merge_patch(self, ref, patch) -> None:
        self._refuse("patch", ref)


class ReadOnlyMachines:
    """The reading half of :class:`cephlab.k8s.vagrant.VagrantLab`: state and read-only
    commands over ``vagrant ssh``; never ``vagrant up``, ``halt`` or ``destroy``."""

    READ_COMMANDS = ("ip ", "lsblk ", "hostname", "uname", "cat /etc/hosts")

    def __init__(self, inner):
        self.inner = inner

    @property
    def disk_types(self) -> tuple[str, ...]:
        return self.inner.disk_types

    def status(self) -> dict[str, str]:
        return self.inner.status()

    def running(self) -> bool:
        return self.inner.running()

    def ssh(self, node: str, command: str) -> str:
        if not command.startswith(self.READ_COMMANDS):
            raise VerifyRefused(f"verify mode: `{command}` on {node} may change the machine")
        return self.inner.ssh(node, command)

    def up(self, *args, **kw) -> None:
        raise VerifyRefused("verify mode never runs `vagrant up`")

    def destroy(self, *args, **kw) -> None:
        raise VerifyRefused("verify mode never runs `vagrant destroy`")


# ---------------------------------------------------------------------------- the target
#: The target contract's mutating methods, each with what it would have done (the refusal
#: names it; ``{0}`` is the call's first argument). ``cephfs_root`` answers instead of
#: raising, as the contract lets it, and is defined on the class.
REFUSED = {
    "apply": "apply stage {0.slug}",
    "resume": "start a stopped lab",
    "repair": "restart what is not running",
    "destroy": "destroy the lab",
    "restart": "restart {0}",
    "inject_fault": "inject fault {0}",
    "undo_faults": "undo a fault left in place (remove partition rules, restore full ratios)",
}
#: The target contract's methods, by what they do to the lab (a test keeps this complete).
MUTATING = frozenset(REFUSED) | {"cephfs_root"}
READING = frozenset({"sanity_checks", "header_lines", "ceph_release", "ceph", "broken", "status",
                     "fail_fast", "causes", "diagnostics", "describe", "rebuild_refusal",
                     "fault_leftovers", "mon_names", "node_name", "crush_host", "node_address",
                     "expected_address", "kube_api", "machines", "endpoint", "credentials",
                     "block_volume", "unavailable", "refusal", "owned_pids", "footprint"})
#: Reading methods about a target class, not a lab: the class's own answer stands.
CLASS_LEVEL = frozenset({"unavailable", "refusal", "header_lines", "ceph_release"})


def _forwarding(name: str):
    def forward(self: "ReadOnlyTarget", *args: Any, **kw: Any) -> Any:
        return getattr(self.inner, name)(*args, **kw)
    forward.__name__ = forward.__qualname__ = name
    forward.__doc__ = f"The wrapped target's ``{name}``."
    return forward


def _refusing(name: str, what: str):
    def refuse(self: "ReadOnlyTarget", *args: Any, **kw: Any) -> NoReturn:
        self._refuse(what.format(*args))
    refuse.__name__ = refuse.__qualname__ = name
    refuse.__doc__ = f"Refused in verify mode (it would {what.split(' {')[0]})."
    return refuse


def _from_tables(cls):
    """Give ``cls`` every method of the tables it does not define itself: each mutating one
    refuses, each reading one forwards to the wrapped target."""
    own = set(vars(cls))
    for name, what in REFUSED.items():
        if name not in own:
            setattr(cls, name, _refusing(name, what))
    cls.forwarded = frozenset(READING - CLASS_LEVEL - own)
    for name in cls.forwarded:
        setattr(cls, name, _forwarding(name))
    abc.update_abstractmethods(cls)
    return cls


@_from_tables
class ReadOnlyTarget(Target):
    """A target in verify mode: reads go to ``inner``, anything that changes the lab is
    refused before it reaches it. What the class does not define comes from the tables
    above (:data:`REFUSED`, :data:`READING`); it defines only what differs from a refusal or
    a plain forward."""

    #: The reading methods that forward to the wrapped target unchanged (set by the tables).
    forwarded: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, inner: Target, readonly_data: bool = False):
        super().__init__(inner.cfg, inner.state)
        self.inner = inner
        # Target.name is a class variable; the wrapper takes the wrapped target's name per instance
        self.name = inner.name  # type: ignore[misc]
        self.readonly_data = readonly_data
        self._ceph: Optional[GuardedCeph] = None

    def _refuse(self, what: str) -> NoReturn:
        raise VerifyRefused(f"verify mode changes nothing: it does not {what} "
                            f"(the {self.inner.name} target)")

    def cephfs_root(self, name: str):
        return None, ("verify mode starts no CephFS client (a mount is a daemon of its own and "
                      "is recorded in the lab state)")

    # reading -------------------------------------------------------------------------
    def sanity_checks(self) -> None:
        try:
            self.inner.sanity_checks()
        except VerifyRefused as exc:
            if not self.inner.state.exists:
                from .. import invoke

                where = self.inner.cfg.lab_dir
                keep = invoke.pytest_run(f"--lab-target={self.inner.name}", f"--lab-dir={where}",
                                         "--lab-destroy=never")
                raise ConfigError(
                    f"verify mode grades a lab that exists and builds nothing; {where} holds no "
                    f"lab (no state.json). Give the kept lab's --lab-dir, or keep one first: {keep}"
                ) from None
            raise ConfigError(f"verify mode cannot read this lab: {exc}") from None

    @property
    def ceph(self) -> CephRunner:
        if self._ceph is None:
            self._ceph = GuardedCeph(self.inner.ceph, self.readonly_data)
        return self._ceph

    def rebuild_refusal(self) -> Optional[str]:
        return "verify mode rebuilds nothing"

    def kube_api(self):
        return ReadOnlyKube(self.inner.kube_api())

    def machines(self):
        return ReadOnlyMachines(self.inner.machines())



