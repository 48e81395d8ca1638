"""The one wait helper: every wait has a name, a timeout, a poll interval and a failure
message that shows the last observed state.

A *probe* is a callable that returns a value when the awaited condition holds and raises
``AssertionError`` (whose message describes what it saw) when it does not yet hold. The
same pure check functions used for plain assertions therefore serve as probes.

``fail_fast`` is called after every attempt that did not succeed; it raises (``DaemonExited``, ``CannotHeal``)
when the awaited state can no longer come, so the wait ends at once instead of at its
timeout; the error then also names the wait, how long it ran and its last observed state.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Optional, TypeVar

import tenacity

from . import profile
from .errors import CannotHeal, CommandError, DaemonExited, WaitTimeout

T = TypeVar("T")

#: Receives (wait name, last observed text, elapsed seconds). Set by the pytest plugin to
#: show live progress; ``None`` keeps waits silent (unit tests, library use).
ProgressFn = Callable[[str, str, float], None]
_progress: Optional[ProgressFn] = None


def set_progress(fn: Optional[ProgressFn]) -> None:
    global _progress
    _progress = fn


#: Never retried: the awaited state cannot come any more (or an inner wait already gave up).
_TERMINAL = (DaemonExited, CannotHeal, WaitTimeout)


@dataclass
class _Seen:
    text: str = "nothing observed yet"
    attempts: int = 0


def after(seconds: float, check: Callable[[], None],
          clock: Optional[Callable[[], float]] = None) -> Callable[[], None]:
    """``check`` as a fail-fast that holds back for ``seconds`` from its first call: a wait
    gets that long before a known cause may end it."""
    start: list[float] = []

    def held_back() -> None:
        now = (clock or time.monotonic)()
        if not start:
            start.append(now)
        if now - start[0] >= seconds:
            check()

    return held_back


def wait_for(
    name: str,
    probe: Callable[[], T],
    *,
    timeout: float,
    interval: float = 1.0,
    fail_fast: Optional[Callable[[], None]] = None,
    retry_on: tuple[type[BaseException], ...] = (AssertionError, CommandError),
) -> T:
    """Poll ``probe`` until it returns, at most ``timeout`` seconds, every ``interval`` s."""
    seen = _Seen()
    start = time.monotonic()

    def attempt() -> T:
        seen.attempts += 1
        try:
            return probe()
        except retry_on as exc:
            seen.text = _one_line(str(exc)) or type(exc).__name__
            if _progress is not None:
                _progress(name, seen.text, time.monotonic() - start)
            if fail_fast is not None:
                try:
                    fail_fast()
                except _TERMINAL as end:  # say which wait gave up, when, and what it saw last
                    end.args = (f"{end}\n(the wait '{name}' gave up after "
                                f"{time.monotonic() - start:.1f}s of {timeout:g}s; last observed: "
                                f"{seen.text})",)
                    raise end from None
            raise

    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_delay(timeout),
        wait=tenacity.wait_fixed(interval),
        retry=tenacity.retry_if_exception(
            lambda e: isinstance(e, retry_on) and not isinstance(e, _TERMINAL)
        ),
        reraise=False,
    )
    try:
        result = retrying(attempt)
    except tenacity.RetryError:
        elapsed = time.monotonic() - start
        profile.record("wait", name, elapsed, attempts=seen.attempts, ok=False)
        raise WaitTimeout(
            f"Gave up waiting for '{name}' after {elapsed:.1f}s "
            f"(timeout {timeout:g}s, polled every {interval:g}s, {seen.attempts} attempts); "
            f"last observed: {seen.text}"
        ) from None
    if _progress is not None and seen.attempts > 1:
        _progress(name, "done", time.monotonic() - start)
    profile.record("wait", name, time.monotonic() - start, attempts=seen.attempts, ok=True)
    return result


def _one_line(text: str, limit: int = 400) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
