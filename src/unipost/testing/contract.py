"""``ChannelContract``: the conformance tests every channel plugin subclasses.

Subclass it in your plugin's tests, fill in the class attributes and the
``arrange_*`` methods, and pytest runs the inherited tests::

    from unipost.testing import ChannelContract

    class TestMastodonContract(ChannelContract):
        channel_class = MastodonChannel
        settings = {"instance": "https://social.example", "token": "secret-token-123"}
        secrets = ("secret-token-123",)

        def arrange_success(self, httpx_mock):
            httpx_mock.add_response(url=..., json={"id": "1", "url": "https://..."})

        def arrange_failure(self, httpx_mock, status, headers, body):
            httpx_mock.add_response(url=..., status_code=status, headers=headers, json=body)

Every test's docstring says what to fix when it fails. Channels whose I/O is
not HTTP (files, SMTP) set ``http = False`` and implement ``arrange_success``
against their own local environment (a temporary directory, a local server);
the HTTP status tests then do not apply to them and are not collected.
"""

from __future__ import annotations

import asyncio
import io
import logging
import re
from collections.abc import Mapping
from typing import Any, ClassVar

import attrs
import pytest

from unipost import errors
from unipost.channel import Capabilities, Channel, Idempotency, Overflow
from unipost.dispatcher import Dispatcher
from unipost.models import Media, Post
from unipost.outbox import MemoryStore
from unipost.plugins import PluginHost
from unipost.redact import redact
from unipost.report import Report
from unipost.testing._drive import deliver
from unipost.testing.clock import VirtualClock
from unipost.testing.fake import png

__all__ = ["ChannelContract"]

_FAILURES: tuple[tuple[int, dict[str, str], type[errors.DeliveryError]], ...] = (
    (429, {"Retry-After": "7"}, errors.RateLimited),
    (503, {}, errors.Transient),
    (401, {}, errors.AuthFailed),
    (400, {}, errors.Permanent),
)


_KEY = "up1-contractkey00000000000000000000"


_OTHER_KEY = "up1-anotherkey0000000000000000000"


def _tokens(requests: list[Any]) -> set[bytes]:
    """Every run of 8+ id-like characters in the requests (URL, headers, body)."""
    found: set[bytes] = set()
    for request in requests:
        wire = f"{request.url} {dict(request.headers)}".encode() + bytes(request.content)
        found.update(re.findall(rb"[A-Za-z0-9_-]{8,}", wire))
    return found


async def _apublish_and_close(dispatcher: Dispatcher, post: Post, channel_id: str) -> Report:
    async with dispatcher:
        return await dispatcher.apublish(post, to=channel_id)


class ChannelContract:
    """Inherit from this in a ``Test...`` class; see the module docstring."""

    channel_class: ClassVar[type[Channel]]
    settings: ClassVar[Mapping[str, Any]] = {}
    secrets: ClassVar[tuple[str, ...]] = ()
    sample_post: ClassVar[Post] = Post(
        text="We're open today 9-5! 20% off all pastries.", id="contract-1"
    )
    http: ClassVar[bool] = True
    #: the error JSON body a platform sends with a failure status (None: no body)
    error_body: ClassVar[Any] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.__dict__.get("http", cls.http):
            for name in (
                "test_status_maps_to_class",
                "test_timeout_after_send_is_not_a_success",
                "test_dispatcher_retries_a_503",
                "test_errors_carry_no_secret",
                "test_create_carries_the_delivery_key",
            ):
                setattr(cls, name, None)  # HTTP-only tests do not apply to file/SMTP channels

    # -- to implement --------------------------------------------------------

    def make_channel(self) -> Channel:
        """The channel under test; override to point it at a temporary resource."""
        return self.channel_class.from_settings(self.channel_class.name, self.settings)

    def arrange_success(self, httpx_mock: Any) -> None:
        """Register the responses for one successful publish of ``sample_post``."""
        raise NotImplementedError("implement arrange_success() to register a successful publish")

    def arrange_failure(
        self, httpx_mock: Any, status: int, headers: dict[str, str], body: Any
    ) -> None:
        """Make the *first* request of a publish answer ``status``; default: any URL."""
        if body is None:
            httpx_mock.add_response(status_code=status, headers=headers)
        else:
            httpx_mock.add_response(status_code=status, headers=headers, json=body)

    def arrange_timeout(self, httpx_mock: Any) -> None:
        """Make the create request time out after it was sent; default: every request."""
        import httpx

        httpx_mock.add_exception(httpx.ReadTimeout("timed out"))

    # -- the contract ----------------------------------------------------------

    def test_registers_through_entry_point(self) -> None:
        """The channel type must be found by the plugin host (entry point group ``unipost``)."""
        host = PluginHost()
        types = host.channel_types()
        problems = [p.error for p in host.plugins() if p.error]
        assert types.get(self.channel_class.name) is self.channel_class, (
            f"{self.channel_class.name!r} not registered; check [project.entry-points.unipost] "
            f"and unipost_register_channels. Plugin problems: {problems}"
        )

    def test_capabilities_are_valid(self) -> None:
        """``capabilities`` (read on the instance, as the dispatcher does) must be a
        Capabilities; the type name is lowercase letters, digits and dashes; the failure
        domain is a non-empty string."""
        channel = self.make_channel()
        caps = channel.capabilities
        assert isinstance(caps, Capabilities), "declare capabilities = Capabilities(...)"
        name = self.channel_class.name
        assert name == name.lower(), f"name {name!r}: lowercase, e.g. 'mastodon'"
        assert name.replace("-", "").replace("_", "").isalnum(), (
            f"name {name!r}: letters, digits, -"
        )
        assert channel.failure_domain, "failure_domain must be a non-empty string"

    def test_secrets_stay_out_of_repr_and_errors(self) -> None:
        """Secret settings must be ``unipost.secret()`` fields: never in repr or messages."""
        channel = self.make_channel()
        shown = repr(channel) + str(attrs.asdict(channel, filter=lambda a, _v: a.repr is not False))
        for value in self.secrets:
            assert value not in shown, "declare secret settings with unipost.secret()"
            assert value not in redact(f"error echoing {value}"), "secrets must be registered"

    def test_overlong_text_is_adapted_or_rejected(self) -> None:
        """Text over the limit must be adapted (truncated/split, with a Change) or rejected."""
        channel = self.make_channel()
        caps = channel.capabilities
        if caps.text_limit is None:
            prepared = channel.prepare(attrs.evolve(self.sample_post, text="word " * 2000))
            assert prepared.parts, "prepare() must return the text"
            return
        long_post = attrs.evolve(self.sample_post, text="word " * (caps.text_limit + 50))
        if caps.overflow is Overflow.REJECT:
            with pytest.raises(errors.ContentRejected):
                channel.prepare(long_post)
            return
        prepared = channel.prepare(long_post)
        assert prepared.changes, "prepare() must record what it changed (a Change)"
        from unipost import text

        for part in prepared.parts:
            measured = text.count(part, caps.text_unit, url_length=caps.url_length)
            assert measured <= caps.text_limit, f"part is {measured} > {caps.text_limit}"
        if caps.overflow is Overflow.SPLIT:
            assert len(prepared.parts) > 1

    def test_success_returns_a_receipt(self, httpx_mock: Any) -> None:
        """A successful publish returns a Receipt with the platform id and a URL."""
        self.arrange_success(httpx_mock)
        receipt = deliver(self.make_channel(), self.sample_post)
        assert receipt.platform_id, "Receipt.platform_id must be set from the platform's answer"
        assert receipt.url, "Receipt.url should say where the post can be seen"

    @pytest.mark.parametrize(("status", "headers", "expected"), _FAILURES)
    def test_status_maps_to_class(
        self,
        httpx_mock: Any,
        status: int,
        headers: dict[str, str],
        expected: type[errors.DeliveryError],
    ) -> None:
        """429 → RateLimited (with retry_after), 503 → Transient, 401 → AuthFailed, 400 → Permanent."""
        self.arrange_failure(httpx_mock, status, headers, self.error_body)
        with pytest.raises(errors.DeliveryError) as caught:
            deliver(self.make_channel(), self.sample_post)
        assert isinstance(caught.value, expected), (
            f"HTTP {status} gave {type(caught.value).__name__}"
        )
        if status == 429:
            assert caught.value.retry_after == pytest.approx(7.0)

    def test_timeout_after_send_is_not_a_success(self, httpx_mock: Any) -> None:
        """A timeout after the create was sent must be Ambiguous (or Transient for safe reads)."""
        self.arrange_timeout(httpx_mock)
        with pytest.raises((errors.Ambiguous, errors.Transient, errors.NotSent)):
            deliver(self.make_channel(), self.sample_post)

    def test_errors_carry_no_secret(self, httpx_mock: Any) -> None:
        """A classified error (its message and its ``detail``) must not carry a secret."""
        self.arrange_failure(httpx_mock, 400, {}, self.error_body)
        with pytest.raises(errors.DeliveryError) as caught:
            deliver(self.make_channel(), self.sample_post)
        shown = f"{caught.value} {caught.value.detail!r} {caught.value.platform_code}"
        for value in self.secrets:
            assert value not in shown, "never put a token into an error's message or detail"

    def test_create_carries_the_delivery_key(self, httpx_mock: Any) -> None:
        """A channel declaring KEY or CLIENT_ID idempotency must send ``ctx.delivery_key`` (or
        an id derived from it) with the create, the same on every attempt: otherwise a retry
        after a lost answer posts twice."""
        ways = self.make_channel().capabilities.idempotency
        if Idempotency.KEY not in ways and Idempotency.CLIENT_ID not in ways:
            return  # nothing promised: reconciliation (LOOKUP) or a person settles doubts
        seen = []
        for key in (_KEY, _KEY, _OTHER_KEY):
            before = len(httpx_mock.get_requests())
            self.arrange_success(httpx_mock)
            deliver(self.make_channel(), self.sample_post, delivery_key=key)
            seen.append(_tokens(httpx_mock.get_requests()[before:]))
        first, again, other = seen
        assert (first & again) - other, (
            "nothing in the requests depends on the delivery key: send it as the idempotency "
            "key (or derive the platform's client id from it), the same on every attempt"
        )

    def test_bad_media_is_refused_before_sending(self, httpx_mock: Any) -> None:
        """Media the channel cannot take is refused by ``prepare`` (ContentRejected), before
        any request: never sent and then rejected by the platform, half-published."""
        channel = self.make_channel()
        caps = channel.capabilities
        image = Media.from_bytes(png(), filename="one-too-many.png", alt="a test image")
        post = attrs.evolve(self.sample_post, media=(image,) * (caps.max_media + 1))
        with pytest.raises(errors.ContentRejected):
            deliver(channel, post)
        assert httpx_mock.get_requests() == [], "a request left before the post was validated"

    def test_no_secret_in_logs(self, httpx_mock: Any, caplog: pytest.LogCaptureFixture) -> None:
        """Nothing the channel logs may contain a secret."""
        caplog.set_level(logging.DEBUG)
        self.arrange_success(httpx_mock)
        receipt = deliver(self.make_channel(), self.sample_post)
        captured = io.StringIO()
        captured.write(caplog.text)
        captured.write(repr(receipt))
        for value in self.secrets:
            assert value not in captured.getvalue()

    def _dispatcher(self) -> Dispatcher:
        channel = self.make_channel()
        return Dispatcher(
            channels={channel.id: channel}, store=MemoryStore(), clock=VirtualClock(), seed=1
        )

    def test_dispatcher_publishes_sync_and_async_alike(self, httpx_mock: Any) -> None:
        """``publish`` and ``await apublish`` must drive the channel to the same outcome."""
        reports = []
        for mode in ("sync", "async"):
            dispatcher = (
                self._dispatcher()
            )  # a fresh channel each time, as two processes would have
            channel_id = next(iter(dispatcher.channels))
            post = attrs.evolve(self.sample_post, id=f"contract-{mode}")
            try:
                self.arrange_success(httpx_mock)
                if mode == "sync":
                    reports.append(dispatcher.publish(post, to=channel_id))
                else:
                    reports.append(asyncio.run(_apublish_and_close(dispatcher, post, channel_id)))
            finally:
                dispatcher.close()
        sync_report, async_report = reports
        assert sync_report.ok, str(sync_report)
        assert async_report.ok, str(async_report)
        assert sync_report[channel_id].state is async_report[channel_id].state
        assert bool(sync_report[channel_id].platform_id)
        assert bool(async_report[channel_id].platform_id)

    def test_dispatcher_retries_a_503(self, httpx_mock: Any) -> None:
        """A 503 on the first request is retried (on virtual time) and the post is delivered once."""
        dispatcher = self._dispatcher()
        channel_id = next(iter(dispatcher.channels))
        try:
            self.arrange_failure(httpx_mock, 503, {}, self.error_body)
            self.arrange_success(httpx_mock)
            report = dispatcher.publish(self.sample_post, to=channel_id)
        finally:
            dispatcher.close()
        outcome = report[channel_id]
        assert outcome.ok, str(report)
        assert len(outcome.attempts) == 2
        assert outcome.attempts[0].error_class == "transient"
