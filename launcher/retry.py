"""The one retry policy: when to try a request again, how long to wait first, and when to stop.

Used alike by the storage client (S3/OBS) and by the remote backends' API wrappers (ModelArts, Kubernetes).
Only answers that invite a retry are retried: throttling (429, 503 SlowDown), 5xx, timeouts and connection
failures; a 4xx is the caller's mistake and fails at once. The wait doubles from `base_delay_s` up to
`max_delay_s` with equal jitter (so that many clients do not retry in step), unless the server said how long with
Retry-After, which is honoured up to `max_delay_s`.

`call_with_retry` drives a blocking call with tenacity. The storage client's per-request loops (async and
threaded) use the same policy's `delay` directly: a tenacity `Retrying` object per request costs more than the
whole loop does on the success path, and a sync sends thousands of small requests.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TypeVar

from launcher.logs import logger

if TYPE_CHECKING:  # imported by call_with_retry, its only user: the storage paths never load it
    import tenacity

T = TypeVar("T")

RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})  # HTTP answers that invite a retry


@dataclass(frozen=True)
class RetryPolicy:
    """How many retries after the first try, and the backoff between them.

    Made by code from settings that were validated where they came in (a storage profile, a backend's options),
    so a plain dataclass: a `launcher data` command does not load pydantic for it.
    """

    retries: int = 5  # retries after the first try
    base_delay_s: float = 1.0  # first backoff; doubles each retry, with jitter
    max_delay_s: float = 30.0  # cap on one backoff, Retry-After included

    def __post_init__(self) -> None:
        if not 0 <= self.retries <= 19 or self.base_delay_s < 0 or self.max_delay_s < 0:
            raise ValueError(f"retry policy out of range: {self}")

    @property
    def attempts(self) -> int:
        return self.retries + 1

    def delay(self, retry: int, retry_after: float | None = None) -> float:
        """Seconds before retry number `retry` (1-based): the server's Retry-After when it gave one (capped),
        otherwise exponential backoff with equal jitter."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_delay_s)
        full = min(self.max_delay_s, self.base_delay_s * 2.0 ** (retry - 1))
        return full / 2 + random.uniform(0, full / 2)

    @property
    def budget_s(self) -> float:
        """The longest that all backoffs of one call add up to (without Retry-After)."""
        return sum(min(self.max_delay_s, self.base_delay_s * 2.0 ** (n - 1)) for n in range(1, self.attempts))


def retry_after_s(headers: Mapping[str, str] | None) -> float | None:
    """The Retry-After header in seconds (it is either seconds or an HTTP date), or None when absent/garbled."""
    value = headers.get("Retry-After") if headers else None
    if value is None:
        return None
    value = value.strip()
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)


class EndpointHealth:
    """How long an endpoint has failed at the connection level without a single success. Once that is longer
    than one request's whole retry budget, later requests fail at their first error instead of each waiting out
    its own backoff: a sync against a stopped server ends in seconds with every unfinished file reported."""

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


def call_with_retry(
    call: Callable[[], T],
    *,
    policy: RetryPolicy,
    transient: Callable[[BaseException], bool],
    what: str,
    retry_after: Callable[[BaseException], float | None] = lambda _error: None,
    before_retry: Callable[[], T | None] | None = None,
) -> T:
    """`call()`, retried while it raises a `transient` error, at most `policy.retries` times; the last error is
    raised as is. `before_retry` runs before each new try; a value it returns is the result (e.g. the job that a
    create answered with 503 did make)."""
    import tenacity

    def wait(state: tenacity.RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome is not None else None
        return policy.delay(state.attempt_number, retry_after(error) if error is not None else None)

    def log(state: tenacity.RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome is not None else None
        pause = state.next_action.sleep if state.next_action is not None else 0.0
        n = state.attempt_number
        logger.warning("{} failed ({}); retry {}/{} in {:.2f}s", what, _short(error), n, policy.retries, pause)

    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_attempt(policy.attempts),
        wait=wait,
        retry=tenacity.retry_if_exception(transient),
        before_sleep=log,
        sleep=_sleep,
        reraise=True,
    )
    for attempt in retrying:
        with attempt:
            if attempt.retry_state.attempt_number > 1 and before_retry is not None:
                found = before_retry()
                if found is not None:
                    return found
            return call()
    raise AssertionError("unreachable: tenacity returns or re-raises")  # pragma: no cover


def _sleep(seconds: float) -> None:
    time.sleep(seconds)  # looked up at call time, so that tests can replace time.sleep


def _short(error: BaseException | None) -> str:
    text = " ".join(str(error).split())
    return text if len(text) <= 200 else text[:197] + "..."
