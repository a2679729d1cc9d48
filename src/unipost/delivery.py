"""One record's way to a terminal state: rate token → breaker → attempt → classify → decide.

The same loop serves both lanes. The inline lane (``publish``) retries a few
times within the caller's deadline; the background lane (the worker) takes
one step per due record and leaves the waiting to ``next_attempt_at``.
Decisions follow ``reference/resilience.md`` A.4–A.11: what may have been
applied is retried only with the same key, reconciled by lookup, or held.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import attrs
import httpx

from unipost.channel import Absent, Channel, Context, Found, Idempotency, Prepared, Receipt, Unknown
from unipost.errors import Ambiguous, DeliveryError, ErrorClass, NotSent
from unipost.events import Event
from unipost.outbox import Attempt, Record, State
from unipost.retry import BACKGROUND, RetryPolicy

if TYPE_CHECKING:
    from unipost.dispatcher import Dispatcher

__all__ = ["Lane", "RecordRunner"]


@attrs.frozen(kw_only=True)
class Lane:
    """Which lane a run is in, and until when it may keep working."""

    policy: RetryPolicy
    until: float  # absolute clock time: the caller's deadline, or "now" for a worker step
    inline: bool


def _when(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


@attrs.define
class RecordRunner:
    """Drives one record; constructed per run by the dispatcher."""

    dispatcher: Dispatcher
    record: Record
    channel: Channel
    prepared: Prepared
    lane: Lane
    patience: float | None  # set when a first_of has a later alternative
    save_hook: Callable[[Record], None]
    rng: random.Random
    _local_attempts: int = 0
    _probe: bool = False  # this run holds the domain's half-open probe
    _sent: bool = False  # the current attempt handed a request to the transport
    _last_retry_timeout: bool = False  # what the last budgeted retry cost (refunded on success)
    _deferred: bool = False  # handed to the background lane: this run sleeps no more
    _unlogged: Attempt | None = None  # the last attempt, committed with the record's next save

    # -- helpers ----------------------------------------------------------------

    @property
    def _now(self) -> float:
        return self.dispatcher.clock.now()

    def _emit(self, name: str, **fields: Any) -> None:
        if not self.dispatcher.wants(name):
            return
        self.dispatcher.emit(
            Event(
                name=name,
                at=self._now,
                post_id=self.record.post_id,
                channel=self.record.channel,
                fields={"key": self.record.delivery_key[:12], **fields},
            )
        )

    def _save(self) -> None:
        self.record.updated_at = self._now
        attempt, self._unlogged = self._unlogged, None
        self.dispatcher.store.save(self.record, attempt=attempt)
        self.save_hook(self.record)

    def _flush_log(self) -> None:
        """An attempt whose outcome changed nothing on the record is still logged."""
        attempt, self._unlogged = self._unlogged, None
        if attempt is not None:
            self.dispatcher.store.add_attempt(attempt)

    def _finish(self, state: State, **fields: Any) -> None:
        self.record.state = state
        self.record.lease_owner = None
        self.record.lease_until = 0.0
        for name, value in fields.items():
            setattr(self.record, name, value)
        self._save()

    def _patience_end(self) -> float | None:
        if self.patience is None or not self.record.started_at:
            return None
        return self.record.started_at + self.patience

    def _move_on(self) -> None:
        if self.patience is not None and not self.record.moved_on:
            self.record.moved_on = True
            self._emit("fallback", reason=self.record.last_class or "patience")

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
                if record.lease_owner != self.dispatcher.owner and record.lease_until > now:
                    return  # another worker is on it
                if not self._recover():
                    return
                continue
            if record.next_attempt_at > now:
                wake = record.next_attempt_at
                end = self._patience_end()
                if end is not None and wake > end:
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
                await self.dispatcher.clock.sleep(wake - now)
                continue
            if self.lane.inline and now >= self.lane.until:
                return  # no time left to start anything: the worker takes over
            if not record.started_at:
                record.started_at = now  # patience and key windows count from here
            blocked = self.dispatcher.blocked_accounts.get(self.channel.credential_key)
            if blocked is not None:
                self._move_on()
                self._finish(State.BLOCKED, last_class=ErrorClass.AUTH.value, last_error=blocked)
                self._emit("blocked", reason=blocked)
                return
            if record.state is State.RETRY_WAIT and self._key_expired():
                continue
            if record.state is State.RECONCILING:
                await self._reconcile()
                continue
            # Polly order: the bulkhead first, then breaker and rate token, then the attempt.
            async with self.dispatcher.limits(self.channel.failure_domain, self.channel.id):
                if await self._admit():
                    await self._attempt()

    def _key_expired(self) -> bool:
        """A resend that relied on the idempotency key, now past the key's window.

        The key no longer protects it, so the record is reconciled by lookup first
        (or held), never resent blindly.
        """
        caps = self.channel.capabilities
        record = self.record
        if (
            record.last_class != ErrorClass.AMBIGUOUS.value
            or Idempotency.KEY not in caps.idempotency
            or Idempotency.CLIENT_ID in caps.idempotency
            or caps.idempotency_window is None
            or self._now - record.started_at < caps.idempotency_window
        ):
            return False
        if Idempotency.LOOKUP in caps.idempotency:
            record.state = State.RECONCILING
            record.lookups_absent = 0
            record.next_attempt_at = self._now
            self._save()
            self._emit("ambiguous", action="reconcile", reason="idempotency key window passed")
        else:
            record.last_error = "the idempotency key expired before the post could be confirmed"
            self._move_on()
            self._finish(State.AMBIGUOUS)
            self._emit("ambiguous", action="hold", reason=record.last_error)
        return True

    def _defers(self, wait: float) -> bool:
        """The inline lane never sleeps longer than the Retry-After cap: it defers instead."""
        return self.lane.inline and wait > self.lane.policy.retry_after_cap

    def _expire(self) -> None:
        """Past its TTL: ``expired``, reported once even when several workers see it."""
        dispatcher = self.dispatcher
        now = self._now
        theirs = self.record.lease_owner != dispatcher.owner and self.record.lease_until > now
        if self.record.state is State.SENDING and theirs:
            return  # another worker's attempt is still running; it settles the record
        unproven = self.record.state in (State.SENDING, State.RECONCILING) or (
            self.record.last_class
            in (ErrorClass.AMBIGUOUS.value, ErrorClass.DUPLICATE_SIGNAL.value)
        )
        if dispatcher.store.lease(self.record.id, dispatcher.owner, now + 1.0, now) is None:
            raise _NotOurs
        when = _when(self.record.ttl_at)
        if unproven:  # it may have been published: a person settles it, never a guess
            self._finish(
                State.AMBIGUOUS,
                last_error=f"its TTL ({when}) passed before it was proven whether it was published",
            )
            self._emit("ambiguous", action="hold", reason="ttl")
            return
        self._finish(State.EXPIRED, last_error=f"not delivered before its TTL ({when})")
        self._emit("expired")

    async def _admit(self) -> bool:
        """Rate token and breaker; False when the record was parked instead."""
        now = self._now
        limiter = self.dispatcher.limiter
        limits = self.channel.capabilities.limits
        credential = self.channel.credential_key
        delay = limiter.delay(credential, limits, now)
        if delay > 0:
            self.record.state = State.RETRY_WAIT
            self.record.next_attempt_at = now + delay
            self._emit("ratelimit.wait", wait_for=round(delay, 3))
            end = self._patience_end()
            if end is not None and now + delay > end:
                self._move_on()
            self._save()
            return False
        breaker = self.dispatcher.breakers[self.channel.failure_domain]
        if not breaker.allow(now):
            self._unavailable(breaker.retry_at(now))
            return False
        self._probe = breaker.probing
        limiter.take(credential, limits, now)
        if self._probe and _has_health_check(self.channel):
            return await self._health_probe()
        return True

    def _unavailable(self, retry_at: float) -> None:
        self.record.state = State.RETRY_WAIT
        self.record.next_attempt_at = retry_at
        self.record.last_class = ErrorClass.UNAVAILABLE.value
        self.record.last_error = f"{self.channel.failure_domain} is failing: not tried until {_when(retry_at)} (breaker open)"
        self._move_on()
        self._save()

    def _breaker_record(self, ok: bool | None) -> None:
        probe, self._probe = self._probe, False
        self.dispatcher.breakers[self.channel.failure_domain].record(self._now, ok=ok, probe=probe)

    async def _health_probe(self) -> bool:
        """Half-open: ask the channel's safe health check instead of risking a create.

        A check that fails for the platform's health re-opens the breaker; one
        that says nothing about it (a 401, a 429) leaves the delivery as the probe.
        """
        now = self._now
        deadline = self._attempt_deadline(now)
        try:
            async with self.dispatcher.clock.timeout(deadline - now):
                await self.channel.check(self._context(deadline))
        except (DeliveryError, TimeoutError) as exc:
            if isinstance(exc, DeliveryError) and not exc.error_class.counts_for_breaker:
                return True
            self._emit("breaker.probe", healthy=False, reason=str(exc))
            self._breaker_record(False)
            self._unavailable(
                self.dispatcher.breakers[self.channel.failure_domain].retry_at(self._now)
            )
            return False
        except BaseException:
            self._breaker_record(None)
            raise
        self._emit("breaker.probe", healthy=True)
        self._breaker_record(True)
        return True

    def _context(self, deadline: float) -> Context:
        dispatcher = self.dispatcher
        channel = self.channel
        clock = dispatcher.clock

        def observe(response: httpx.Response) -> None:
            dispatcher.limiter.observe(channel.credential_key, response.headers, clock.now())

        async def send(request: httpx.Request) -> httpx.Response:
            self._sent = True
            return await dispatcher.http.send(
                channel, request, remaining=deadline - clock.now(), on_response=observe
            )

        return Context(
            delivery_key=self.record.delivery_key,
            attempt=self.record.attempts,
            post_id=self.record.post_id,
            now=clock.now,
            deadline=deadline,
            send=send,
            sleep=clock.sleep,
        )

    def _attempt_deadline(self, now: float) -> float:
        limits = [now + self.dispatcher.attempt_timeout]
        if self.lane.inline:
            limits.append(self.lane.until)
        end = self._patience_end()
        if end is not None:
            limits.append(max(end, now + 1.0))
        return min(limits)

    async def _attempt(self) -> None:
        dispatcher = self.dispatcher
        now = self._now
        lease_until = now + dispatcher.attempt_timeout + dispatcher.lease_margin
        claimed = dispatcher.store.begin_attempt(self.record.id, dispatcher.owner, lease_until, now)
        if claimed is None:
            self._breaker_record(None)
            self.record = dispatcher.store.record(self.record.id)
            self.save_hook(self.record)
            if self.record.state is State.SENDING:
                raise _NotOurs
            return
        self.record = claimed
        if not self.record.started_at:
            self.record.started_at = now
        self.save_hook(self.record)
        self._local_attempts += 1
        deadline = self._attempt_deadline(now)
        self._emit("attempt.start", attempt=self.record.attempts)
        error: DeliveryError | None = None
        receipt: Receipt | None = None
        self._sent = False
        try:
            async with dispatcher.clock.timeout(deadline - now):
                receipt = await self.channel.deliver(self.prepared, self._context(deadline))
        except DeliveryError as exc:
            error = exc
        except TimeoutError as exc:
            error = self._cut(deadline - now)
            error.__cause__ = exc
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

    def _abandoned(self, started: float) -> None:
        """The caller cancelled mid-attempt: settle the record now by what can be proved."""
        error = self._cut(self._now - started)
        error = type(error)(f"the caller cancelled the attempt: {error.message}")
        self._log(started, self._now - started, error)
        try:
            self._settle_abandoned(error)
        finally:
            self._flush_log()

    def _settle_abandoned(self, error: DeliveryError) -> None:
        self.record.last_class = error.error_class.value
        self.record.last_error = str(error)
        ways = self.channel.capabilities.idempotency
        if isinstance(error, NotSent) or Idempotency.KEY in ways or Idempotency.CLIENT_ID in ways:
            self._park(self._now)
        elif Idempotency.LOOKUP in ways:
            self.record.state = State.RECONCILING
            self.record.lookups_absent = 0
            self.record.next_attempt_at = self._now + self.lane.policy.reconcile_delays[0]
            self.record.lease_owner, self.record.lease_until = None, 0.0
            self._save()
        else:
            self._finish(State.AMBIGUOUS)
            self._emit("ambiguous", action="hold", error_class=error.error_class.value)

    def _cut(self, seconds: float) -> DeliveryError:
        """Our own timeout ended the attempt: ambiguous, unless no request had left yet."""
        if type(self.channel).deliver is Channel.deliver and not self._sent:
            return NotSent(f"no request started within {seconds:.1f} s")
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
        dispatcher = self.dispatcher
        self._breaker_record(True)
        dispatcher.budget_for(self.channel.failure_domain).credit(
            retried=self._local_attempts > 1, timeout=self._last_retry_timeout
        )
        self._finish(
            State.DELIVERED,
            platform_id=receipt.platform_id,
            url=receipt.url,
            recipients=[attrs.asdict(r) for r in receipt.recipients],
            extra=dict(receipt.extra),
            last_class=None,
            last_error=None,
            next_attempt_at=0.0,
        )
        self._emit("delivered", url=receipt.url or "", duration_ms=round(duration * 1000))

    # -- decisions ----------------------------------------------------------------

    def _park(self, at: float, *, move_on: bool = False) -> None:
        """Wait until ``at``; ``move_on`` hands the record to the background lane (and the
        next ``first_of`` alternative) instead of sleeping here."""
        self._deferred = self._deferred or move_on
        self.record.state = State.RETRY_WAIT
        self.record.next_attempt_at = at
        self.record.lease_owner, self.record.lease_until = None, 0.0
        if move_on:
            self._move_on()
        end = self._patience_end()
        if end is not None and at > end:
            self._move_on()
        self._save()
        self._emit(
            "retry.scheduled", wait_for=round(at - self._now, 3), error_class=self.record.last_class
        )

    def _fail(self, state: State, name: str) -> None:
        self._move_on()
        self._finish(state)
        self._emit(name, error_class=self.record.last_class, reason=self.record.last_error)

    def _decide(self, error: DeliveryError) -> None:
        dispatcher = self.dispatcher
        now = self._now
        kind = error.error_class
        self._breaker_record(False if kind.counts_for_breaker else None)
        self.record.last_class = kind.value
        self.record.last_error = str(error)
        policy = self.lane.policy
        if kind is ErrorClass.RATE_LIMITED:
            wait = (
                error.retry_after
                if error.retry_after is not None
                else policy.backoff(self.record.attempts, self.rng)
            )
            dispatcher.limiter.pause(self.channel.credential_key, now + wait)
            if now + wait >= self.record.ttl_at:
                self._fail(State.FAILED, "failed")
                return
            self._local_attempts -= 1  # waiting for a limit is not a failure
            self._park(
                now + policy.after_retry_after(wait, self.rng),
                move_on=wait > policy.retry_after_cap,
            )
            return
        if kind in (ErrorClass.AMBIGUOUS, ErrorClass.DUPLICATE_SIGNAL) or error.may_have_applied:
            self._ambiguous(error)
            return
        if kind in (ErrorClass.NOT_SENT, ErrorClass.TRANSIENT, ErrorClass.UNAVAILABLE):
            self._retry(error)
            return
        temporary_block = kind is ErrorClass.FORBIDDEN and error.retry_after is not None  # Meta 368
        if kind is ErrorClass.QUOTA_EXHAUSTED or temporary_block:
            at = now + (error.retry_after or 3600.0)
            if at >= self.record.ttl_at:
                self._fail(State.FAILED, "failed")
            else:
                self._park(at, move_on=True)
            return
        if kind is ErrorClass.AUTH:
            dispatcher.blocked_accounts[self.channel.credential_key] = self.record.last_error
            self._move_on()
            self._finish(State.BLOCKED)
            self._emit("blocked", reason=self.record.last_error)
            return
        self._fail(State.FAILED, "failed")

    def _budgeted(self, error: DeliveryError) -> bool:
        """The inline lane pays for an immediate retry from the domain's retry budget."""
        if not self.lane.inline:
            return True  # the background lane is gated by the breaker instead
        timeout = _timed_out(error)
        if not self.dispatcher.budget_for(self.channel.failure_domain).try_spend(timeout=timeout):
            self._emit("retry.budget_exhausted", error_class=error.error_class.value)
            return False
        self._last_retry_timeout = timeout
        return True

    def _failures(self) -> int:
        """Failed attempts so far: this run's inline, the record's in the background."""
        return self._local_attempts if self.lane.inline else max(1, self.record.attempts)

    def _retry(self, error: DeliveryError) -> None:
        now = self._now
        policy = self.lane.policy
        exhausted = policy.attempts is not None and self._local_attempts >= policy.attempts
        if exhausted or not self._budgeted(error):
            self._park(
                now + BACKGROUND.backoff(max(1, self.record.attempts), self.rng), move_on=True
            )
            return
        if error.retry_after is not None:
            wait = policy.after_retry_after(error.retry_after, self.rng)
            self._park(now + wait, move_on=error.retry_after > policy.retry_after_cap)
            return
        self._park(now + policy.backoff(self._failures(), self.rng))

    def _ambiguous(self, error: DeliveryError) -> None:
        now = self._now
        caps = self.channel.capabilities
        policy = self.lane.policy
        ways = caps.idempotency
        key_ok = Idempotency.KEY in ways and (
            caps.idempotency_window is None
            or now - self.record.started_at < caps.idempotency_window
        )
        if error.error_class is not ErrorClass.DUPLICATE_SIGNAL and (
            key_ok or Idempotency.CLIENT_ID in ways
        ):
            self.record.last_class = ErrorClass.AMBIGUOUS.value  # may have applied
            exhausted = policy.attempts is not None and self._local_attempts >= policy.attempts
            if exhausted or not self._budgeted(error):
                self._park(
                    now + max(policy.key_retry_delay, BACKGROUND.backoff(1, self.rng)), move_on=True
                )
            else:
                self._park(
                    now + max(policy.key_retry_delay, policy.backoff(self._failures(), self.rng))
                )
            return
        if Idempotency.LOOKUP in ways:
            self.record.state = State.RECONCILING
            self.record.lookups_absent = 0
            self.record.next_attempt_at = now + policy.reconcile_delays[0]
            self.record.lease_owner, self.record.lease_until = None, 0.0
            self._save()
            self._emit("ambiguous", action="reconcile", error_class=error.error_class.value)
            return
        if self.record.channel in self.dispatcher.retry_ambiguous:
            self.record.possible_duplicate = True
            self._park(now + policy.backoff(self._failures(), self.rng))
            return
        self._move_on()
        self._finish(State.AMBIGUOUS)
        self._emit("ambiguous", action="hold", error_class=error.error_class.value)

    # -- reconciliation and recovery ------------------------------------------------

    async def _reconcile(self) -> None:
        dispatcher = self.dispatcher
        now = self._now
        leased = dispatcher.store.lease(
            self.record.id, dispatcher.owner, now + dispatcher.attempt_timeout, now
        )
        if leased is None:
            raise _NotOurs
        self.record = leased
        deadline = self._attempt_deadline(now)
        try:
            async with dispatcher.clock.timeout(deadline - now):
                result = await self.channel.lookup(self.prepared, self._context(deadline))
        except (DeliveryError, TimeoutError) as exc:
            result = Unknown(str(exc))
            if isinstance(exc, TimeoutError) or exc.error_class.retryable:
                self.record.next_attempt_at = now + self.lane.policy.backoff(2, self.rng)
                self.record.lease_owner, self.record.lease_until = None, 0.0
                self._save()
                return
        self._emit("reconcile.result", result=type(result).__name__)
        policy = self.lane.policy
        if isinstance(result, Found):
            self._delivered(result.receipt, 0.0)
        elif isinstance(result, Absent):
            self.record.lookups_absent += 1
            superseded = self.record.extra.get("superseded_by")
            if self.record.lookups_absent >= 2 and superseded:
                # Proven absent, and another alternative already delivered: nothing to resend.
                self._finish(State.SKIPPED, last_error=f"superseded: {superseded} delivered")
                return
            if self.record.lookups_absent >= 2:
                self.record.state = State.RETRY_WAIT
                self.record.next_attempt_at = now
                self.record.last_class = None  # proven absent: a resend cannot duplicate
            else:
                gap = policy.reconcile_delays[1] - policy.reconcile_delays[0]
                self.record.next_attempt_at = now + gap
            self.record.lease_owner, self.record.lease_until = None, 0.0
            self._save()
        else:
            self.record.last_error = f"could not prove whether it was published: {result.reason}"
            self._move_on()
            self._finish(State.AMBIGUOUS)
            self._emit("ambiguous", action="hold", reason=result.reason)

    def _recover(self) -> bool:
        """A ``sending`` record whose lease ran out: its process died mid-attempt."""
        dispatcher = self.dispatcher
        now = self._now
        leased = dispatcher.store.lease(
            self.record.id, dispatcher.owner, now + dispatcher.lease_margin, now
        )
        if leased is None:
            return False
        self.record = leased
        ways = self.channel.capabilities.idempotency
        self.record.last_class = ErrorClass.AMBIGUOUS.value
        self.record.last_error = "the process stopped during an attempt"
        if Idempotency.KEY in ways or Idempotency.CLIENT_ID in ways:
            self.record.state = State.RETRY_WAIT
            self.record.next_attempt_at = now
        elif Idempotency.LOOKUP in ways:
            self.record.state = State.RECONCILING
            self.record.next_attempt_at = now
        else:
            self._finish(State.AMBIGUOUS)
            self._emit("ambiguous", action="hold", reason="process stopped during an attempt")
            return False
        self.record.lease_owner, self.record.lease_until = None, 0.0
        self._save()
        return True


def _has_health_check(channel: Channel) -> bool:
    """A channel with its own safe check probes a half-open breaker with it."""
    kind = type(channel)
    return kind.check_flow is not Channel.check_flow or kind.check is not Channel.check


def _timed_out(error: DeliveryError) -> bool:
    """A timeout costs the retry budget double: the platform is slow, not just refusing."""
    cause = error.__cause__
    return isinstance(cause, httpx.TimeoutException | TimeoutError)


class _NotOurs(Exception):
    """Another worker holds the record; the caller stops driving it."""
