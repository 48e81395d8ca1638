"""The harness's own exceptions.

``LabError`` is the root. ``ConfigError`` is raised before any work starts (bad input).
``WaitTimeout``, ``DaemonExited`` and ``CannotHeal`` subclass ``AssertionError`` so that pytest reports
them as failed assertions of the scenario, not as crashes of the harness.
"""

from __future__ import annotations


class LabError(Exception):
    """Something the harness could not do."""


class ConfigError(LabError):
    """Bad input found before any work started: unknown target, missing tool, busy port..."""


class CommandError(LabError):
    """A command exited non-zero. Carries the command line, exit code and output tails."""

    def __init__(self, argv: list[str], rc: int, stdout: str, stderr: str):
        self.argv, self.rc, self.stdout, self.stderr = list(argv), rc, stdout, stderr
        super().__init__(
            f"command failed (exit {rc}): {' '.join(redact(argv))}\n"
            f"stderr: {_tail(stderr)}\nstdout: {_tail(stdout)}"
        )


class WaitTimeout(AssertionError, LabError):
    """A named wait ran out of time; the message shows the last observed state."""


class DaemonExited(AssertionError, LabError):
    """A daemon the harness started is gone; the message carries its log tail."""


class CannotHeal(AssertionError, LabError):
    """A wait's state cannot come: causes found in the lab (``cephlab.diagnose.Cause``), each
    naming its object and the next command."""

    def __init__(self, message: str, causes=()):
        super().__init__(message)
        self.causes = list(causes)


#: Flags whose value is a credential: shown as *** in every message.
SECRET_FLAGS = ("--secret", "--secret-key", "--access-key", "--password", "--key")


def redact(argv: list[str]) -> list[str]:
    out, hide = [], False
    for arg in argv:
        if hide:
            out.append("***")
            hide = False
            continue
        flag, eq, _ = arg.partition("=")
        if flag in SECRET_FLAGS:
            if eq:
                out.append(f"{flag}=***")
            else:
                out.append(arg)
                hide = True
            continue
        out.append(arg)
    return out


def _tail(text: str, limit: int = 1500) -> str:
    text = (text or "").strip()
    return text if len(text) <= limit else "…" + text[-limit:]
