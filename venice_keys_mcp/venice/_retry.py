"""When a read is tried again, and how long to wait: jittered exponential backoff in a budget.

Only the client's GET requests use this. A create, update or delete is never resent:
its outcome may be unknown, and resending could make a second key or revoke twice.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import anyio
import httpx2

#: Statuses after which a read is tried again (429 only when it is not an abuse block).
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})

# Failures that happen before any byte of the request leaves: a write is safe to report
# as "nothing changed".
NOT_SENT: tuple[type[Exception], ...] = (
    httpx2.ConnectError,
    httpx2.ConnectTimeout,
    httpx2.PoolTimeout,
    httpx2.ProxyError,
    httpx2.UnsupportedProtocol,
    httpx2.LocalProtocolError,
)
# Failures after which a read is worth trying again.
TRANSIENT_ERRORS: tuple[type[Exception], ...] = (
    httpx2.TimeoutException,
    httpx2.NetworkError,
    httpx2.RemoteProtocolError,
)
# Server failures after which a write may or may not have been applied.
WRITE_UNKNOWN_STATUSES = frozenset({500, 502, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """How often and for how long a read is retried.

    `max_attempts` counts the first try; `total_budget` (seconds, waits included) bounds
    the retries: one that could not finish inside it is not started. The first try is
    bounded by the request timeout alone (at most twice `VENICE_KEYS_TIMEOUT` for a
    server that trickles bytes), so a read never takes longer than that plus the budget.
    """

    max_attempts: int = 4
    base_delay: float = 0.2
    max_delay: float = 2.0
    total_budget: float = 8.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if min(self.base_delay, self.max_delay, self.total_budget) < 0:
            raise ValueError("delays and budget must not be negative")

    @classmethod
    def never(cls) -> RetryPolicy:
        """A policy that tries once: for callers that do their own retrying."""
        return cls(max_attempts=1)

    def backoff(self, attempt: int, rng: random.Random | None = None) -> float:
        """The wait after failed attempt number `attempt` (1-based): "equal jitter".

        Half of the exponential step is fixed and half is random, so concurrent callers
        spread out yet every wait still grows.
        """
        step = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
        return step / 2 + (rng or random).uniform(0, step / 2)


class RetryClock:
    """The clocks and the sleep that retries use: the real ones.

    A seam so that tests can hand the client a clock that jumps instead of waiting, and
    check a budget exactly rather than against a wall clock on a busy machine.
    """

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back: what the budget is measured on."""
        return time.monotonic()

    def now(self) -> datetime:
        """The wall-clock time, against which Venice's rate-limit reset times are read."""
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(seconds)


@dataclass
class Budget:
    """The time left for one call under a policy, on the clock's monotonic time."""

    policy: RetryPolicy
    clock: RetryClock = field(default_factory=RetryClock)
    started: float = field(init=False)

    def __post_init__(self) -> None:
        self.started = self.clock.monotonic()

    def elapsed(self) -> float:
        return self.clock.monotonic() - self.started

    def remaining(self) -> float:
        return self.policy.total_budget - self.elapsed()

    def allows(self, attempts_made: int, wait: float) -> bool:
        """Whether another attempt may start after waiting `wait` seconds."""
        return attempts_made < self.policy.max_attempts and wait < self.remaining()
