"""The read-only stand-ins verify mode hands the steps: the Ceph runner, the Kubernetes API,
the machines and the target, each refusing what would change the lab."""

from __future__ import annotations

from typing import Any, NoReturn, Optional, Sequence

from ..ceph import CephRunner, CommandResult
from ..errors import ConfigError
from ..stages import Stage
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

    def where(self) -> str:
        return self.inner.where()

    def probe_api(self, timeout: float = 5.0) -> str:
        return self.inner.probe_api(timeout)

    def get_json(self, *args, **kw):
        return self.inner.get_json(*args, **kw)

    def exists(self, obj) -> bool:
        return self.inner.exists(obj)

    def secret_value(self, name: str, namespace: str, key: str) -> str:
        return self.inner.secret_value(name, namespace, key)

    def pod_log(self, *args, **kw) -> str:
        return self.inner.pod_log(*args, **kw)

    def events(self, namespace: str, limit: int = 20) -> list[str]:
        return self.inner.events(namespace, limit)

    def create_token(self, service_account: str, namespace: str, seconds: int = 600) -> str:
        # a TokenRequest is answered, not stored: the cluster keeps nothing of it
        return self.inner.create_token(service_account, namespace, seconds)

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
#: The target contract's methods, by what they do to the lab (a test keeps this complete).
MUTATING = frozenset({"apply", "resume", "repair", "destroy", "restart", "inject_fault",
                      "undo_faults", "cephfs_root"})
READING = frozenset({"sanity_checks", "header_lines", "ceph", "broken", "status", "fail_fast", "causes", "diagnostics",
                     "describe", "rebuild_refusal", "fault_leftovers", "mon_names", "node_name", "crush_host",
                     "node_address", "expected_address", "kube_api", "machines", "endpoint",
                     "credentials", "block_volume", "unavailable", "refusal", "owned_pids",
                     "footprint"})


class ReadOnlyTarget(Target):
    """A target in verify mode: reads go to ``inner``, anything that changes the lab is
    refused before it reaches it."""

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

    # mutating ------------------------------------------------------------------------
    def apply(self, stage: Stage) -> None:
        self._refuse(f"apply stage {stage.slug}")

    def resume(self) -> list[str]:
        self._refuse("start a stopped lab")

    def repair(self) -> list[str]:
        self._refuse("restart what is not running")

    def destroy(self) -> list[str]:
        self._refuse("destroy the lab")

    def restart(self, service: str) -> None:
        self._refuse(f"restart {service}")

    def inject_fault(self, fault: str, **options: Any):
        self._refuse(f"inject fault {fault}")

    def undo_faults(self) -> list[str]:
        self._refuse("undo a fault left in place (remove partition rules, restore full ratios)")

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

    def broken(self) -> list[str]:
        return self.inner.broken()

    def status(self) -> list[str]:
        return self.inner.status()

    def fail_fast(self) -> None:
        self.inner.fail_fast()

    def causes(self, detail: bool = False) -> list:
        return self.inner.causes(detail)

    def diagnostics(self) -> str:
        return self.inner.diagnostics()

    def fault_leftovers(self) -> list[str]:
        return self.inner.fault_leftovers()

    def describe(self) -> str:
        return self.inner.describe()

    def rebuild_refusal(self) -> Optional[str]:
        return "verify mode rebuilds nothing"

    def mon_names(self):
        return self.inner.mon_names()

    def node_name(self, lab_node: str) -> str:
        return self.inner.node_name(lab_node)

    def crush_host(self, lab_node: str) -> str:
        return self.inner.crush_host(lab_node)

    def node_address(self, lab_node: str) -> str:
        return self.inner.node_address(lab_node)

    def expected_address(self, lab_node: str):
        return self.inner.expected_address(lab_node)

    def kube_api(self):
        return ReadOnlyKube(self.inner.kube_api())

    def machines(self):
        return ReadOnlyMachines(self.inner.machines())

    def endpoint(self, service: str) -> tuple[str, int]:
        return self.inner.endpoint(service)

    def credentials(self, service: str) -> dict[str, str]:
        return self.inner.credentials(service)

    def block_volume(self, service: str) -> tuple[str, str]:
        return self.inner.block_volume(service)

    def owned_pids(self) -> set[int]:
        return self.inner.owned_pids()

    def footprint(self):
        return self.inner.footprint()



