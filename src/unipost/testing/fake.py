"""A scriptable fake channel and an event recorder, for tests of code that publishes."""

from __future__ import annotations

import itertools
import struct
import zlib
from collections.abc import Callable
from typing import Any, ClassVar

import attrs

from unipost.channel import (
    Absent,
    Capabilities,
    Channel,
    Context,
    Found,
    Idempotency,
    LookupResult,
    Prepared,
    Receipt,
)
from unipost.errors import Ambiguous, DeliveryError, NotSent
from unipost.events import Event
from unipost.models import Post

__all__ = [
    "EventRecorder",
    "FakeChannel",
    "FakeServer",
    "connect_timeout",
    "fails",
    "fake_channel",
    "hang",
    "lands_later",
]

Step = DeliveryError | Receipt | Callable[[Prepared, Context], Any] | None


@attrs.define
class FakeServer:
    """What a fake platform saw: every attempt, and the posts it actually created.

    ``script`` is consumed one step per attempt: an exception instance is
    raised, a Receipt is returned, ``None`` means "succeed normally". An
    exception whose ``may_have_applied`` is true still creates the post, as a
    real server that timed out after committing would (wrap it in
    :func:`fails` when it did not). ``default`` is the step once the script
    is used up; ``health`` scripts the health check of a channel made with
    ``fake_channel(..., health_check=True)``. Times are the channel's clock.
    """

    script: list[Step] = attrs.field(factory=list)
    attempts: list[tuple[str, str]] = attrs.field(factory=list)  # (channel, delivery key)
    posts: dict[str, str] = attrs.field(factory=dict)  # delivery key -> platform id
    lookups: int = 0
    default: Step = None
    health: list[Step] = attrs.field(factory=list)
    sent_at: list[float] = attrs.field(factory=list)  # when each attempt reached the server
    lookups_at: list[float] = attrs.field(factory=list)
    checks_at: list[float] = attrs.field(factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    deleted: list[str] = attrs.field(factory=list)  # platform ids removed through the channel
    landing: list[tuple[float, str]] = attrs.field(factory=list)  # (when, key): late creates
    _ids: itertools.count[int] = attrs.field(factory=lambda: itertools.count(1))

    def created(self, key: str) -> str:
        if key not in self.posts:
            self.posts[key] = f"p{next(self._ids)}"
        return self.posts[key]

    def duplicate(self, key: str) -> str:
        """A second post for ``key`` (a platform that created it again)."""
        platform_id = f"p{next(self._ids)}"
        self.posts[f"{key}#{len(self.posts)}"] = platform_id
        return platform_id

    def land(self, now: float) -> None:
        """Creates that hung are applied once their time comes (see :func:`lands_later`)."""
        for when, key in [item for item in self.landing if item[0] <= now]:
            self.landing.remove((when, key))
            if key in self.posts:
                self.duplicate(key)
            else:
                self.created(key)

    def copies(self, key: str) -> list[str]:
        """The platform ids of every post for one delivery key, the first created first."""
        return [v for k, v in self.posts.items() if k == key or k.startswith(key + "#")]

    def creates(self, key: str) -> int:
        """How many posts exist for one delivery key (more than 1 is a duplicate)."""
        return sum(1 for k in self.posts if k == key or k.startswith(key + "#"))

    def requests_at(self) -> list[float]:
        """Every request the platform saw (sends, lookups, checks), in time order."""
        return sorted([*self.sent_at, *self.lookups_at, *self.checks_at])


def fails(error: DeliveryError) -> Step:
    """A step that raises ``error`` with nothing created, whatever its class says."""

    async def step(_prepared: Prepared, _ctx: Context) -> Any:
        raise error

    return step


def hang(seconds: float, then: Step = None) -> Step:
    """A step that takes ``seconds`` of the clock (cut short by the attempt's timeout)."""

    async def step(_prepared: Prepared, ctx: Context) -> Any:
        await ctx.sleep(seconds)
        return then

    return step


def lands_later(server: FakeServer, seconds: float) -> Step:
    """A create left unanswered that ``server`` applies ``seconds`` later, behind the caller's back."""

    async def step(_prepared: Prepared, ctx: Context) -> Any:
        server.landing.append((ctx.now() + seconds, ctx.delivery_key))
        raise Ambiguous("no answer (the request may have been applied)")

    return step


def connect_timeout(limit: float = 5.0) -> Step:
    """A connect that hangs: ``NotSent`` after the connect timeout (clipped to the deadline)."""

    async def step(_prepared: Prepared, ctx: Context) -> Any:
        await ctx.sleep(min(limit, ctx.remaining()))
        raise NotSent("ConnectTimeout: could not connect to fake.example")

    return step


@attrs.frozen(kw_only=True)
class FakeChannel(Channel):
    """A channel that talks to a :class:`FakeServer` instead of the network."""

    name: ClassVar[str] = "fake"
    capabilities: ClassVar[Capabilities] = Capabilities(text_limit=500)
    server: FakeServer = attrs.field(factory=FakeServer, eq=False)
    domain: str = "fake"
    token: str | None = attrs.field(default=None, repr=False, metadata={"unipost.secret": True})
    credential: str | None = None  # channels sharing one account (one rate limit) name it alike

    @property
    def failure_domain(self) -> str:
        return self.domain

    @property
    def credential_key(self) -> str:
        return self.credential or self.id

    async def deliver(self, prepared: Prepared, ctx: Context) -> Receipt:
        server = self.server
        server.land(ctx.now())
        server.attempts.append((self.id, ctx.delivery_key))
        server.sent_at.append(ctx.now())
        server.in_flight += 1
        server.max_in_flight = max(server.max_in_flight, server.in_flight)
        try:
            return await self._respond(prepared, ctx)
        finally:
            server.in_flight -= 1

    async def _respond(self, prepared: Prepared, ctx: Context) -> Receipt:
        server = self.server
        step = server.script.pop(0) if server.script else server.default
        while callable(step) and not isinstance(step, DeliveryError | Receipt):
            step = await step(prepared, ctx)
        if isinstance(step, DeliveryError):
            if step.may_have_applied and step.error_class.value != "duplicate_signal":
                server.created(ctx.delivery_key)
            raise step
        if isinstance(step, Receipt):
            return step
        keyed = self.capabilities.idempotency & (Idempotency.KEY | Idempotency.CLIENT_ID)
        if not keyed and ctx.delivery_key in server.posts:
            # A platform without idempotency creates a second post.
            return self._receipt(server.duplicate(ctx.delivery_key))
        return self._receipt(server.created(ctx.delivery_key))

    def _receipt(self, platform_id: str) -> Receipt:
        return Receipt(platform_id=platform_id, url=f"https://fake.example/{self.id}/{platform_id}")

    async def lookup(self, prepared: Prepared, ctx: Context) -> LookupResult:
        server = self.server
        server.land(ctx.now())
        server.lookups += 1
        server.lookups_at.append(ctx.now())
        copies = server.copies(ctx.delivery_key)
        if not copies:
            return Absent()
        first, *others = copies
        return Found(self._receipt(first), duplicates=tuple(self._receipt(p) for p in others))

    async def delete(self, platform_id: str, ctx: Context) -> None:
        """Removes the post (declare ``deletes`` in the capabilities to have it offered)."""
        server = self.server
        server.deleted.append(platform_id)
        for key in [k for k, v in server.posts.items() if v == platform_id]:
            del server.posts[key]


class _HealthChecked(FakeChannel):
    """A FakeChannel with a safe health check, which probes a half-open breaker."""

    __slots__ = ()

    async def check(self, ctx: Context) -> str:
        server = self.server
        server.checks_at.append(ctx.now())
        step = server.health.pop(0) if server.health else None
        while callable(step) and not isinstance(step, DeliveryError | Receipt):
            step = await step(Prepared(channel=self.id, post=_CHECK_POST, parts=()), ctx)
        if isinstance(step, DeliveryError):
            raise step
        return "fake platform is up"


def fake_channel(
    channel_id: str,
    *,
    capabilities: Capabilities | None = None,
    health_check: bool = False,
    **kwargs: Any,
) -> FakeChannel:
    """A FakeChannel with its own capabilities (idempotency is read from them)."""
    if capabilities is None and not health_check:
        return FakeChannel(id=channel_id, **kwargs)
    base: type[FakeChannel] = _HealthChecked if health_check else FakeChannel
    namespace: dict[str, Any] = {"__slots__": ()}
    caps = capabilities if capabilities is not None else base.capabilities
    namespace["capabilities"] = attrs.evolve(caps, health_check=health_check)
    subclass = type(f"Fake_{channel_id}", (base,), namespace)
    return subclass(id=channel_id, **kwargs)  # type: ignore[no-any-return]


_CHECK_POST = Post(text="health check", id="health-check")


@attrs.define
class EventRecorder:
    """An observer that keeps every event: ``Dispatcher(observers=[recorder])``."""

    events: list[Event] = attrs.field(factory=list)

    def __call__(self, event: Event) -> None:
        self.events.append(event)

    def names(self) -> list[str]:
        return [e.name for e in self.events]

    def of(self, name: str) -> list[Event]:
        return [e for e in self.events if e.name == name]


def png(width: int = 2, height: int = 1) -> bytes:
    """A small valid RGB PNG of ``width`` × ``height``, so media tests need no fixture files."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = b"".join(b"\x00" + b"\xd2\x96\x3c" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )
