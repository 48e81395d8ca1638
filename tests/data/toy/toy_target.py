"""A toy target (tests/test_extending.py adds it to a copy): it runs the stages' local work
that needs nothing but the lab directory, which here is only the toy stage."""

from __future__ import annotations

from ..errors import ConfigError
from ..stage import Stage
from ..targets import NotOffered, Target
from .. import stages


class ToyTarget(Target):
    name = "toy"
    supported = frozenset({"toy"})

    def sanity_checks(self) -> None:
        if not self.cfg.lab_dir.parent.is_dir():
            raise ConfigError(f"the toy target needs {self.cfg.lab_dir.parent}")

    @property
    def ceph(self):
        raise NotOffered("the toy target has no Ceph")

    def apply(self, stage: Stage) -> None:
        work = stages.work(stage, "local")
        assert work is not None
        work(self)

    def resume(self) -> list[str]:
        return []

    def broken(self) -> list[str]:
        return []

    def repair(self) -> list[str]:
        return []

    def status(self) -> list[str]:
        return [f"toy lab in {self.cfg.lab_dir}"]

    def fail_fast(self) -> None:
        return None

    def causes(self, detail: bool = False) -> list:
        return []

    def diagnostics(self) -> str:
        return "the toy target keeps nothing to diagnose"

    def destroy(self) -> list[str]:
        (self.cfg.lab_dir / "toy.txt").unlink(missing_ok=True)
        return []

    def describe(self) -> str:
        return f"toy lab in {self.cfg.lab_dir}"
