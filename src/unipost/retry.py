"""Retry rules: full-jitter backoff, Retry-After, and a per-process retry budget.

Backoff is U(0, min(cap, base·2^(n−1))) (Brooker's "full jitter"). A
Retry-After the platform sends replaces it, plus a spread of up to 10 % (at
most 5 s) so that many waiting clients do not return at the same instant.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

import attrs

if TYPE_CHECKING:
    from unipost.shared_state import SharedState

__all__ = ["BACKGROUND", "INLINE", "RetryBudget", "RetryPolicy"]


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """How one lane retries. ``attempts`` counts the first try."""

    attempts: int | None = 3  # None: until the post's TTL (the background lane)
    base: float = 0.5
    cap: float = 8.0
    retry_after_cap: float = 120.0  # a longer Retry-After defers the delivery instead of waiting
    reconcile_delays: tuple[float, float] = (5.0, 30.0)  # lookups after an ambiguous attempt
    key_retry_delay: float = 5.0  # let the server's idempotency-key write land first
    patience: float = 10.0  # how long a first_of alternative may take before the next is tried
    floor: float = 0.5  # no wait is shorter: a wait of zero would be a tight loop
    rate_floor: float = 2.0  # the shortest wait after a 429 (a reset in the past says nothing)

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Wait before attempt ``attempt + 1`` (``attempt`` ≥ 1 attempts have failed)."""
        ceiling = min(self.cap, self.base * 2 ** (attempt - 1))
        return rng.uniform(0, ceiling)

    def after_retry_after(self, retry_after: float, rng: random.Random) -> float:
        return retry_after + rng.uniform(0, min(5.0, retry_after * 0.1))


INLINE = RetryPolicy()
BACKGROUND = RetryPolicy(
    attempts=None, base=30.0, cap=600.0, patience=1800.0, floor=15.0, rate_floor=60.0
)


@attrs.define
class RetryBudget:
    """A token bucket that stops immediate retries when a platform is down (AWS-style).

    Starts full; a retry costs ``cost`` (``timeout_cost`` after a timeout); a
    success refunds ``refund``. When the bucket cannot pay, the retry is
    deferred to the background lane instead of hammering the platform. The
    tokens live in the shared state, so every process pays from one budget.
    """

    state: SharedState
    domain: str
    capacity: int = 500
    cost: int = 5
    timeout_cost: int = 10
    refund: int = 1

    @property
    def tokens(self) -> int:
        return self.state.budget_tokens(self.domain, self.capacity)

    def _price(self, timeout: bool) -> int:
        return self.timeout_cost if timeout else self.cost

    def can_spend(self, *, timeout: bool = False) -> bool:
        return self.tokens >= self._price(timeout)

    def try_spend(self, *, timeout: bool = False) -> bool:
        return self.state.budget_spend(self.domain, self._price(timeout), self.capacity)

    def credit(self, *, retried: bool, timeout: bool = False) -> None:
        amount = self._price(timeout) if retried else self.refund
        self.state.budget_credit(self.domain, amount, self.capacity)
