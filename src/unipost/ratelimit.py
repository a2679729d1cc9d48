"""Rate limits per credential: declared token buckets, corrected by the platform's headers.

A 429's Retry-After sets a ``not_before`` shared by every delivery on that
credential. Waiting for a limit is never counted as a failure.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

import attrs

from unipost.channel import Limit
from unipost.errors import DeliveryError
from unipost.lifecycle import Transition

if TYPE_CHECKING:
    from unipost.shared_state import SharedState

__all__ = ["RateLimiter", "TokenBucket", "limit_wait", "reset_from_headers"]


@attrs.define
class TokenBucket:
    rate: float
    per: float
    burst: float
    tokens: float
    updated: float

    @classmethod
    def from_limit(cls, limit: Limit, now: float) -> TokenBucket:
        burst = float(limit.burst or limit.rate)
        return cls(rate=limit.rate, per=limit.per, burst=burst, tokens=burst, updated=now)

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self.updated)
        self.tokens = min(self.burst, self.tokens + elapsed * self.rate / self.per)
        self.updated = now

    def delay(self, now: float) -> float:
        """Seconds until a token is available (0 when one is)."""
        self._refill(now)
        wait = (1 - self.tokens) * self.per / self.rate
        # Epoch timestamps resolve ~0.2 µs: a wait below a millisecond might never arrive.
        return wait if wait >= 1e-3 else 0.0

    def take(self, now: float) -> None:
        self._refill(now)
        self.tokens -= 1


def _parse_reset(value: str, now: float) -> float | None:
    """A reset header as an epoch time: epoch seconds, seconds-from-now, or ISO 8601."""
    value = value.strip()
    try:
        number = float(value)
    except ValueError:
        try:
            moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.UTC)
        return moment.timestamp()
    return number if number > 1_000_000_000 else now + number


def reset_from_headers(headers: Mapping[str, str], now: float) -> float | None:
    """When an exhausted limit resets, from ``X-RateLimit-*`` / ``RateLimit-*`` headers."""
    lowered = {k.lower(): v for k, v in headers.items()}
    for prefix in ("x-ratelimit-", "ratelimit-", "x-rate-limit-"):
        remaining = lowered.get(prefix + "remaining")
        if remaining is None:
            continue
        try:
            if float(remaining) > 0:
                return None
        except ValueError:
            return None
        after = lowered.get(prefix + "reset-after")
        if after is not None:
            return _parse_reset(after, now) if float(after) < 1_000_000_000 else None
        reset = lowered.get(prefix + "reset")
        if reset is not None:
            return _parse_reset(reset, now)
    return None


@attrs.define
class RateLimiter:
    """Buckets and not-before times keyed by credential.

    Not-before times (a 429's wait) go to the shared state too, so another
    process on the same credential waits as well; the buckets stay local.
    """

    shared: SharedState | None = None
    _buckets: dict[tuple[str, str], TokenBucket] = attrs.field(factory=dict)
    _not_before: dict[str, float] = attrs.field(factory=dict)

    def delay(self, credential: str, limits: Iterable[Limit], now: float) -> float:
        """How long a delivery on ``credential`` must wait before its next request."""
        not_before = self._not_before.get(credential, 0.0)
        if self.shared is not None:
            not_before = max(not_before, self.shared.not_before(credential))
        wait = max(0.0, not_before - now)
        for limit in limits:
            bucket = self._bucket(credential, limit, now)
            wait = max(wait, bucket.delay(now))
        return wait

    def take(self, credential: str, limits: Iterable[Limit], now: float) -> None:
        for limit in limits:
            self._bucket(credential, limit, now).take(now)

    def _bucket(self, credential: str, limit: Limit, now: float) -> TokenBucket:
        key = (credential, limit.name)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket.from_limit(limit, now)
        return bucket

    def pause(self, credential: str, until: float) -> None:
        """No request on ``credential`` before ``until`` (from a 429 or an empty bucket)."""
        self._not_before[credential] = max(self._not_before.get(credential, 0.0), until)
        if self.shared is not None:
            self.shared.push_not_before(credential, until)

    def waits(self, credential: str, transition: Transition, error: DeliveryError) -> Transition:
        """A rate-limited attempt: every record on ``credential`` waits until the record's next
        try, and the wait is told as ``ratelimit.wait`` (see :func:`limit_wait`)."""
        if transition.next_attempt_at is not None:
            self.pause(credential, transition.next_attempt_at)
        return limit_wait(transition, error)

    def observe(self, credential: str, headers: Mapping[str, str], now: float) -> None:
        """Correct the declared limits with what the platform's headers say."""
        reset = reset_from_headers(headers, now)
        if reset is not None and reset > now:
            self.pause(credential, reset)


def limit_wait(transition: Transition, error: DeliveryError) -> Transition:
    """A rate-limited attempt's wait, told as ``ratelimit.wait`` with the platform's
    ``retry_after``: waiting for a limit is not a failure, so not ``retry.scheduled``."""
    if transition.event != "retry.scheduled":
        return transition
    more = {"retry_after": error.retry_after, "status": error.status}
    return attrs.evolve(transition, event="ratelimit.wait", details={**transition.details, **more})
