"""Circuit breakers, one per failure domain, so an outage costs probes, not retries.

Opens on 5 consecutive counted failures or on a failure rate ≥ 50 % over the
last 60 s (with ≥ 10 calls). While open, deliveries to the domain are not
attempted at all: ``first_of`` moves on at once. After the open time one probe
is let through (half-open); success closes, failure re-opens for twice as long
(30 s doubling to 10 min). Only failures that say "the platform is unwell"
count (``ErrorClass.counts_for_breaker``); a 400 or a 429 never opens it.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Callable

import attrs

__all__ = ["Breaker", "BreakerState", "Breakers"]


class BreakerState(enum.Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"
    ISOLATED = "isolated"  # held open by an operator


Transition = Callable[[str, BreakerState, BreakerState, float | None], None]


@attrs.define(kw_only=True)
class Breaker:
    """The state of one failure domain."""

    domain: str
    failure_threshold: int = 5
    rate_threshold: float = 0.5
    window: float = 60.0
    min_calls: int = 10
    open_base: float = 30.0
    open_cap: float = 600.0
    probe_wait: float = 1.0  # how soon a delivery refused during a probe asks again
    on_transition: Transition | None = None
    state: BreakerState = BreakerState.CLOSED
    open_until: float = 0.0
    _open_for: float = 0.0
    _consecutive: int = 0
    _probing: bool = False
    _calls: deque[tuple[float, bool]] = attrs.field(factory=deque)

    def _move(self, new: BreakerState) -> None:
        old, self.state = self.state, new
        if old is not new and self.on_transition is not None:
            self.on_transition(
                self.domain, old, new, self.open_until if new is BreakerState.OPEN else None
            )

    def allow(self, now: float) -> bool:
        """May a request be sent to this domain now? Claims the probe when half-open.

        A caller that got True while :attr:`probing` must report with ``probe=True``.
        """
        if self.state is BreakerState.CLOSED:
            return True
        if self.state in (BreakerState.OPEN, BreakerState.ISOLATED):
            if now < self.open_until:
                return False
            self._move(BreakerState.HALF_OPEN)
        if self._probing:
            return False
        self._probing = True
        return True

    @property
    def probing(self) -> bool:
        """A half-open probe is in flight; everyone else waits for its verdict."""
        return self._probing

    def retry_at(self, now: float) -> float:
        """When a delivery refused by :meth:`allow` should come back.

        While a probe is in flight that is shortly after it can have answered,
        never "now": a caller polling at "now" would spin without yielding.
        """
        if self.open_until > now:
            return self.open_until
        return now + self.probe_wait

    def record(self, now: float, *, ok: bool | None, probe: bool = False) -> None:
        """Report an attempt: ``ok`` True/False, or None when it says nothing about health.

        Only the probe's own verdict moves a half-open breaker; a late answer
        to a request sent before the breaker opened counts in the window only.
        """
        if probe:
            self._probing = False
        if ok is None:
            return
        self._calls.append((now, ok))
        while self._calls and self._calls[0][0] < now - self.window:
            self._calls.popleft()
        if ok:
            self._consecutive = 0
            if self.state is BreakerState.HALF_OPEN and probe:
                self._open_for = 0.0
                self._calls.clear()
                self._move(BreakerState.CLOSED)
            return
        self._consecutive += 1
        if self.state is BreakerState.HALF_OPEN and probe:
            self._open(now, min(self.open_cap, max(self.open_base, self._open_for * 2)))
        elif self.state is BreakerState.CLOSED and self._tripped():
            self._open(now, self.open_base)

    def _tripped(self) -> bool:
        if self._consecutive >= self.failure_threshold:
            return True
        if len(self._calls) < self.min_calls:
            return False
        failures = sum(1 for _, ok in self._calls if not ok)
        return failures / len(self._calls) >= self.rate_threshold

    def _open(self, now: float, duration: float) -> None:
        self._open_for = duration
        self.open_until = now + duration
        self._move(BreakerState.OPEN)

    def isolate(self, until: float) -> None:
        self.open_until = until
        self._move(BreakerState.ISOLATED)

    def reset(self) -> None:
        self._consecutive = 0
        self._open_for = 0.0
        self._probing = False
        self._calls.clear()
        self._move(BreakerState.CLOSED)


@attrs.define
class Breakers:
    """All breakers of a dispatcher, created on first use of a domain."""

    on_transition: Transition | None = None
    settings: dict[str, float | int] = attrs.field(factory=dict)
    _by_domain: dict[str, Breaker] = attrs.field(init=False, factory=dict)

    def __getitem__(self, domain: str) -> Breaker:
        breaker = self._by_domain.get(domain)
        if breaker is None:
            breaker = Breaker(domain=domain, on_transition=self.on_transition, **self.settings)  # type: ignore[arg-type]
            self._by_domain[domain] = breaker
        return breaker

    def isolate(self, domain: str, until: float) -> None:
        """Hold ``domain`` open by hand until ``until`` (epoch seconds)."""
        self[domain].isolate(until)

    def reset(self, domain: str) -> None:
        """Close ``domain``'s breaker by hand."""
        self[domain].reset()

    def states(self) -> dict[str, BreakerState]:
        return {domain: b.state for domain, b in self._by_domain.items()}
