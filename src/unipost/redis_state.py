"""Breakers, retry budgets and rate-limit times shared through Redis (``unipost-sdk[redis]``).

Every worker on every machine sees one breaker per failure domain, one retry
budget per domain, one token bucket per (credential, limit) and one
not-before time per credential. Each change is one Lua script, so it is atomic
on the server: two workers can never both take the half-open probe, and a
spend can never overdraw a budget.

Time is the caller's clock (the dispatcher's, virtual in tests), passed in as
``now``: machines sharing a Redis need synchronised clocks (NTP), as they
already do for the outbox's leases.

When Redis cannot be reached the state falls back to this process's own
(:class:`~unipost.breaker.Breakers`, budgets, buckets), emits one
``shared_state.degraded`` event, retries Redis every ``retry_interval``
seconds, and emits ``shared_state.restored`` when it answers again. Delivery
never stops for Redis: the outbox, not Redis, keeps the promises.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import attrs

from unipost.breaker import Breaker, BreakerState
from unipost.channel import Limit
from unipost.errors import ConfigurationError
from unipost.events import Event
from unipost.ratelimit import TokenBucket
from unipost.retry import RetryBudget

__all__ = ["BreakerVerdict", "RedisState"]

T = TypeVar("T")

# Floats cross Redis as strings: a Lua number returned to a client is truncated to an integer.
_LUA_FMT = "local function f(x) return string.format('%.6f', x) end\n"

# KEYS: breaker hash. ARGV: now, probe_lease.
# Returns: allowed (0/1), probe (0/1), old state, new state, open_until.
_ALLOW = (
    _LUA_FMT
    + """
local h = redis.call('HMGET', KEYS[1], 'state', 'open_until', 'probe_until')
local state = h[1] or 'closed'
local open_until = tonumber(h[2] or '0')
local probe_until = tonumber(h[3] or '0')
local now = tonumber(ARGV[1])
local old = state
if state == 'closed' then return {1, 0, old, state, f(open_until)} end
if state == 'open' or state == 'isolated' then
  if now < open_until then return {0, 0, old, state, f(open_until)} end
  state = 'half_open'
  redis.call('HSET', KEYS[1], 'state', state)
end
-- One probe at a time, across every process; a probe whose owner died expires.
if probe_until > now then return {0, 0, old, state, f(open_until)} end
redis.call('HSET', KEYS[1], 'probe_until', f(now + tonumber(ARGV[2])))
return {1, 1, old, state, f(open_until)}
"""
)

# KEYS: breaker hash, calls zset, failures zset.
# ARGV: now, outcome ('ok'/'fail'/'none'), probe (0/1), call id, failure_threshold,
#       rate_threshold, window, min_calls, open_base, open_cap.
# Returns: old state, new state, open_until.
_RECORD = (
    _LUA_FMT
    + """
local now = tonumber(ARGV[1])
local outcome = ARGV[2]
local probe = ARGV[3] == '1'
local h = redis.call('HMGET', KEYS[1], 'state', 'open_until', 'open_for', 'consecutive')
local state = h[1] or 'closed'
local open_until = tonumber(h[2] or '0')
local open_for = tonumber(h[3] or '0')
local consecutive = tonumber(h[4] or '0')
if probe then redis.call('HDEL', KEYS[1], 'probe_until') end
if outcome == 'none' then return {state, state, f(open_until)} end
local window = tonumber(ARGV[7])
local ttl = math.ceil(window * 2) + 1
redis.call('ZADD', KEYS[2], now, ARGV[4])
if outcome == 'fail' then redis.call('ZADD', KEYS[3], now, ARGV[4]) end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. f(now - window))
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', '(' .. f(now - window))
redis.call('EXPIRE', KEYS[2], ttl)
redis.call('EXPIRE', KEYS[3], ttl)
local function open(duration)
  redis.call('HSET', KEYS[1], 'state', 'open', 'open_for', f(duration),
             'open_until', f(now + duration), 'consecutive', consecutive)
  return {state, 'open', f(now + duration)}
end
if outcome == 'ok' then
  consecutive = 0
  redis.call('HSET', KEYS[1], 'consecutive', 0)
  if state == 'half_open' and probe then
    redis.call('HSET', KEYS[1], 'state', 'closed', 'open_for', 0)
    redis.call('DEL', KEYS[2], KEYS[3])
    return {state, 'closed', f(open_until)}
  end
  return {state, state, f(open_until)}
end
consecutive = consecutive + 1
if state == 'half_open' and probe then
  local base, cap = tonumber(ARGV[9]), tonumber(ARGV[10])
  return open(math.min(cap, math.max(base, open_for * 2)))
end
if state == 'closed' then
  local tripped = consecutive >= tonumber(ARGV[5])
  local calls = redis.call('ZCARD', KEYS[2])
  if not tripped and calls >= tonumber(ARGV[8]) then
    tripped = redis.call('ZCARD', KEYS[3]) / calls >= tonumber(ARGV[6])
  end
  if tripped then return open(tonumber(ARGV[9])) end
end
redis.call('HSET', KEYS[1], 'consecutive', consecutive)
return {state, state, f(open_until)}
"""
)

# KEYS: budget. ARGV: amount (negative: spend), capacity, ttl. Returns 1 if done, 0 if it cannot pay.
_BUDGET = """
local capacity = tonumber(ARGV[2])
local tokens = tonumber(redis.call('GET', KEYS[1]) or ARGV[2])
local amount = tonumber(ARGV[1])
if tokens + amount < 0 then return 0 end
redis.call('SET', KEYS[1], math.min(capacity, tokens + amount), 'EX', tonumber(ARGV[3]))
return 1
"""

# KEYS: not-before. ARGV: until. Keeps the later of the two; the key vanishes after it.
# Returns the time in force.
_NOT_BEFORE = (
    _LUA_FMT
    + """
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
local wanted = tonumber(ARGV[1])
if wanted > current then
  redis.call('SET', KEYS[1], f(wanted), 'PXAT', math.ceil((wanted + 60) * 1000))
  return f(wanted)
end
return f(current)
"""
)

# KEYS: bucket hash, not-before. ARGV: now, rate, per, burst, take (0/1).
# Returns the wait in seconds ('0.000000' when a token was taken, if take was asked).
_BUCKET = (
    _LUA_FMT
    + """
local now, rate, per, burst = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local h = redis.call('HMGET', KEYS[1], 'tokens', 'updated')
local tokens = tonumber(h[1] or ARGV[4])
local updated = tonumber(h[2] or ARGV[1])
tokens = math.min(burst, tokens + math.max(0, now - updated) * rate / per)
local wait = math.max(0, tonumber(redis.call('GET', KEYS[2]) or '0') - now)
local refill = (1 - tokens) * per / rate
if refill >= 0.001 then wait = math.max(wait, refill) end
if wait == 0 and ARGV[5] == '1' then tokens = tokens - 1 end
redis.call('HSET', KEYS[1], 'tokens', f(tokens), 'updated', f(now))
redis.call('EXPIRE', KEYS[1], math.ceil(per * 2) + 60)
return f(wait)
"""
)


@attrs.frozen
class BreakerVerdict:
    """The answer to "may I send to this domain now?"."""

    allowed: bool
    probe: bool  # the caller holds the one half-open probe and must report with probe=True
    retry_at: float  # when a refused caller should ask again


def _import_redis() -> Any:
    try:
        import redis
    except ImportError as exc:
        raise ConfigurationError(
            "shared_state.url",
            "Redis shared state needs the redis client",
            "pip install 'unipost-sdk[redis]'",
        ) from exc
    return redis


@attrs.define
class _Local:
    """This process's own state: what Redis falls back to when it cannot be reached."""

    settings: dict[str, float | int]
    budget_settings: dict[str, int]
    breakers: dict[str, Breaker] = attrs.field(factory=dict)
    budgets: dict[str, RetryBudget] = attrs.field(factory=dict)
    buckets: dict[tuple[str, str], TokenBucket] = attrs.field(factory=dict)
    not_before: dict[str, float] = attrs.field(factory=dict)

    def breaker(self, domain: str) -> Breaker:
        if domain not in self.breakers:
            self.breakers[domain] = Breaker(domain=domain, **self.settings)  # type: ignore[arg-type]
        return self.breakers[domain]

    def budget(self, domain: str) -> RetryBudget:
        if domain not in self.budgets:
            self.budgets[domain] = RetryBudget(**self.budget_settings)
        return self.budgets[domain]


@attrs.define
class RedisState:
    """Shared state in one Redis (``redis://host:6379/0``), under ``prefix:`` keys.

    ``observers`` receive the ``breaker.transition`` events this process
    causes and the ``shared_state.degraded`` / ``shared_state.restored`` events.
    """

    url: str
    prefix: str = "unipost"
    observers: list[Callable[[Event], object]] = attrs.field(factory=list)
    breaker_settings: dict[str, float | int] = attrs.field(factory=dict)
    budget_settings: dict[str, int] = attrs.field(factory=dict)
    probe_lease: float = 30.0  # a probe not answered in this time is given to someone else
    timeout: float = 0.5  # per Redis call: a slow Redis must not slow deliveries down
    retry_interval: float = 5.0  # how often a degraded process tries Redis again (real time)
    _client: Any = attrs.field(init=False, repr=False)  # redis.Redis, imported on use
    _scripts: dict[str, Any] = attrs.field(init=False, repr=False, factory=dict)
    _errors: tuple[type[BaseException], ...] = attrs.field(init=False, repr=False)
    _local: _Local = attrs.field(init=False, repr=False)
    _degraded_since: float | None = attrs.field(init=False, default=None)
    _next_try: float = attrs.field(init=False, default=0.0)
    _lock: threading.Lock = attrs.field(init=False, factory=threading.Lock, repr=False)

    def __attrs_post_init__(self) -> None:
        redis = _import_redis()
        self._errors = (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError)
        self._client = redis.Redis.from_url(
            self.url,
            socket_timeout=self.timeout,
            socket_connect_timeout=self.timeout,
            health_check_interval=30,
        )
        for name, source in (
            ("allow", _ALLOW),
            ("record", _RECORD),
            ("budget", _BUDGET),
            ("not_before", _NOT_BEFORE),
            ("bucket", _BUCKET),
        ):
            self._scripts[name] = self._client.register_script(source)
        self._local = _Local(self.breaker_settings, self.budget_settings)

    @property
    def location(self) -> str:
        pool = self._client.connection_pool.connection_kwargs
        return f"redis://{pool.get('host', '?')}:{pool.get('port', '?')}/{pool.get('db', 0)}"

    @property
    def degraded(self) -> bool:
        """True while Redis cannot be reached and this process runs on its own state."""
        return self._degraded_since is not None

    def _key(self, kind: str, name: str) -> str:
        return f"{self.prefix}:{kind}:{name}"

    def _emit(self, name: str, **fields: Any) -> None:
        event = Event(name=name, at=time.time(), fields=fields)
        for observer in self.observers:
            try:
                observer(event)
            except Exception:  # noqa: S112 - an observer never breaks delivery
                continue

    def _run(self, script: str, keys: Sequence[str], args: Sequence[Any], local: Callable[[], T],
             parse: Callable[[Any], T]) -> T:  # fmt: skip
        """Run ``script`` on Redis, or ``local()`` while Redis is unreachable."""
        with self._lock:
            if self._degraded_since is not None and time.monotonic() < self._next_try:
                return local()
        try:
            result = parse(self._scripts[script](keys=list(keys), args=list(args)))
        except self._errors as exc:
            with self._lock:
                self._next_try = time.monotonic() + self.retry_interval
                first = self._degraded_since is None
                if first:
                    self._degraded_since = time.time()
            if first:
                self._emit(
                    "shared_state.degraded",
                    location=self.location,
                    error=type(exc).__name__,
                    message="Redis unreachable: breakers, budgets and rate limits are this "
                    "process's own until it answers again; delivery goes on",
                )
            return local()
        with self._lock:
            was = self._degraded_since
            self._degraded_since = None
        if was is not None:
            self._emit(
                "shared_state.restored", location=self.location, degraded_for=time.time() - was
            )
        return result

    # -- breakers ------------------------------------------------------------------------

    def _setting(self, name: str) -> float:
        default: float = attrs.fields_dict(Breaker)[name].default  # type: ignore[assignment]
        return float(self.breaker_settings.get(name, default))

    def _transition(self, domain: str, old: str, new: str, open_until: float) -> None:
        if old != new:
            self._emit(
                "breaker.transition",
                domain=domain,
                **{"from": old, "to": new},
                open_until=open_until if new == BreakerState.OPEN.value else None,
            )

    def breaker_allow(self, domain: str, now: float) -> BreakerVerdict:
        """May a request go to ``domain`` now? Claims the one half-open probe if it is free."""

        def local() -> BreakerVerdict:
            breaker = self._local.breaker(domain)
            allowed = breaker.allow(now)
            return BreakerVerdict(allowed, allowed and breaker.probing, breaker.retry_at(now))

        def parse(reply: list[Any]) -> BreakerVerdict:
            allowed, probe, old, new, open_until = reply
            until = float(open_until)
            self._transition(domain, old.decode(), new.decode(), until)
            retry_at = until if until > now else now + self._setting("probe_wait")
            return BreakerVerdict(bool(allowed), bool(probe), retry_at)

        return self._run(
            "allow", [self._key("breaker", domain)], [now, self.probe_lease], local, parse
        )

    def breaker_record(
        self, domain: str, now: float, *, ok: bool | None, probe: bool = False
    ) -> BreakerState:
        """Report an attempt's verdict on ``domain``'s health; returns the state after it."""

        def local() -> BreakerState:
            breaker = self._local.breaker(domain)
            breaker.record(now, ok=ok, probe=probe)
            return breaker.state

        def parse(reply: list[Any]) -> BreakerState:
            old, new, open_until = (value.decode() for value in reply)
            self._transition(domain, old, new, float(open_until))
            return BreakerState(new)

        outcome = "none" if ok is None else ("ok" if ok else "fail")
        args = [
            now, outcome, int(probe), uuid.uuid4().hex,
            self._setting("failure_threshold"), self._setting("rate_threshold"),
            self._setting("window"), self._setting("min_calls"),
            self._setting("open_base"), self._setting("open_cap"),
        ]  # fmt: skip
        keys = [self._key(kind, domain) for kind in ("breaker", "calls", "failures")]
        return self._run("record", keys, args, local, parse)

    def breaker_state(self, domain: str, now: float) -> tuple[BreakerState, float]:
        """The state of ``domain``'s breaker and its ``open_until`` (for ``unipost`` status)."""

        def local() -> tuple[BreakerState, float]:
            breaker = self._local.breaker(domain)
            return breaker.state, breaker.open_until

        def read() -> tuple[BreakerState, float]:
            state, until = self._client.hmget(self._key("breaker", domain), ["state", "open_until"])
            return BreakerState(state.decode() if state else "closed"), float(until or 0)

        return self._plain(read, local)

    def breaker_isolate(self, domain: str, until: float) -> None:
        """Hold ``domain`` open by hand until ``until``, for every process."""

        def write() -> None:
            self._client.hset(
                self._key("breaker", domain), mapping={"state": "isolated", "open_until": until}
            )

        self._plain(write, lambda: self._local.breaker(domain).isolate(until))

    def breaker_reset(self, domain: str) -> None:
        """Close ``domain``'s breaker by hand, for every process."""

        def write() -> None:
            self._client.delete(*(self._key(k, domain) for k in ("breaker", "calls", "failures")))

        self._plain(write, lambda: self._local.breaker(domain).reset())

    def _plain(self, call: Callable[[], T], local: Callable[[], T]) -> T:
        """A non-scripted command, with the same fallback as the scripts."""
        with self._lock:
            if self._degraded_since is not None and time.monotonic() < self._next_try:
                return local()
        try:
            return call()
        except self._errors:
            return local()

    # -- retry budgets -------------------------------------------------------------------

    def _budget(self, name: str) -> int:
        default: int = attrs.fields_dict(RetryBudget)[name].default  # type: ignore[assignment]
        return int(self.budget_settings.get(name, default))

    def budget_spend(self, domain: str, *, timeout: bool = False) -> bool:
        """Pay for an immediate retry on ``domain``; False when the shared budget cannot."""
        price = self._budget("timeout_cost" if timeout else "cost")
        return self._run(
            "budget",
            [self._key("budget", domain)],
            [-price, self._budget("capacity"), 86_400],
            lambda: self._local.budget(domain).try_spend(timeout=timeout),
            lambda reply: bool(reply),
        )

    def budget_credit(self, domain: str, *, retried: bool, timeout: bool = False) -> None:
        """A success refunds (a retried one, its whole price)."""
        if retried:
            amount = self._budget("timeout_cost" if timeout else "cost")
        else:
            amount = self._budget("refund")
        self._run(
            "budget",
            [self._key("budget", domain)],
            [amount, self._budget("capacity"), 86_400],
            lambda: self._local.budget(domain).credit(retried=retried, timeout=timeout),
            lambda reply: None,
        )

    def budget_tokens(self, domain: str) -> int:
        def read() -> int:
            value = self._client.get(self._key("budget", domain))
            return int(float(value)) if value is not None else self._budget("capacity")

        return self._plain(read, lambda: self._local.budget(domain).tokens)

    # -- rate limits ---------------------------------------------------------------------

    def push_not_before(self, credential: str, until: float) -> float:
        """No request on ``credential`` before ``until`` (the later time wins); returns it."""

        def local() -> float:
            current = max(self._local.not_before.get(credential, 0.0), until)
            self._local.not_before[credential] = current
            return current

        return self._run("not_before", [self._key("not_before", credential)], [until], local, float)

    def not_before(self, credential: str) -> float:
        def read() -> float:
            value = self._client.get(self._key("not_before", credential))
            return float(value) if value is not None else 0.0

        return self._plain(read, lambda: self._local.not_before.get(credential, 0.0))

    def acquire(self, credential: str, limit: Limit, now: float, *, take: bool = True) -> float:
        """Take a token of ``limit`` on ``credential``; or the seconds to wait before one is free.

        The wait includes the credential's not-before time. With ``take=False``
        only the wait is computed.
        """

        def local() -> float:
            key = (credential, limit.name)
            bucket = self._local.buckets.get(key)
            if bucket is None:
                bucket = self._local.buckets[key] = TokenBucket.from_limit(limit, now)
            wait = max(bucket.delay(now), self._local.not_before.get(credential, 0.0) - now, 0.0)
            if wait == 0.0 and take:
                bucket.take(now)
            return wait

        burst = float(limit.burst or limit.rate)
        keys = [
            self._key("bucket", f"{credential}:{limit.name}"),
            self._key("not_before", credential),
        ]
        args = [now, limit.rate, limit.per, burst, int(take)]
        return self._run("bucket", keys, args, local, float)

    def close(self) -> None:
        self._client.close()
