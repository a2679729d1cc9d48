"""The status poller: platform feeds read politely, their word kept in the breakers.

It runs beside the background lane (``unipost worker``, ``Dispatcher.worker()``)
and fetches each feed of :mod:`unipost.status_feeds` every few minutes:

- politely: one request per URL however many channels share it, conditional
  (``If-None-Match`` / ``If-Modified-Since`` from the last answer), never
  sooner than the configured interval, the answer's ``Cache-Control:
  max-age`` or its ``Retry-After``;
- bounded: a total timeout per fetch, and a body larger than ``max_bytes``
  is dropped unread;
- as advice: the worst reading of a failure domain's feeds is written to its
  breaker (:meth:`unipost.breaker.Breaker.advise`) when it changes, never
  more — a major outage pre-opens it, a degraded status lowers its threshold,
  a green feed clears the advice but leaves the breaker to real deliveries.

Each change is an event: ``status.reading`` (one source), ``status.advisory``
(a domain's advice), ``status.account`` (an account source such as a WhatsApp
number's standing) and ``status.error`` (a feed that could not be read).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs
import httpx

from unipost import lifecycle
from unipost.breaker import Breaker, Severity
from unipost.classify import parse_retry_after
from unipost.clock import nap
from unipost.engine import Engine
from unipost.errors import ConfigurationError
from unipost.records import Record
from unipost.status_feeds import (
    UNREACHABLE_IS_DOWN,
    Reading,
    StatusFeedError,
    StatusSource,
    parse_feed,
)

__all__ = ["StatusPoller", "StatusSettings", "parse_status", "refusal"]

_log = logging.getLogger("unipost")


def _positive(_instance: object, attribute: attrs.Attribute[float], value: float | int) -> None:
    if value <= 0:
        raise ValueError(f"status.{attribute.name} must be above 0, not {value!r}")


def _names(value: Iterable[str]) -> frozenset[str]:
    return frozenset((value,) if isinstance(value, str) else value)


def _sources(value: Iterable[StatusSource]) -> tuple[StatusSource, ...]:
    return tuple(value)


@attrs.frozen(kw_only=True)
class StatusSettings:
    """How feeds are polled (``[status]`` in ``unipost.toml``)."""

    enabled: bool = True
    interval: float = attrs.field(default=300.0, validator=_positive)
    min_interval: float = attrs.field(default=60.0, validator=_positive)  # the floor for any feed
    timeout: float = attrs.field(default=10.0, validator=_positive)
    max_bytes: int = attrs.field(default=512 * 1024, validator=_positive)  # type: ignore[arg-type]
    #: Sources not to poll, by name ("Meta graph-api"), label ("Meta"), domain or URL.
    off: frozenset[str] = attrs.field(default=frozenset(), converter=_names)
    extra: tuple[StatusSource, ...] = attrs.field(default=(), converter=_sources)  # the config's

    def wanted(self, source: StatusSource) -> bool:
        return self.enabled and not {source.name, source.label, source.domain, source.url} & (
            self.off
        )


@attrs.define
class _Feed:
    """One URL (with its headers), fetched once for every source that reads it."""

    url: str
    headers: tuple[tuple[str, str], ...]
    sources: list[StatusSource]
    every: float
    etag: str | None = None
    last_modified: str | None = None
    next_at: float = 0.0
    #: The conditional headers of the last few requests (tests, debugging).
    requests: deque[dict[str, str]] = attrs.field(factory=lambda: deque(maxlen=16))

    @property
    def key(self) -> str:
        """Its name in the shared state (a digest: an account source's URL is its own)."""
        return "status-feed:" + hashlib.sha256(self.url.encode()).hexdigest()[:24]


@attrs.define
class StatusPoller:
    """Polls every wanted source and advises the breakers of their failure domains."""

    engine: Engine
    sources: Sequence[StatusSource]
    settings: StatusSettings = attrs.field(factory=StatusSettings)
    readings: dict[StatusSource, Reading] = attrs.field(init=False, factory=dict)
    _feeds: dict[tuple[str, tuple[tuple[str, str], ...]], _Feed] = attrs.field(
        init=False, factory=dict
    )
    _changed: set[str] = attrs.field(init=False, factory=set)  # domains whose reading moved
    _seen_since: dict[StatusSource, float] = attrs.field(init=False, factory=dict)

    def __attrs_post_init__(self) -> None:
        for source in (*self.sources, *self.settings.extra):
            if not self.settings.wanted(source):
                continue
            key = (source.url, source.headers)
            every = max(self.settings.min_interval, source.interval or self.settings.interval)
            feed = self._feeds.get(key)
            if feed is None:
                self._feeds[key] = _Feed(source.url, source.headers, [source], every)
            elif source not in feed.sources:
                feed.sources.append(source)
                feed.every = min(feed.every, every)

    @property
    def feeds(self) -> list[_Feed]:
        return list(self._feeds.values())

    def next_due(self) -> float | None:
        """When the next feed is due (None when there is nothing to poll)."""
        return min((f.next_at for f in self._feeds.values()), default=None)

    async def poll_due(self) -> int:
        """Fetch every feed that is due now; returns how many were fetched."""
        now = self.engine.clock.now()
        due = [
            feed for feed in self._feeds.values() if feed.next_at <= now and self._mine(feed, now)
        ]
        await asyncio.gather(*(self._poll(feed) for feed in due))
        self._advise(now)
        return len(due)

    def _mine(self, feed: _Feed, now: float) -> bool:
        """Whether this process fetches ``feed`` now: workers sharing an outbox (or a Redis)
        take turns, so N workers still cost a feed one request per interval."""
        shared = self.engine.shared
        key = feed.key
        taken = shared.not_before(key)
        if taken > now:
            feed.next_at = taken  # another worker fetched it; its advice is in the breaker
            return False
        shared.push_not_before(key, now + feed.every)
        return True

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until ``stop`` is set (started by the background lane's ``run``)."""
        clock = self.engine.clock
        while not stop.is_set() and self._feeds:
            try:
                await self.poll_due()
            except Exception as exc:  # a bug here must never stop deliveries
                _log.exception("unipost status poller failed; it tries again later")
                self.engine.emit("status.error", source="*", error=repr(exc))
            due = self.next_due()
            wake = due if due is not None else clock.now() + self.settings.min_interval
            await nap(clock, max(1.0, wake - clock.now()), stop)

    # -- one feed ---------------------------------------------------------------------------

    def _request(self, feed: _Feed) -> httpx.Request:
        headers = {"Accept": "application/json, */*;q=0.5", **dict(feed.headers)}
        if feed.etag:
            headers["If-None-Match"] = feed.etag
        if feed.last_modified:
            headers["If-Modified-Since"] = feed.last_modified
        request = httpx.Request("GET", feed.url, headers=headers)
        timeout = self.settings.timeout
        request.extensions["timeout"] = httpx.Timeout(timeout).as_dict()
        feed.requests.append(
            {
                k: v
                for k, v in headers.items()
                if k.lower() in ("if-none-match", "if-modified-since")
            }
        )
        return request

    async def _fetch(self, feed: _Feed) -> tuple[int, httpx.Headers, bytes]:
        client = self.engine.http.client("unipost-status-feeds")
        async with self.engine.clock.timeout(self.settings.timeout):
            response = await client.send(self._request(feed), stream=True)
            try:
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > self.settings.max_bytes:
                    raise StatusFeedError(f"answer of {declared} bytes is over the limit")
                body = bytearray()
                async for chunk in response.aiter_bytes():  # decoded: a zip bomb stops here too
                    body += chunk
                    if len(body) > self.settings.max_bytes:
                        raise StatusFeedError(
                            f"answer is over the limit of {self.settings.max_bytes} bytes"
                        )
            finally:
                await response.aclose()
            return response.status_code, response.headers, bytes(body)

    async def _poll(self, feed: _Feed) -> None:
        now = self.engine.clock.now()
        wait = feed.every
        try:
            status, headers, body = await self._fetch(feed)
        except (httpx.HTTPError, TimeoutError, StatusFeedError) as exc:
            feed.next_at = now + wait
            error = str(exc) or type(exc).__name__
            for source in feed.sources:
                if source.format in UNREACHABLE_IS_DOWN and not isinstance(exc, StatusFeedError):
                    summary = f"a major outage (no answer from the server: {error})"
                    self._take(source, Reading(severity=Severity.MAJOR, summary=summary), now)
                else:
                    self.engine.emit("status.error", source=source.name, error=error)
            return
        wait = max(wait, _max_age(headers) or 0.0, parse_retry_after(headers, now=now) or 0.0)
        feed.next_at = now + wait
        if wait > feed.every:  # the feed asked for longer: every worker waits as long
            self.engine.shared.push_not_before(feed.key, feed.next_at)
        if status == 304:
            return  # nothing changed since the last answer, whose reading stands
        if 200 <= status < 300:
            feed.etag = headers.get("etag") or None
            feed.last_modified = headers.get("last-modified") or None
        for source in feed.sources:
            try:
                reading = parse_feed(source, status, body)
            except StatusFeedError as exc:
                self.engine.emit("status.error", source=source.name, error=str(exc))
                continue
            self._take(source, reading, now)

    def _take(self, source: StatusSource, reading: Reading, now: float) -> None:
        before = self.readings.get(source)
        self.readings[source] = reading
        if reading.severity is Severity.OK:
            self._seen_since.pop(source, None)
        elif before is None or before.severity is not reading.severity:
            self._seen_since[source] = reading.since or now
        if before == reading:
            return
        if source.scope == "domain":
            self._changed.add(source.domain)
        note = reading.note(source.label)
        fields = {"source": source.name, "severity": reading.severity.value, "note": note}
        if source.scope == "account":
            self.engine.emit("status.account", channel=source.channel, **fields)
        else:
            self.engine.emit("status.reading", domain=source.domain, **fields)

    # -- the domains ------------------------------------------------------------------------

    def _advise(self, now: float) -> None:
        """Write each changed domain's worst reading into its breaker, if it says otherwise.

        Only domains whose reading moved are looked at: a breaker an operator
        reset stays reset until the feed says something new.
        """
        changed, self._changed = self._changed, set()
        for domain in sorted(changed):
            sources = [s for s in self.readings if s.scope == "domain" and s.domain == domain]
            worst = max(sources, key=lambda s: self.readings[s].severity.rank)
            reading = self.readings[worst]
            note = reading.note(worst.label) if reading.severity is not Severity.OK else ""
            breaker = self.engine.breakers[domain]
            data = breaker.data
            if (data.advisory or "ok", data.advisory_note) == (reading.severity.value, note):
                continue  # already so (another worker wrote it, or nothing changed)
            since = self._seen_since.get(worst, now) if note else 0.0
            breaker.advise(reading.severity, now, since=since, note=note)
            self.engine.emit(
                "status.advisory",
                domain=domain,
                severity=reading.severity.value,
                note=note,
                since=since or None,
            )


def refusal(record: Record, domain: str, breaker: Breaker, now: float) -> lifecycle.Transition:
    """A delivery the breaker refused; held open on a feed's word, it says so in its words.

    The words are also kept in ``extra["advisory"]``, so the report still
    names the outage once a ``first_of`` fallback has superseded the record.
    """
    transition = lifecycle.breaker_open(domain, breaker.retry_at(now))
    data = breaker.data
    if not data.advised_open:
        return transition
    extra = {**record.extra, "advisory": data.advice()}
    return attrs.evolve(transition, last_error=data.advice(), changes={"extra": extra})


def _max_age(headers: httpx.Headers) -> float | None:
    """``Cache-Control: max-age`` (``s-maxage`` is for shared caches, not us)."""
    for part in headers.get("cache-control", "").split(","):
        name, _, value = part.strip().partition("=")
        if name.lower() == "max-age" and value.strip('"').isdigit():
            return float(value.strip('"'))
    return None


def collect(sources: Iterable[StatusSource]) -> tuple[StatusSource, ...]:
    """Sources without duplicates, in a stable order (many channels share one feed)."""
    return tuple(dict.fromkeys(sources))


_SETTING_KEYS = {"enabled", "interval", "min_interval", "timeout", "max_bytes", "off", "sources"}
_SOURCE_KEYS = {"domain", "url", "format", "label", "components", "interval"}


def parse_status(raw: object) -> StatusSettings:
    """``[status]`` of ``unipost.toml`` (every mistake names its key and the fix)."""
    if not isinstance(raw, Mapping):
        raise ConfigurationError("status", "must be a table", "write [status] interval = 300")
    for key in raw:
        if key not in _SETTING_KEYS:
            known = ", ".join(sorted(_SETTING_KEYS))
            raise ConfigurationError(f"status.{key}", "unknown key", f"use one of: {known}")
    values: dict[str, Any] = {k: v for k, v in raw.items() if k != "sources"}
    if "enabled" in values and not isinstance(values["enabled"], bool):
        raise ConfigurationError("status.enabled", "must be true or false", "enabled = false")
    for key in ("interval", "min_interval", "timeout", "max_bytes"):
        value = values.get(key, 1)
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise ConfigurationError(
                f"status.{key}", f"must be a number above 0, not {value!r}", f"{key} = 300"
            )
    off = values.get("off", [])
    if not isinstance(off, list) or not all(isinstance(v, str) for v in off):
        raise ConfigurationError(
            "status.off", "must be a list of names", 'off = ["Reddit", "mastodon.social"]'
        )
    sources = raw.get("sources", [])
    if not isinstance(sources, list):
        raise ConfigurationError("status.sources", "must be a list", "write [[status.sources]]")
    extra = [_source(f"status.sources[{i}]", item) for i, item in enumerate(sources)]
    return StatusSettings(**values, extra=extra)


def _source(where: str, item: object) -> StatusSource:
    if not isinstance(item, Mapping):
        raise ConfigurationError(where, "must be a table", "write [[status.sources]] url = ...")
    for key in ("domain", "url", "format", "label"):
        if not isinstance(item.get(key), str) or not item[key]:
            raise ConfigurationError(
                f"{where}.{key}", "missing", f'add {key} = "..." (see docs/outage-awareness.md)'
            )
    unknown = set(item) - _SOURCE_KEYS
    if unknown:
        known = ", ".join(sorted(_SOURCE_KEYS))
        raise ConfigurationError(f"{where}.{sorted(unknown)[0]}", "unknown key", f"use: {known}")
    if not str(item["url"]).startswith(("https://", "http://")):
        raise ConfigurationError(f"{where}.url", "is not an http(s) URL", "url = https://...")
    try:
        return StatusSource(**item)
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(where, str(exc), "see docs/outage-awareness.md") from exc
