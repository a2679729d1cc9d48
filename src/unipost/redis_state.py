"""Breakers, retry budgets and rate-limit times shared through Redis (``unipost-sdk[redis]``).

:class:`RedisState` is the :class:`~unipost.shared_state.SharedState` for
workers on many machines: every one of them sees one breaker per failure
domain, one retry budget per domain and one not-before time per credential.
Each change is one Lua script, so it is atomic on the server: two workers can
never both take a half-open breaker's probe, and a spend can never overdraw a
budget. The breaker script is :func:`unipost.breaker.step` written in Lua
(a test runs both side by side); values are stored as JSON with times as
decimal strings, so no precision is lost to Lua's number formatting.

Time is the caller's clock (the dispatcher's), passed in as ``now``: machines
sharing a Redis need synchronised clocks (NTP), as the outbox's leases do.

When Redis cannot be reached the state falls back to this process's own
(:class:`~unipost.shared_state.LocalState`), emits one ``shared_state.degraded``
event (also logged as a warning), tries Redis again every ``retry_interval``
seconds and emits ``shared_state.restored`` when it answers. Delivery never
stops for Redis: the outbox, not Redis, keeps the promises.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import attrs

from unipost.breaker import Admission, BreakerData, BreakerSettings
from unipost.channel import Limit
from unipost.errors import ConfigurationError
from unipost.events import Event
from unipost.shared_state import LocalState

__all__ = ["RedisState"]

T = TypeVar("T")
_log = logging.getLogger("unipost")

# Floats cross Redis as strings: Lua formats numbers with 14 digits, and a number returned
# to a client is truncated to an integer.
_LUA_FMT = "local function f(x) return string.format('%.6f', x) end\n"

# KEYS: the breaker. ARGV: op, now, arg, failure_threshold, rate_threshold, window,
# min_calls, open_base, open_cap, probe_lease, degraded_threshold, note.
# Returns: before JSON, after JSON, answer.
# The same rules as unipost.breaker.step, operation by operation.
_STEP = (
    _LUA_FMT
    + """
local raw = redis.call('GET', KEYS[1])
local d = {}
if raw then d = cjson.decode(raw) end
local function num(x, default)
  if x == nil or x == cjson.null then return default end
  return tonumber(x)
end
local state = d.state or 'closed'
local open_until, open_for = num(d.open_until, 0), num(d.open_for, 0)
local consecutive, probe_until = num(d.consecutive, 0), num(d.probe_until, 0)
local calls = {}
if type(d.calls) == 'table' then
  for _, c in ipairs(d.calls) do calls[#calls + 1] = {tonumber(c[1]), c[2] == true} end
end
local op, now, arg = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local failure_threshold, rate_threshold = tonumber(ARGV[4]), tonumber(ARGV[5])
local window, min_calls = tonumber(ARGV[6]), tonumber(ARGV[7])
local open_base, open_cap, probe_lease = tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10])
local degraded_threshold, note = tonumber(ARGV[11]), ARGV[12]
local advisory, advisory_note = d.advisory or '', d.advisory_note or ''
local advisory_since = num(d.advisory_since, 0)
local proven_until = num(d.proven_until, 0)
local trials = {}
if type(d.trials) == 'table' then
  for _, t in ipairs(d.trials) do
    trials[#trials + 1] = {tostring(t[1]), tonumber(t[2])}
  end
end
local before = raw or ''
local function threshold()
  if advisory ~= '' then return math.min(failure_threshold, degraded_threshold) end
  return failure_threshold
end
local function live()
  local kept = {}
  for _, t in ipairs(trials) do if t[2] > now then kept[#kept + 1] = t end end
  return kept
end

local function save()
  local list = {}
  for i, c in ipairs(calls) do list[i] = {f(c[1]), c[2]} end
  local tlist = {}
  for i, t in ipairs(trials) do tlist[i] = {t[1], f(t[2])} end
  local value = cjson.encode({state = state, open_until = f(open_until), open_for = f(open_for),
    consecutive = consecutive, probe_until = f(probe_until), calls = list,
    advisory = advisory, advisory_since = f(advisory_since), advisory_note = advisory_note,
    proven_until = f(proven_until), trials = tlist})
  if #list == 0 then value = string.gsub(value, '"calls":{}', '"calls":[]') end
  if #tlist == 0 then value = string.gsub(value, '"trials":{}', '"trials":[]') end
  redis.call('SET', KEYS[1], value)
  return value
end
local function reset()
  redis.call('DEL', KEYS[1])
  return ''
end
local function closed_with_advice(proven)
  state, open_until, open_for, consecutive, probe_until, calls = 'closed', 0, 0, 0, 0, {}
  trials, proven_until = {}, proven
  return save()
end
local function open(duration)
  state, open_for, open_until, probe_until = 'open', duration, now + duration, 0
end

if string.sub(op, 1, 7) == 'advise_' then
  local severity = string.sub(op, 8)
  if severity == 'ok' then
    advisory, advisory_since, advisory_note = '', 0, ''
    return {before, save(), ''}
  end
  local same = advisory == severity
  if not same then advisory_since = (arg ~= 0) and arg or now end
  advisory, advisory_note = severity, note
  if severity == 'major' and not same and state == 'closed' then open(open_base) end
  return {before, save(), ''}
end
if op == 'allow' then
  if arg == 1 and advisory == 'major' and state ~= 'closed' then
    return {before, before, 'refused'}
  end
  if state == 'closed' and consecutive == 0 then
    -- Not proven up by a recent success: at most the threshold of requests at once.
    if proven_until > now then return {before, before, 'allowed'} end
    -- At most the threshold of processes (claimants, in note) send while it is unproven.
    local senders = live()
    for _, t in ipairs(senders) do
      if t[1] == note then return {before, before, 'trial'} end
    end
    if #senders >= threshold() then return {before, before, 'wait'} end
    senders[#senders + 1] = {note, now + probe_lease}
    trials = senders
    return {before, save(), 'trial'}
  end
  if state == 'closed' then
    -- Failing but not open yet: one request at a time, across every process.
    if probe_until > now or #live() > 0 then return {before, before, 'refused'} end
    probe_until = now + probe_lease
    return {before, save(), 'single'}
  end
  if state == 'open' or state == 'isolated' then
    if now < open_until then return {before, before, 'refused'} end
    state, probe_until = 'half_open', 0
  end
  if probe_until > now then return {before, save(), 'refused'} end
  probe_until = now + probe_lease
  return {before, save(), 'probe'}
end
if op == 'isolate' then
  state, open_until, probe_until = 'isolated', arg, 0
  return {before, save(), ''}
end
if op == 'reset' then return {before, reset(), ''} end
local probe = arg == 1
local changed = false
if probe and probe_until ~= 0 then probe_until, changed = 0, true end
if arg == 2 and #trials > 0 then
  -- The claimant's (note's) first verdict frees its place.
  local kept = {}
  for _, t in ipairs(live()) do if t[1] ~= note then kept[#kept + 1] = t end end
  if #kept ~= #trials then trials, changed = kept, true end
end
if op == 'none' then
  if changed then return {before, save(), ''} end
  return {before, before, ''}
end
local ok = op == 'ok'
local proven = now + window
if ok and state == 'closed' and consecutive == 0 then
  local all_fine = true
  for _, c in ipairs(calls) do if not c[2] then all_fine = false end end
  if all_fine then
    if proven_until - now < window / 2 then proven_until, changed = proven, true end
    if changed then return {before, save(), ''} end
    return {before, before, ''}
  end
end
local kept = {}
for _, c in ipairs(calls) do if c[1] >= now - window then kept[#kept + 1] = c end end
kept[#kept + 1] = {now, ok}
calls = kept
if ok then
  consecutive, proven_until = 0, proven
  if state == 'half_open' and probe then return {before, closed_with_advice(proven), ''} end
  return {before, save(), ''}
end
consecutive, proven_until = consecutive + 1, 0
if state == 'half_open' and probe then
  open(math.min(open_cap, math.max(open_base, open_for * 2)))
elseif state == 'closed' then
  local tripped = consecutive >= threshold()
  if not tripped and #calls >= min_calls then
    local failures = 0
    for _, c in ipairs(calls) do if not c[2] then failures = failures + 1 end end
    tripped = failures / #calls >= rate_threshold
  end
  if tripped then open(open_base) end
end
return {before, save(), ''}
"""
)

# KEYS: the budget. ARGV: 'spend' or 'credit', amount, capacity. Returns 1 when done.
_BUDGET = """
local capacity, amount = tonumber(ARGV[3]), tonumber(ARGV[2])
local tokens = tonumber(redis.call('GET', KEYS[1]) or ARGV[3])
if ARGV[1] == 'spend' then
  if tokens < amount then return 0 end
  tokens = tokens - amount
else
  tokens = math.min(capacity, tokens + amount)
end
if tokens >= capacity then redis.call('DEL', KEYS[1]) else redis.call('SET', KEYS[1], tokens) end
return 1
"""

# KEYS: the not-before time. ARGV: until. Keeps the later time.
_NOT_BEFORE = (
    _LUA_FMT
    + """
local wanted = tonumber(ARGV[1])
if wanted > tonumber(redis.call('GET', KEYS[1]) or '0') then
  -- Kept an hour past the time (on Redis's clock too, whatever clock the caller runs on).
  local real = tonumber(redis.call('TIME')[1])
  redis.call('SET', KEYS[1], f(wanted), 'EX', math.ceil(math.max(wanted - real, 0) + 3600))
end
return 1
"""
)

# KEYS: the bucket, the credential's not-before time. ARGV: now, rate, per, burst, take (0/1).
# Returns the seconds to wait ('0.000000' when a token is free, and taken if asked).
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


def _import_redis() -> Any:
    try:
        import redis
    except ImportError as exc:
        raise ConfigurationError(
            "shared_state",
            "Redis shared state needs the redis client",
            "pip install 'unipost-sdk[redis]'",
        ) from exc
    return redis


def _data(raw: bytes | str) -> BreakerData:
    text = raw.decode() if isinstance(raw, bytes) else raw
    return BreakerData.from_json(json.loads(text) if text else None)


@attrs.define
class RedisState:
    """The shared state in one Redis (``redis://host:6379/0``), under ``prefix:`` keys.

    ``observers`` receive ``shared_state.degraded`` and ``shared_state.restored``.
    """

    url: str
    prefix: str = "unipost"
    observers: list[Callable[[Event], object]] = attrs.field(factory=list)
    timeout: float = 0.5  # per Redis call: a slow Redis must not slow deliveries down
    retry_interval: float = 5.0  # how often a degraded process tries Redis again (real time)
    local: LocalState = attrs.field(factory=LocalState)  # what it falls back to
    _client: Any = attrs.field(init=False, repr=False)  # redis.Redis, imported on use
    _scripts: dict[str, Any] = attrs.field(init=False, repr=False, factory=dict)
    _errors: tuple[type[BaseException], ...] = attrs.field(init=False, repr=False)
    _degraded_since: float | None = attrs.field(init=False, default=None)
    _next_try: float = attrs.field(init=False, default=0.0)
    _lock: threading.Lock = attrs.field(init=False, factory=threading.Lock, repr=False)

    def __attrs_post_init__(self) -> None:
        redis = _import_redis()
        self._errors = (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError)
        self._client = redis.Redis.from_url(
            self.url, socket_timeout=self.timeout, socket_connect_timeout=self.timeout
        )
        for name, source in (
            ("step", _STEP),
            ("budget", _BUDGET),
            ("not_before", _NOT_BEFORE),
            ("bucket", _BUCKET),
        ):
            self._scripts[name] = self._client.register_script(source)

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

    def _emit(self, name: str, level: int, **fields: Any) -> None:
        event = Event(name=name, at=time.time(), fields=fields)
        _log.log(level, event.message())
        for observer in self.observers:
            try:
                observer(event)
            except Exception:
                _log.exception("event observer %r failed; delivery goes on", observer)

    def _call(self, call: Callable[[], T], local: Callable[[], T]) -> T:
        """``call()`` on Redis, or ``local()`` while Redis is unreachable."""
        with self._lock:
            if self._degraded_since is not None and time.monotonic() < self._next_try:
                return local()
        try:
            result = call()
        except self._errors as exc:
            with self._lock:
                self._next_try = time.monotonic() + self.retry_interval
                first = self._degraded_since is None
                if first:
                    self._degraded_since = time.time()
            if first:
                self._emit(
                    "shared_state.degraded",
                    logging.WARNING,
                    location=self.location,
                    error=type(exc).__name__,
                    message="Redis unreachable: breakers, budgets and rate-limit times are "
                    "this process's own until it answers again; delivery goes on",
                )
            return local()
        with self._lock:
            since, self._degraded_since = self._degraded_since, None
        if since is not None:
            self._emit(
                "shared_state.restored",
                logging.WARNING,
                location=self.location,
                degraded_for=round(time.time() - since, 3),
            )
        return result

    def _script(self, name: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        return lambda: self._scripts[name](keys=list(keys), args=list(args))

    # -- breakers ------------------------------------------------------------------------

    def breaker(self, domain: str) -> BreakerData:
        def read() -> BreakerData:
            return _data(self._client.get(self._key("breaker", domain)) or b"")

        return self._call(read, lambda: self.local.breaker(domain))

    def breakers(self) -> dict[str, BreakerData]:
        def read() -> dict[str, BreakerData]:
            prefix = self._key("breaker", "")
            keys = list(self._client.scan_iter(match=prefix.replace("*", r"\*") + "*", count=500))
            values = self._client.mget(keys) if keys else []
            return {
                key.decode().removeprefix(prefix): _data(value)
                for key, value in zip(keys, values, strict=True)
                if value is not None
            }

        return self._call(read, self.local.breakers)

    def breaker_step(
        self,
        domain: str,
        op: str,
        now: float,
        settings: BreakerSettings,
        arg: float = 0.0,
        note: str = "",
    ) -> tuple[BreakerData, BreakerData, Admission | None]:
        def run() -> tuple[BreakerData, BreakerData, Admission | None]:
            before, after, answer = self._script(
                "step",
                [self._key("breaker", domain)],
                [
                    op, repr(now), repr(arg),
                    settings.failure_threshold, repr(settings.rate_threshold),
                    repr(settings.window), settings.min_calls, repr(settings.open_base),
                    repr(settings.open_cap), repr(settings.probe_lease),
                    settings.degraded_threshold, note,
                ],
            )()  # fmt: skip
            return _data(before), _data(after), Admission(answer.decode()) if answer else None

        return self._call(
            run, lambda: self.local.breaker_step(domain, op, now, settings, arg, note)
        )

    # -- retry budgets -------------------------------------------------------------------

    def budget_spend(self, domain: str, cost: int, capacity: int) -> bool:
        run = self._script("budget", [self._key("budget", domain)], ["spend", cost, capacity])
        return self._call(
            lambda: bool(run()), lambda: self.local.budget_spend(domain, cost, capacity)
        )

    def budget_credit(self, domain: str, amount: int, capacity: int) -> None:
        run = self._script("budget", [self._key("budget", domain)], ["credit", amount, capacity])

        def credit() -> None:
            run()

        self._call(credit, lambda: self.local.budget_credit(domain, amount, capacity))

    def budget_tokens(self, domain: str, capacity: int) -> int:
        def read() -> int:
            value = self._client.get(self._key("budget", domain))
            return int(value) if value is not None else capacity

        return self._call(read, lambda: self.local.budget_tokens(domain, capacity))

    # -- rate limits ---------------------------------------------------------------------

    def not_before(self, key: str) -> float:
        def read() -> float:
            value = self._client.get(self._key("not_before", key))
            return float(value) if value is not None else 0.0

        return self._call(read, lambda: self.local.not_before(key))

    def push_not_before(self, key: str, until: float) -> None:
        run = self._script("not_before", [self._key("not_before", key)], [repr(until)])

        def push() -> None:
            run()

        self._call(push, lambda: self.local.push_not_before(key, until))

    def acquire(self, credential: str, limit: Limit, now: float, *, take: bool = True) -> float:
        """A token of ``limit`` on ``credential`` shared by every worker; else the seconds to wait.

        The wait includes the credential's not-before time; ``take=False`` only computes it.
        While Redis is unreachable this answers 0 (the engine's own buckets still apply).
        """
        burst = float(limit.burst or limit.rate)
        keys = [
            self._key("bucket", f"{credential}:{limit.name}"),
            self._key("not_before", credential),
        ]
        run = self._script(
            "bucket", keys, [repr(now), limit.rate, repr(limit.per), repr(burst), int(take)]
        )
        return self._call(
            lambda: float(run()), lambda: max(0.0, self.local.not_before(credential) - now)
        )

    def close(self) -> None:
        self._client.close()
