"""Bounded retries with backoff for the remote backends' API calls (ModelArts, Kubernetes).

Only answers that say "try again" are retried: 429 (rate limited), 5xx and connection failures. A 4xx is the
caller's mistake and fails at once with a clear message. A create that failed with a 5xx may still have been
carried out, so `before_retry` can look for what it made before sending it again.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from loguru import logger
from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")


class RetryPolicy(BaseModel):
    model_config = ConfigDict(frozen=True)

    retries: int = Field(5, ge=0, le=10, description="retries after the first try")
    base_delay_s: float = Field(1.0, ge=0, description="first backoff; doubles each retry, with jitter")
    max_delay_s: float = Field(30.0, ge=0)

    def delay(self, retry: int, retry_after: float | None = None) -> float:
        """Seconds before retry number `retry` (1-based): the server's Retry-After when it gave one (capped),
        otherwise exponential backoff with equal jitter so that many clients do not retry in step."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_delay_s)
        full = min(self.max_delay_s, self.base_delay_s * 2 ** (retry - 1))
        return full / 2 + random.uniform(0, full / 2)


def call_with_retry(
    call: Callable[[], T],
    *,
    policy: RetryPolicy,
    transient: Callable[[Exception], bool],
    what: str,
    retry_after: Callable[[Exception], float | None] = lambda _error: None,
    before_retry: Callable[[], T | None] | None = None,
) -> T:
    """`call()`, retried while it raises a `transient` error, at most `policy.retries` times; the last error is
    raised as is. `before_retry` runs before each new try; a value it returns is the result (e.g. the job that a
    create answered with 503 did make)."""
    retry = 0
    while True:
        try:
            return call()
        except Exception as error:  # noqa: BLE001 - classified right below; anything else is re-raised
            if not transient(error) or retry >= policy.retries:
                raise
            retry += 1
            pause = policy.delay(retry, retry_after(error))
            logger.warning("{} failed ({}); retry {}/{} in {:.2f}s", what, _short(error), retry, policy.retries, pause)
            time.sleep(pause)
            if before_retry is not None:
                found = before_retry()
                if found is not None:
                    return found


def _short(error: Exception) -> str:
    text = " ".join(str(error).split())
    return text if len(text) <= 200 else text[:197] + "..."
