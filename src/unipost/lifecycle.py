"""A record's life: every state change of a delivery is decided and applied here.

The decision table of ``reference/resilience.md`` A.4–A.11 as pure functions:
each takes the record, what just happened and the situation (capabilities,
the lane's policy, the clock) and returns a :class:`Transition` — the next
state and the fields that change with it. :func:`apply` is the only code in
unipost that assigns a record's state; the runner, the route walker and the
operator commands all go through it, and the stores only persist the result.

Rows, by what happened: delivered → ``delivered``. Rate limited → wait the
platform's time or the 429 floor, counted as an attempt (past the TTL: ``failed``).
Not sent / transient → back-off retry while attempts and the retry budget last,
then the background lane. May have been applied → same-key retry (KEY in its
window on a server that honours it, CLIENT_ID), else ``reconciling`` (LOOKUP),
else a flagged resend (opted in), else ``ambiguous``. Duplicate signal → reconcile or
hold. Quota or temporary block → wait for the reset. Auth → ``blocked``.
Permanent → ``failed``. TTL passed → ``expired``, or ``ambiguous`` when unproven.
What a lookup proved, a crash mid-attempt, and the second look after a resend
are the rows of :mod:`unipost.reconciling`; they are applied here like the rest.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

import attrs

from unipost.channel import Capabilities, Idempotency, Receipt
from unipost.clock import utc_text
from unipost.errors import DeliveryError, ErrorClass
from unipost.records import Record, State
from unipost.retry import BACKGROUND, RetryPolicy

__all__ = [
    "HELD",
    "Situation",
    "TerminalState",
    "Transition",
    "abandoned",
    "apply",
    "begun",
    "blocked",
    "breaker_open",
    "deferred",
    "delivered",
    "expired",
    "held",
    "hold_ambiguous",
    "on_error",
    "rate_wait",
    "rejected",
    "released",
    "skipped",
    "start_reconciling",
    "superseded",
    "superseded_unproven",
]

HELD = "held"  # ``last_class`` of a record held while an earlier alternative may have posted
_KEEP: Any = object()


@attrs.frozen(kw_only=True)
class Transition:
    """The next state of a record and what changes with it.

    ``move_on`` hands a ``first_of`` to its next alternative, ``defer`` hands
    the record to the background lane (the inline lane stops driving it),
    ``spend`` asks the retry budget for an immediate retry (``"retry"`` or
    ``"timeout"``), ``event`` is emitted with ``details`` once applied.
    """

    state: State
    next_attempt_at: float | None = None
    last_class: Any = _KEEP
    last_error: Any = _KEEP
    move_on: bool = False
    defer: bool = False
    spend: str | None = None
    release: bool = True
    changes: Mapping[str, Any] = attrs.field(factory=dict)
    event: str | None = None
    details: Mapping[str, Any] = attrs.field(factory=dict)
    #: Only a person (``unipost outbox retry/resolve``) may take a record out of a terminal state.
    by_operator: bool = False
    #: Notes on a settled record that keep its state (a later verification's findings).
    note_only: bool = False


class TerminalState(RuntimeError):
    """An engine transition was applied to a record that had already reached its end."""


@attrs.frozen(kw_only=True)
class Situation:
    """What a decision depends on besides the record and what happened."""

    now: float
    caps: Capabilities
    policy: RetryPolicy
    inline: bool = True
    attempts_here: int = 1  # attempts this run made (the inline lane's count)
    budget_ok: bool = True  # the domain's retry budget can pay for an immediate retry
    retry_ambiguous: bool = False  # the operator opted in to resending maybe-applied posts
    background: RetryPolicy = BACKGROUND  # where a deferred record continues
    rng: random.Random = attrs.field(factory=random.Random, eq=False)

    def failures(self, record: Record) -> int:
        """Failed attempts so far: this run's inline, the record's in the background."""
        return self.attempts_here if self.inline else max(1, record.attempts)

    def exhausted(self) -> bool:  # the lane's attempts are used up
        return self.policy.attempts is not None and self.attempts_here >= self.policy.attempts

    def backoff(self, record: Record) -> float:
        return max(self.policy.floor, self.policy.backoff(self.failures(record), self.rng))


def apply(record: Record, transition: Transition, now: float) -> Record:
    """Write ``transition`` onto ``record``: the one place a record's state is assigned."""
    noting = transition.note_only and transition.state is record.state
    if record.state.terminal and not (transition.by_operator or noting):
        raise TerminalState(
            f"record {record.id} is {record.state.value}; {transition.state.value} is not allowed"
        )
    record.state = transition.state
    if transition.next_attempt_at is not None:
        record.next_attempt_at = transition.next_attempt_at
    if transition.last_class is not _KEEP:
        record.last_class = transition.last_class
    if transition.last_error is not _KEEP:
        record.last_error = transition.last_error
    for name, value in transition.changes.items():
        setattr(record, name, value)
    if transition.release:
        record.lease_owner, record.lease_until = None, 0.0
    record.updated_at = now
    return record


# -- the attempt's own outcomes ----------------------------------------------------------------


def begun(owner: str, lease_until: float, attempts: int) -> Transition:
    """An attempt starts: committed ``sending`` under a lease before any network call."""
    return Transition(
        state=State.SENDING,
        release=False,
        changes={"attempts": attempts, "lease_owner": owner, "lease_until": lease_until},
    )


def delivered(receipt: Receipt, *, duration: float = 0.0, verify_at: float = 0.0) -> Transition:
    """Published; ``verify_at`` schedules a second look for an extra copy (a resend's)."""
    return Transition(
        state=State.DELIVERED,
        next_attempt_at=0.0,
        last_class=None,
        last_error=None,
        changes={
            "platform_id": receipt.platform_id,
            "url": receipt.url,
            "recipients": [attrs.asdict(r) for r in receipt.recipients],
            "extra": dict(receipt.extra),
            "verify_at": verify_at,
        },
        event="delivered",
        details={"url": receipt.url or "", "duration_ms": round(duration * 1000)},
    )


def _wait(at: float, now: float, *, defer: bool = False, spend: str | None = None) -> Transition:
    return Transition(
        state=State.RETRY_WAIT,
        next_attempt_at=at,
        defer=defer,
        move_on=defer,
        spend=spend,
        event="retry.scheduled",
        details={"wait_for": round(at - now, 3)},
    )


def _fail(record: Record, error: DeliveryError) -> Transition:
    return Transition(
        state=State.FAILED,
        last_class=error.error_class.value,
        last_error=str(error),
        move_on=True,
        event="failed",
        details={"error_class": error.error_class.value, "reason": str(error)},
    )


def hold_ambiguous(reason: str, error_class: str, *, last_error: Any = _KEEP) -> Transition:
    return Transition(
        state=State.AMBIGUOUS,
        last_class=error_class,
        last_error=last_error,
        move_on=True,
        event="ambiguous",
        details={"action": "hold", "reason": reason},
    )


def start_reconciling(now: float, policy: RetryPolicy, error_class: str, reason: str) -> Transition:
    return Transition(
        state=State.RECONCILING,
        next_attempt_at=now + policy.reconcile_delays[0],
        last_class=error_class,
        changes={"lookups_absent": 0},
        event="ambiguous",
        details={"action": "reconcile", "reason": reason},
    )


def _because(transition: Transition, error_class: str, text: str) -> Transition:
    """``transition``, labelled with the error class and message that caused it."""
    return attrs.evolve(transition, last_class=error_class, last_error=text)


def on_error(record: Record, error: DeliveryError, s: Situation) -> Transition:
    """The classified error of an attempt, by its class (the table in the module docstring)."""
    kind = error.error_class
    now = s.now
    if kind is ErrorClass.RATE_LIMITED:
        known = error.retry_after
        # The platform's own wait is honoured (with the general floor); an unknown one
        # (no header, a reset already past) gets the 429 floor, never a tight loop.
        if known is not None:
            wait = max(known, s.policy.floor)
        else:
            wait = max(s.backoff(record), s.policy.rate_floor)
        if s.exhausted():  # the inline budget is spent: the background lane's floor applies
            wait = max(wait, s.background.rate_floor)
        if now + wait >= record.ttl_at:
            return _fail(record, error)
        at = now + s.policy.after_retry_after(wait, s.rng)
        defer = s.exhausted() or wait > s.policy.retry_after_cap
        return _because(_wait(at, now, defer=defer), kind.value, str(error))
    if kind in (ErrorClass.AMBIGUOUS, ErrorClass.DUPLICATE_SIGNAL) or error.may_have_applied:
        return _maybe_applied(record, error, s)
    if kind in (ErrorClass.NOT_SENT, ErrorClass.TRANSIENT, ErrorClass.UNAVAILABLE):
        return _because(_retry(record, error, s), kind.value, str(error))
    temporary_block = kind is ErrorClass.FORBIDDEN and error.retry_after is not None
    if kind is ErrorClass.QUOTA_EXHAUSTED or temporary_block:
        at = now + max(error.retry_after or 3600.0, s.policy.floor)
        if at >= record.ttl_at:
            return _fail(record, error)
        return _because(_wait(at, now, defer=True), kind.value, str(error))
    if kind is ErrorClass.AUTH:
        return blocked(str(error))
    return _fail(record, error)


def _retry(record: Record, error: DeliveryError, s: Situation) -> Transition:
    now = s.now
    cost = "timeout" if error.timed_out else "retry"
    if s.exhausted() or not s.budget_ok:
        later = max(s.background.floor, s.background.backoff(max(1, record.attempts), s.rng))
        return _wait(now + later, now, defer=True)
    if error.retry_after is not None:
        wait = max(s.policy.floor, s.policy.after_retry_after(error.retry_after, s.rng))
        return _wait(
            now + wait, now, defer=error.retry_after > s.policy.retry_after_cap, spend=cost
        )
    return _wait(now + s.backoff(record), now, spend=cost)


def _key_protects(record: Record, s: Situation) -> bool:
    ways = s.caps.idempotency
    if Idempotency.CLIENT_ID in ways:
        return True
    return Idempotency.KEY in ways and (
        s.caps.idempotency_window is None or s.now - record.started_at < s.caps.idempotency_window
    )


def _maybe_applied(record: Record, error: DeliveryError, s: Situation) -> Transition:
    now = s.now
    ways = s.caps.idempotency
    kind = error.error_class
    if kind is not ErrorClass.DUPLICATE_SIGNAL and _key_protects(record, s):
        # The same key makes a resend safe: retry with it (may have applied, so the class says so).
        cost = "timeout" if error.timed_out else "retry"
        if s.exhausted() or not s.budget_ok:
            later = max(s.policy.key_retry_delay, s.background.floor)
            wait = _wait(now + max(later, s.background.backoff(1, s.rng)), now, defer=True)
        else:
            wait = _wait(now + max(s.policy.key_retry_delay, s.backoff(record)), now, spend=cost)
        return _because(wait, ErrorClass.AMBIGUOUS.value, str(error))
    if Idempotency.LOOKUP in ways:
        return _because(
            start_reconciling(now, s.policy, kind.value, str(error)), kind.value, str(error)
        )
    if s.retry_ambiguous:
        wait = _wait(now + s.backoff(record), now)
        flagged = attrs.evolve(wait, changes={"possible_duplicate": True})
        return _because(flagged, kind.value, str(error))
    return _because(hold_ambiguous(str(error), kind.value), kind.value, str(error))


def blocked(reason: str) -> Transition:
    """The account's credentials are refused: nothing more is sent until re-authorized."""
    return Transition(
        state=State.BLOCKED,
        last_class=ErrorClass.AUTH.value,
        last_error=reason,
        move_on=True,
        event="blocked",
        details={"reason": reason},
    )


def rate_wait(at: float, now: float, *, patience_passed: bool) -> Transition:
    """The credential's rate limit has no token now: wait, untouched, until ``at``."""
    return Transition(
        state=State.RETRY_WAIT,
        next_attempt_at=at,
        move_on=patience_passed,
        event="ratelimit.wait",
        details={"wait_for": round(at - now, 3)},
    )


def breaker_open(domain: str, retry_at: float) -> Transition:
    """The failure domain's breaker refuses: not tried until it lets a probe through."""
    return Transition(
        state=State.RETRY_WAIT,
        next_attempt_at=retry_at,
        last_class=ErrorClass.UNAVAILABLE.value,
        last_error=f"{domain} is failing: not tried until {utc_text(retry_at)} (breaker open)",
        move_on=True,
    )


def released(record: Record, retry_at: float) -> Transition:
    """A lookup or probe that could not run: the record keeps its state, asks again later."""
    return Transition(state=record.state, next_attempt_at=retry_at)


# -- the caller's cancel and the TTL --------------------------------------------------------------


def abandoned(error: DeliveryError, s: Situation) -> Transition:
    """The caller cancelled mid-attempt: settled at once by what can be proved."""
    ways = s.caps.idempotency
    kind, text = error.error_class.value, str(error)
    if (
        error.error_class is ErrorClass.NOT_SENT
        or Idempotency.KEY in ways
        or Idempotency.CLIENT_ID in ways
    ):
        return _because(_wait(s.now, s.now), kind, text)
    if Idempotency.LOOKUP in ways:
        return _because(start_reconciling(s.now, s.policy, kind, text), kind, text)
    return _because(hold_ambiguous(text, kind), kind, text)


def expired(record: Record) -> Transition:
    """Past its TTL: ``expired``, or ``ambiguous`` when it may have been published."""
    unproven = record.state in (State.SENDING, State.RECONCILING) or record.last_class in (
        ErrorClass.AMBIGUOUS.value,
        ErrorClass.DUPLICATE_SIGNAL.value,
    )
    moment = utc_text(record.ttl_at)
    if unproven:
        text = f"its TTL ({moment}) passed before it was proven whether it was published"
        return hold_ambiguous(
            "ttl", record.last_class or ErrorClass.AMBIGUOUS.value, last_error=text
        )
    return Transition(
        state=State.EXPIRED,
        last_error=f"not delivered before its TTL ({moment})",
        move_on=True,
        event="expired",
    )


# -- the route's and the operator's decisions ------------------------------------------------


def skipped(reason: str) -> Transition:
    return Transition(state=State.SKIPPED, last_error=reason)


def superseded(winner: str) -> Transition:
    """Another alternative of the ``first_of`` delivered; this one cannot have posted."""
    return skipped(f"superseded: {winner} delivered")


def superseded_unproven(winner: str, *, lookup: bool, now: float) -> Transition:
    """Another alternative delivered while this one may have posted too (its answer was lost).

    A lookup settles it (an absent result then ends it as skipped); without
    one it is held for a person — visible, never left ``sending``.
    """
    if lookup:
        return Transition(
            state=State.RECONCILING,
            next_attempt_at=now,
            changes={"lookups_absent": 0},
            event="ambiguous",
            details={"action": "reconcile", "reason": f"{winner} delivered meanwhile"},
        )
    text = f"it was being sent when {winner} delivered; check whether it was published too"
    return hold_ambiguous(text, ErrorClass.AMBIGUOUS.value, last_error=text)


def held(by: str) -> Transition:
    """A later alternative waits while an earlier one may have published (never a guess)."""
    return Transition(
        state=State.BLOCKED,
        last_class=HELD,
        last_error=f"held: {by} may have published; settle it with `unipost outbox resolve`",
    )


def deferred(record: Record, until: float) -> Transition:
    """Not due before ``until`` (a sibling still at work); state and fields otherwise kept."""
    return Transition(state=record.state, next_attempt_at=until)


def rejected(reason: str) -> Transition:
    """Refused before anything was sent (content the channel cannot take, a removed channel)."""
    return Transition(state=State.FAILED, last_class=ErrorClass.PERMANENT.value, last_error=reason)
