"""One record's way to a terminal state: rate token → breaker → attempt → decide.

The same loop serves both lanes: the inline lane (``publish``) retries a few times within the
caller's deadline, the background lane (the worker) takes one step per due record and leaves
the waiting to ``next_attempt_at``; :mod:`unipost.lifecycle` decides what each outcome means.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import attrs

from unipost import channel_calls, lifecycle, reconciling
from unipost.breaker import Admission
from unipost.channel import (
    Absent,
    Capabilities,
    Channel,
    Context,
    Found,
    Idempotency,
    Prepared,
    Receipt,
    Unknown,
)
from unipost.context import KeyIgnored
from unipost.engine import Engine
from unipost.errors import Ambiguous, DeliveryError, ErrorClass, NotSent
from unipost.lifecycle import Situation, Transition
from unipost.outbox import Attempt, Record, State
from unipost.retry import RetryPolicy
from unipost.status_poll import refusal

__all__ = ["Lane", "RecordRunner"]


@attrs.frozen(kw_only=True)
class Lane:
    """Which lane a run is in, and until when it may keep working."""

    policy: RetryPolicy
    until: float  # absolute clock time: the caller's deadline, or "now" for a worker step
    inline: bool


@attrs.define
class RecordRunner:
    """Drives one record; constructed per run by the route walker."""

    engine: Engine
    record: Record
    channel: Channel
    prepared: Prepared
    lane: Lane
    patience: float | None  # set when a first_of has a later alternative
    save_hook: Callable[[Record], None]
    rng: random.Random
    _attempts_here: int = 0
    _claim: Admission = Admission.ALLOWED  # what the breaker granted (a probe, a trial...)
    _spent: str | None = None  # what the last budgeted retry cost (refunded on success)
    _deferred: bool = False  # handed to the background lane: this run sleeps no more
    _unlogged: Attempt | None = None  # the last attempt, committed with the record's next save
    _ctx: Context | None = None  # the current attempt's context (did a create leave?)

    # -- helpers ----------------------------------------------------------------

    @property
    def _now(self) -> float:
        return self.engine.clock.now()

    @property
    def _domain(self) -> str:
        return self.channel.failure_domain

    def _emit(self, name: str, **fields: object) -> None:
        if self.engine.wants(name):
            self.engine.emit(
                name,
                post_id=self.record.post_id,
                channel=self.record.channel,
                key=self.record.delivery_key[:12],
                **fields,
            )

    def _save(self) -> None:
        self.record.updated_at = self._now
        attempt, self._unlogged = self._unlogged, None
        self.engine.store.save(self.record, attempt=attempt)
        self.save_hook(self.record)

    def _flush_log(self) -> None:
        """An attempt whose outcome changed nothing on the record is still logged."""
        attempt, self._unlogged = self._unlogged, None
        if attempt is not None:
            self.engine.store.add_attempt(attempt)

    def _patience_end(self) -> float | None:
        if self.patience is None or not self.record.started_at:
            return None
        return self.record.started_at + self.patience

    def _move_on(self) -> None:
        if self.patience is not None and not self.record.moved_on:
            self.record.moved_on = True
            self._emit("fallback", reason=self.record.last_class or "patience")

    def _commit(self, transition: Transition) -> None:
        """Apply a decision, hand the route on where it says so, save, and tell observers."""
        end = self._patience_end()
        late = (
            transition.state is State.RETRY_WAIT
            and end is not None
            and transition.next_attempt_at is not None
            and transition.next_attempt_at > end
        )
        lifecycle.apply(self.record, transition, self._now)
        if transition.move_on or late:
            self._move_on()
        self._deferred = self._deferred or transition.defer
        if transition.spend is not None and self.lane.inline:
            self.engine.budget(self._domain).try_spend(timeout=transition.spend == "timeout")
            self._spent = transition.spend
        self._save()
        if transition.event is not None:
            self._emit(
                transition.event, **{"error_class": self.record.last_class, **transition.details}
            )

    def _caps(self) -> Capabilities:
        """What the channel declares, less an idempotency key its server was found to ignore."""
        caps = self.channel.capabilities
        if self.channel.id in self.engine.keys_ignored and Idempotency.KEY in caps.idempotency:
            return attrs.evolve(caps, idempotency=caps.idempotency & ~Idempotency.KEY)
        return caps

    def _situation(self, **overrides: object) -> Situation:
        return Situation(
            now=self._now,
            caps=self._caps(),
            policy=self.lane.policy,
            inline=self.lane.inline,
            attempts_here=self._attempts_here,
            retry_ambiguous=self.record.channel in self.engine.settings.retry_ambiguous,
            background=self.engine.settings.background,
            rng=self.rng,
            **overrides,  # type: ignore[arg-type]
        )

    # -- the loop ---------------------------------------------------------------

    async def run(self, *, wait: bool = True) -> None:
        """Work until the record is terminal, parked beyond the lane, or not ours.

        A cancelled attempt leaves the record ``sending`` under our lease; the
        next run recovers it by what the channel can prove.
        """
        try:
            await self._run(wait=wait)
        except _NotOurs:
            return

    async def _run(self, *, wait: bool) -> None:
        engine = self.engine
        while True:
            record = self.record
            now = self._now
            if record.state.terminal:
                return
            if now >= record.ttl_at:
                self._expire()
                return
            if record.state is State.BLOCKED:
                return
            if record.state is State.SENDING:
                if record.lease_owner != engine.settings.owner and record.lease_until > now:
                    return  # another worker is on it
                if not self._recover():
                    return
                continue
            if record.next_attempt_at > now:
                wake = record.next_attempt_at
                end = self._patience_end()
                if end is not None and wake > end and not record.moved_on:
                    self._move_on()
                    self._save()
                if (
                    not wait
                    or wake > self.lane.until
                    or record.moved_on
                    or self._deferred
                    or self._defers(wake - now)
                ):
                    return
                await engine.clock.sleep(wake - now)
                continue
            if self.lane.inline and self.lane.until - now < engine.settings.min_attempt_window:
                return  # too little time to finish an attempt: left untouched for the worker
            if not record.started_at:
                record.started_at = now  # patience and key windows count from here
            refused = engine.account_block(self.channel.credential_key)
            if refused is not None:
                self._commit(lifecycle.blocked(refused))
                return
            if record.state is State.RETRY_WAIT:
                ignored = engine.keys_ignored.get(self.channel.id)
                caps = self.channel.capabilities
                unsafe = reconciling.key_unprotected(record, caps, now, ignored=ignored)
                if unsafe is not None:
                    self._commit(unsafe)
                    continue
            if record.state is State.RECONCILING:
                await self._reconcile()
                continue
            # Polly order: the bulkhead first, then breaker and rate token, then the attempt.
            async with engine.bulkhead.slot(self._domain, self.channel.id):
                if await self._admit():
                    await self._attempt()
                elif not self.lane.inline or self.record.moved_on:
                    return  # parked: this run is done with it even if its short wake passed
            if self._claim is Admission.WAIT:  # unproven domain, enough in flight: a moment
                self._claim = Admission.ALLOWED
                await engine.clock.sleep(engine.breakers.settings.trial_wait)

    def _defers(self, wait: float) -> bool:
        """The inline lane never sleeps longer than the Retry-After cap: it defers instead."""
        return self.lane.inline and wait > self.lane.policy.retry_after_cap

    def _expire(self) -> None:
        """Past its TTL: ``expired``, reported once even when several workers see it."""
        engine = self.engine
        now = self._now
        owner = engine.settings.owner
        theirs = self.record.lease_owner != owner and self.record.lease_until > now
        if self.record.state is State.SENDING and theirs:
            return  # another worker's attempt is still running; it settles the record
        transition = lifecycle.expired(self.record)
        if engine.store.lease(self.record.id, owner, now + 1.0, now) is None:
            raise _NotOurs
        self._commit(transition)

    async def _admit(self) -> bool:
        """Rate token and breaker; False when the record was parked instead."""
        now = self._now
        limiter = self.engine.limiter
        limits = self.channel.capabilities.limits
        credential = self.channel.credential_key
        delay = limiter.delay(credential, limits, now)
        if delay > 0:
            end = self._patience_end()
            passed = end is not None and now + delay > end
            self._commit(lifecycle.rate_wait(now + delay, now, patience_passed=passed))
            return False
        breaker = self.engine.breakers[self._domain]
        owner = self.engine.settings.owner
        admission = breaker.admit(now, inline=self.lane.inline, claimant=owner)
        if admission is Admission.REFUSED:
            self._commit(refusal(self.record, self._domain, breaker, now))
            return False
        self._claim = admission  # its verdict releases a probe's or a trial's claim
        if admission is Admission.WAIT:
            return False
        limiter.take(credential, limits, now)
        if admission is Admission.PROBE and self.channel.capabilities.health_check:
            return await self._health_probe()
        return True

    def _breaker_record(self, ok: bool | None) -> None:
        claim, self._claim = self._claim, Admission.ALLOWED
        owner = self.engine.settings.owner
        breaker = self.engine.breakers[self._domain]
        breaker.record(self._now, ok=ok, admission=claim, claimant=owner)

    async def _health_probe(self) -> bool:
        """Half-open: ask the channel's safe health check instead of risking a create.

        A check that fails for the platform's health re-opens the breaker; one
        that says nothing about it (a 401, a 429) leaves the delivery as the probe.
        """
        now = self._now
        deadline = self._attempt_deadline(now)
        try:
            async with self.engine.clock.timeout(deadline - now):
                await self.channel.check(self._context(deadline))
        except (DeliveryError, TimeoutError) as exc:
            if isinstance(exc, DeliveryError) and not exc.error_class.counts_for_breaker:
                return True
            self._emit("breaker.probe", healthy=False, reason=str(exc))
            self._breaker_record(False)
            breaker = self.engine.breakers[self._domain]
            self._commit(lifecycle.breaker_open(self._domain, breaker.retry_at(self._now)))
            return False
        except BaseException:
            self._breaker_record(None)
            raise
        self._emit("breaker.probe", healthy=True)
        self._breaker_record(True)
        return True

    def _context(self, deadline: float) -> Context:
        return channel_calls.context_for(
            self.engine, self.channel, self.record, deadline, on_key_ignored=self._note_key_ignored
        )

    def _attempt_deadline(self, now: float) -> float:
        limits = [now + self.engine.settings.attempt_timeout]
        if self.lane.inline:
            limits.append(self.lane.until)
        end = self._patience_end()
        if end is not None:
            limits.append(max(end, now + 1.0))
        return min(limits)

    async def _attempt(self) -> None:
        engine = self.engine
        settings = engine.settings
        now = self._now
        lease_until = now + settings.attempt_timeout + settings.lease_margin
        claimed = engine.store.begin_attempt(self.record.id, settings.owner, lease_until, now)
        if claimed is None:
            self._breaker_record(None)
            self.record = engine.store.record(self.record.id)
            self.save_hook(self.record)
            if self.record.state is State.SENDING:
                raise _NotOurs
            return
        self.record = claimed
        if not self.record.started_at:
            self.record.started_at = now
        self.save_hook(self.record)
        self._attempts_here += 1
        deadline = self._attempt_deadline(now)
        self._emit("attempt.start", attempt=self.record.attempts)
        error: DeliveryError | None = None
        receipt: Receipt | None = None
        self._ctx = self._context(deadline)
        try:
            async with engine.clock.timeout(deadline - now):
                receipt = await self.channel.deliver(self.prepared, self._ctx)
        except DeliveryError as exc:
            error = exc
        except TimeoutError as exc:
            error = self._cut(deadline - now)
            error.__cause__ = exc
        except KeyIgnored as exc:  # a same-key resend stopped before sending: reconcile instead
            self._breaker_record(None)
            declared, reason = self.channel.capabilities, str(exc)
            unsafe = reconciling.key_unprotected(self.record, declared, now, ignored=reason)
            self._commit(unsafe or reconciling.recovered(self.record, self._caps(), now))
            return
        except BaseException:
            self._breaker_record(None)
            self._abandoned(now)
            raise
        duration = self._now - now
        self._log(now, duration, error)
        try:
            if receipt is not None:
                self._delivered(receipt, duration)
                return
            assert error is not None
            self._emit(
                "attempt.end",
                attempt=self.record.attempts,
                error_class=error.error_class.value,
                http_status=error.status,
                platform_code=error.platform_code,
                duration_ms=round(duration * 1000),
            )
            self._decide(error)
        finally:
            self._flush_log()

    def _note_key_ignored(self, reason: str) -> None:
        if self.channel.id not in self.engine.keys_ignored:
            self.engine.keys_ignored[self.channel.id] = reason
            self._emit("idempotency.key_ignored", reason=reason)

    def _abandoned(self, started: float) -> None:
        """The caller cancelled mid-attempt: settle the record now by what can be proved."""
        error = self._cut(self._now - started)
        error = type(error)(f"the caller cancelled the attempt: {error.message}")
        self._log(started, self._now - started, error)
        try:
            self._commit(lifecycle.abandoned(error, self._situation()))
        finally:
            self._flush_log()

    def _cut(self, seconds: float) -> DeliveryError:
        """Our own timeout ended the attempt: ambiguous only once something may have been applied."""
        if self._ctx is None or not self._ctx.may_have_applied:
            return NotSent(f"no request that could publish started within {seconds:.1f} s")
        return Ambiguous(f"no answer within {seconds:.1f} s (the request may have been applied)")

    def _log(self, started: float, duration: float, error: DeliveryError | None) -> None:
        """Keep the attempt for the record's next save: one commit for both (see _save)."""
        self._unlogged = Attempt(
            record_id=self.record.id,
            n=self.record.attempts,
            started_at=started,
            duration=duration,
            error_class=None if error is None else error.error_class.value,
            http_status=None if error is None else error.status,
            platform_code=None if error is None else error.platform_code,
            retry_after=None if error is None else error.retry_after,
            request_id=None if error is None else error.request_id,
            message=None if error is None else error.message,
        )

    def _delivered(self, receipt: Receipt, duration: float) -> None:
        self._breaker_record(True)
        self.engine.budget(self._domain).credit(
            retried=self._attempts_here > 1, timeout=self._spent == "timeout"
        )
        now, later = self._now, self.engine.settings.verify_after
        verify_at = reconciling.verify_at(self.record, self._caps(), now, later)
        self._commit(lifecycle.delivered(receipt, duration=duration, verify_at=verify_at))

    def _decide(self, error: DeliveryError) -> None:
        kind = error.error_class
        self._breaker_record(False if kind.counts_for_breaker else None)
        budget_ok = not self.lane.inline or self.engine.budget(self._domain).can_spend(
            timeout=error.timed_out
        )
        transition = lifecycle.on_error(self.record, error, self._situation(budget_ok=budget_ok))
        if not budget_ok and transition.defer:
            self._emit("retry.budget_exhausted", error_class=kind.value)
        if kind is ErrorClass.RATE_LIMITED and transition.next_attempt_at is not None:
            # Every record on this credential waits too: one 429 is not paid for again.
            transition = self.engine.limiter.waits(self.channel.credential_key, transition, error)
        if transition.state is State.BLOCKED:
            self.engine.block_account(self.channel.credential_key, str(error))
        self._commit(transition)

    # -- reconciliation and recovery ------------------------------------------------

    async def _reconcile(self) -> None:
        engine = self.engine
        now = self._now
        leased = engine.store.lease(
            self.record.id, engine.settings.owner, now + engine.settings.attempt_timeout, now
        )
        if leased is None:
            raise _NotOurs
        self.record = leased
        deadline = self._attempt_deadline(now)
        try:
            result = await channel_calls.look_up(
                engine, self.channel, self.prepared, self.record, deadline
            )
        except (DeliveryError, TimeoutError) as exc:
            result = Unknown(str(exc))
            if isinstance(exc, TimeoutError) or exc.error_class.retryable:
                later = now + max(self.lane.policy.floor, self.lane.policy.backoff(2, self.rng))
                self._commit(lifecycle.released(self.record, later))
                return
        self._emit("reconcile.result", result=type(result).__name__)
        if isinstance(result, Found):
            self._found(result)
        elif isinstance(result, Absent):
            self._commit(reconciling.lookup_absent(self.record, self._situation()))
        else:
            self._commit(reconciling.lookup_unknown(result.reason))

    def _found(self, result: Found) -> None:
        """Ours is the first copy no other record owns; any further one is flagged at once."""
        engine = self.engine
        unowned = [
            copy
            for copy in result.copies
            if channel_calls.claimed_by(engine, self.record, copy.platform_id) is None
        ]
        if not unowned:
            platform_id = result.receipt.platform_id
            owner = channel_calls.claimed_by(engine, self.record, platform_id) or "?"
            self._commit(reconciling.unclaimed_match(platform_id, owner))
            return
        self._delivered(unowned[0], 0.0)
        if len(unowned) > 1:
            self._commit(reconciling.copies_found(self.record, unowned[1:]))

    def _recover(self) -> bool:
        """A ``sending`` record whose lease ran out: its process died mid-attempt."""
        engine = self.engine
        now = self._now
        leased = engine.store.lease(
            self.record.id, engine.settings.owner, now + engine.settings.lease_margin, now
        )
        if leased is None:
            return False
        self.record = leased
        transition = reconciling.recovered(self.record, self._caps(), now)
        self._commit(transition)
        return not self.record.state.terminal


class _NotOurs(Exception):
    """Another worker holds the record; the caller stops driving it."""
