"""A scriptable fake channel and an event recorder, for tests of code that publishes."""

from __future__ import annotations

import itertools
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
from unipost.errors import DeliveryError
from unipost.events import Event

__all__ = ["EventRecorder", "FakeChannel", "FakeServer", "fake_channel"]

Step = DeliveryError | Receipt | Callable[[Prepared, Context], Any] | None


@attrs.define
class FakeServer:
    """What a fake platform saw: every attempt, and the posts it actually created.

    ``script`` is consumed one step per attempt: an exception instance is
    raised, a Receipt is returned, ``None`` means "succeed normally". An
    exception whose ``may_have_applied`` is true still creates the post, as a
    real server that timed out after committing would.
    """

    script: list[Step] = attrs.field(factory=list)
    attempts: list[tuple[str, str]] = attrs.field(factory=list)  # (channel, delivery key)
    posts: dict[str, str] = attrs.field(factory=dict)  # delivery key -> platform id
    lookups: int = 0
    _ids: itertools.count[int] = attrs.field(factory=lambda: itertools.count(1))

    def created(self, key: str) -> str:
        if key not in self.posts:
            self.posts[key] = f"p{next(self._ids)}"
        return self.posts[key]


@attrs.frozen(kw_only=True)
class FakeChannel(Channel):
    """A channel that talks to a :class:`FakeServer` instead of the network."""

    name: ClassVar[str] = "fake"
    capabilities: ClassVar[Capabilities] = Capabilities(text_limit=500)
    server: FakeServer = attrs.field(factory=FakeServer, eq=False)
    domain: str = "fake"
    token: str | None = attrs.field(default=None, repr=False, metadata={"unipost.secret": True})

    @property
    def failure_domain(self) -> str:
        return self.domain

    async def deliver(self, prepared: Prepared, ctx: Context) -> Receipt:
        server = self.server
        server.attempts.append((self.id, ctx.delivery_key))
        step = server.script.pop(0) if server.script else None
        if callable(step) and not isinstance(step, DeliveryError | Receipt):
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
            server.posts[f"{ctx.delivery_key}#{len(server.posts)}"] = "dup"
        platform_id = server.created(ctx.delivery_key)
        return Receipt(platform_id=platform_id, url=f"https://fake.example/{self.id}/{platform_id}")

    async def lookup(self, prepared: Prepared, ctx: Context) -> LookupResult:
        self.server.lookups += 1
        platform_id = self.server.posts.get(ctx.delivery_key)
        if platform_id is None:
            return Absent()
        return Found(
            Receipt(platform_id=platform_id, url=f"https://fake.example/{self.id}/{platform_id}")
        )


def fake_channel(
    channel_id: str, *, capabilities: Capabilities | None = None, **kwargs: Any
) -> FakeChannel:
    """A FakeChannel with its own capabilities (idempotency is read from them)."""
    if capabilities is None:
        return FakeChannel(id=channel_id, **kwargs)
    subclass = type(
        f"Fake_{channel_id}", (FakeChannel,), {"capabilities": capabilities, "__slots__": ()}
    )
    return subclass(id=channel_id, **kwargs)  # type: ignore[no-any-return]


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
