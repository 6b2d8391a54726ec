"""The one retry policy (exponential backoff, full jitter by default) and the one poll-until."""

import random
import time
from collections.abc import Callable


def backoff_delay(
    attempt: int, base: float = 0.1, cap: float = 5.0, jitter: bool = True, rng: random.Random | None = None
) -> float:
    """Seconds to wait before retry `attempt` (1-based): base · 2^(attempt-1), capped; with full jitter,
    a uniform draw below that (so that many retrying clients spread out)."""
    ceiling = min(cap, base * 2 ** (attempt - 1))
    return (rng or random).uniform(0, ceiling) if jitter else ceiling


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
