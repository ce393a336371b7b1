"""When to retry an S3 request, how long to wait, and when to stop trying an endpoint that is gone.

Throttling (429/503 SlowDown), 5xx, timeouts and connection resets are retried with exponential backoff and
jitter. If the endpoint has answered nothing for longer than one request's whole retry budget, later requests
fail at their first error instead of each waiting out its own backoff: a sync against a stopped server ends
in seconds with every unfinished file reported, ready for a re-run.
"""

from __future__ import annotations

import asyncio
import random
import time

import aiohttp

RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})
RETRY_CODES = frozenset(
    {"SlowDown", "RequestTimeout", "InternalError", "ServiceUnavailable", "Throttling", "ThrottlingException"}
)
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    aiohttp.ClientConnectionError,
    aiohttp.ClientPayloadError,
    aiohttp.ClientResponseError,  # a reply that is not HTTP (a garbled status line): the connection is unusable
    asyncio.TimeoutError,
    ConnectionError,
)


class Backoff:
    """Exponential backoff with jitter: ~base, 2·base, 4·base ... capped."""

    def __init__(self, max_attempts: int, base_s: float = 0.25, cap_s: float = 8.0) -> None:
        self.max_attempts = max_attempts
        self.base_s = base_s
        self.cap_s = cap_s

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based)."""
        ceiling = min(self.cap_s, self.base_s * 2.0 ** (attempt - 1))
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    @property
    def budget_s(self) -> float:
        return sum(min(self.cap_s, self.base_s * 2.0 ** (n - 1)) for n in range(1, self.max_attempts))


class EndpointHealth:
    """Tracks how long an endpoint has failed at the connection level without a single success."""

    def __init__(self, give_up_after_s: float) -> None:
        self.give_up_after_s = give_up_after_s
        self._down_since: float | None = None

    def succeeded(self) -> None:
        self._down_since = None

    def failed(self) -> None:
        if self._down_since is None:
            self._down_since = time.monotonic()

    @property
    def given_up(self) -> bool:
        return self._down_since is not None and time.monotonic() - self._down_since > self.give_up_after_s
