"""What a flow sees of the attempt in progress: its context, and the steps it may yield.

A flow yields ``httpx.Request`` objects (or :class:`Pause`) and receives
responses, in the manner of ``httpx.Auth.auth_flow``; :meth:`Context.run`
drives it through the core's step (:mod:`unipost.flow`) and throws each
classified error back in.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator
from typing import TypeAlias, TypeVar

import attrs
import httpx

from unipost.classify import SAFE_METHODS
from unipost.errors import Ambiguous, DeliveryError, Permanent, UsageError

__all__ = ["Context", "Flow", "KeyIgnored", "Pause", "is_safe", "plugin_fault"]

T = TypeVar("T")


@attrs.frozen
class Pause:
    """Yielded by a flow to wait, then send ``then``, without blocking other deliveries.

    ``response = yield Pause(5.0, then=status_request)``: the answer is the
    response to ``then``, like any other step (container and media polling).
    """

    seconds: float
    then: httpx.Request


Flow: TypeAlias = Generator[httpx.Request | Pause, httpx.Response, T]


class KeyIgnored(Exception):
    """Raised by :meth:`Context.key_ignored` to stop a resend the key would not protect."""


def _nobody(reason: str) -> None:
    return None


@attrs.define(kw_only=True)
class Context:
    """What the core tells a channel about the attempt in progress.

    ``now()`` is wall-clock time in epoch seconds on the dispatcher's clock
    (virtual in tests): a plugin dates everything with it, never with
    ``time.time()``. ``first_attempt_at`` is when this record was first tried,
    so a lookup accepts only objects created since then. ``send`` is the
    core's step (refuse insecure credentials → send → observe rate limits →
    classify); it raises the classified error.
    """

    delivery_key: str
    attempt: int
    post_id: str
    now: Callable[[], float]
    deadline: float
    send: Callable[[httpx.Request], Awaitable[httpx.Response]] = attrs.field(repr=False)
    sleep: Callable[[float], Awaitable[None]] = attrs.field(repr=False)
    first_attempt_at: float = 0.0
    #: Set once a request that may create something has been handed to the network
    #: (anything but GET/HEAD/OPTIONS or a request marked ``unipost.safe``), or by
    #: :meth:`applying` for channels whose I/O is not HTTP.
    may_have_applied: bool = False
    #: This attempt resends a create that may already have been applied, trusting the
    #: idempotency key to make the resend harmless.
    resend_trusts_key: bool = False
    on_key_ignored: Callable[[str], None] = attrs.field(default=_nobody, repr=False)

    def remaining(self) -> float:
        """Seconds left before this attempt must give up."""
        return max(0.0, self.deadline - self.now())

    def applying(self) -> None:
        """Say that the next step may publish (SMTP DATA, a file write): a cut after it is ambiguous."""
        self.may_have_applied = True

    def key_ignored(self, reason: str) -> None:
        """Say that this server does not honour the idempotency key (its software ignores it).

        From then on the engine settles this channel's maybe-applied creates by
        lookup; an attempt about to resend on the key's promise stops here,
        before anything is sent, and the record is reconciled instead.
        """
        self.on_key_ignored(reason)
        if self.resend_trusts_key:
            raise KeyIgnored(reason)

    async def request(self, request: httpx.Request) -> httpx.Response:
        """Send one request through the core's step, noting whether it may create.

        A request that may create counts as applied from the moment it is
        handed over, unless the transport reports (httpcore's ``trace``) that
        it is still connecting: a cut then leaves nothing on the server.
        """
        if is_safe(request):
            return await self.send(request)
        earlier, self.may_have_applied = self.may_have_applied, True
        inner = request.extensions.get("trace")

        async def trace(name: str, info: dict[str, object]) -> None:
            if name.startswith(("connection.connect_", "connection.start_tls.")):
                self.may_have_applied = earlier  # connecting: not a byte of it has left
            elif name.endswith(".send_request_headers.started"):
                self.may_have_applied = True
            if inner is not None:
                await inner(name, info)

        request.extensions["trace"] = trace
        return await self.send(request)

    async def run(self, flow: Flow[T]) -> T:
        """Drive a request/response generator to its return value.

        A classified error is thrown into the flow, so a flow can handle one
        (refresh an expired session, then try again) or let it propagate. Any
        other exception is a plugin fault: it becomes a typed error, ambiguous
        when a create may already have been applied (an off-spec 2xx body),
        permanent otherwise, so nothing reaches the caller as a traceback.
        """
        try:
            item = next(flow)
            while True:
                try:
                    if isinstance(item, Pause):
                        await self.sleep(min(item.seconds, self.remaining()))
                        item = item.then
                    reply = await self.request(item)
                except DeliveryError as error:
                    item = flow.throw(error)
                    continue
                item = flow.send(reply)
        except StopIteration as stop:
            result: T = stop.value
            return result
        except (DeliveryError, UsageError, KeyIgnored):
            raise
        except Exception as exc:
            raise plugin_fault(exc, applied=self.may_have_applied) from exc
        finally:
            flow.close()


def is_safe(request: httpx.Request) -> bool:
    """A read (or a request the plugin marked ``unipost.safe``) cannot publish anything."""
    return request.method in SAFE_METHODS or bool(request.extensions.get("unipost.safe"))


def plugin_fault(exc: Exception, *, applied: bool) -> DeliveryError:
    """An unexpected exception inside a flow, as the error class it means for the record."""
    text = f"{type(exc).__name__}: {exc}"
    if applied:
        return Ambiguous(
            f"the answer could not be read ({text}); the request may have been applied"
        )
    return Permanent(f"the channel failed before sending ({text})")
