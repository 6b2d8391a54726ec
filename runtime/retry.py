"""The one retry policy (exponential backoff, full jitter by default), the one retry loop (`resend`:
`TransientError` only) and the one poll-until."""

import random
import time
from collections.abc import Callable, Sequence

from runtime.errors import TransientError


def backoff_delay(
    attempt: int, base: float = 0.1, cap: float = 5.0, jitter: bool = True, rng: random.Random | None = None
) -> float:
    """Seconds to wait before retry `attempt` (1-based): base · 2^(attempt-1), capped; with full jitter,
    a uniform draw below that (so that many retrying clients spread out)."""
    ceiling = min(cap, base * 2 ** (attempt - 1))
    return (rng or random).uniform(0, ceiling) if jitter else ceiling


def resend[T](
    send: Callable[[list[T]], list[T]],
    items: Sequence[T],
    attempts: int,
    *,
    base: float = 0.1,
    cap: float = 5.0,
    jitter: bool = True,
    sleep: Callable[[float], None] = time.sleep,
    on_transient: Callable[[TransientError, list[T]], None] | None = None,
) -> list[T]:
    """Send `items`, then again what failed, with a backoff before each retry, in at most `attempts`
    calls of `send`; returns what still failed, for the caller to report.

    `send` returns the items it could not deliver (a partial failure). When it raises `TransientError`
    (throttling, a 5xx, an unreachable endpoint, an answer cut short) the whole call failed: every item
    is sent again, after `on_transient` has seen the error. Any other error (credentials, a missing
    resource, a refused request: the same call would fail again) is raised at once."""
    pending = list(items)
    for attempt in range(1, attempts + 1):
        try:
            pending = send(pending)
        except TransientError as err:
            if on_transient is not None:
                on_transient(err, pending)
        if not pending:
            return []
        if attempt < attempts:
            sleep(backoff_delay(attempt, base=base, cap=cap, jitter=jitter))
    return pending


def idle_backoff(wait: float, cap: float) -> float:
    """A polling loop's next wait after a pass that found nothing: twice the last one, at most `cap`
    — never shorter than the last (a cap under the loop's own interval leaves it as it is). A pass that
    finds work goes back to the loop's own interval."""
    return max(wait, min(cap, wait * 2))


class PollTimeoutError(TimeoutError):
    """A condition was not met in time."""


def poll_until[T](
    condition: Callable[[], T],
    timeout: float = 90.0,
    what: str = "condition",
    interval: float = 0.2,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Call `condition` until it returns something truthy (returned), or raise `PollTimeoutError`."""
    deadline = clock() + timeout
    while True:
        result = condition()
        if result:
            return result
        if clock() >= deadline:
            raise PollTimeoutError(f"{what}: not met within {timeout:g} s")
        sleep(interval)
