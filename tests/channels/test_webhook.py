"""The webhook channel: Standard Webhooks signatures checked by an independent verifier."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any, ClassVar

import httpx
import pytest
from pytest_httpx import HTTPXMock

from unipost import Media, Post, errors
from unipost.channels.webhook import WebhookChannel, sign
from unipost.redact import redact
from unipost.testing import ChannelContract, deliver

URL = "https://hooks.bakery.example/in/t0k3n-abcdef"
SECRET = "whsec_" + base64.b64encode(b"a signing key of thirty-two byte").decode()
KEY = "up1-webhookkey000000000000000000000"


def verify(secret: str, headers: httpx.Headers, body: bytes, *, tolerance: int = 300) -> Any:
    """A receiver, written from the Standard Webhooks spec and not from the channel's code."""
    key = base64.b64decode(secret[len("whsec_") :] if secret.startswith("whsec_") else secret)
    message_id = headers["webhook-id"]
    timestamp = headers["webhook-timestamp"]
    if abs(time.time() - int(timestamp)) > tolerance:
        raise ValueError("stale timestamp")
    to_sign = message_id.encode() + b"." + timestamp.encode() + b"." + body
    expected = base64.b64encode(hmac.new(key, to_sign, hashlib.sha256).digest())
    for candidate in headers["webhook-signature"].split(" "):
        version, _, signature = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(signature.encode(), expected):
            return json.loads(body)
    raise ValueError("no valid signature")


def channel(**settings: Any) -> WebhookChannel:
    return WebhookChannel.from_settings("hook", {"url": URL, "secret": SECRET, **settings})


class TestWebhookContract(ChannelContract):
    channel_class = WebhookChannel
    settings: ClassVar[Mapping[str, Any]] = {"url": URL, "secret": SECRET}
    secrets = (URL, SECRET)

    def arrange_success(self, httpx_mock: Any) -> None:
        httpx_mock.add_response(url=URL, method="POST", json={"id": "evt_1"})


def test_signature_matches_the_published_test_vector() -> None:
    key = base64.b64decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    signature = sign(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}')
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_request_is_signed_and_carries_the_post(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL, method="POST", status_code=204)
    post = Post(
        title="Croissant day",
        text="Fresh at 7",
        link="https://bakery.example/offer",
        tags=["pastries"],
        media=[Media.from_url("https://cdn.example/c.jpg", alt="Croissants")],
        id="p-42",
        metadata={"campaign": "winter"},
    )
    receipt = deliver(channel(), post, delivery_key=KEY)

    request = httpx_mock.get_request()
    assert request is not None
    assert request.headers["content-type"] == "application/json"
    assert request.headers["webhook-id"] == KEY
    payload = verify(SECRET, request.headers, request.content)
    assert payload["type"] == "post.published"
    data = payload["data"]
    assert data["post_id"] == "p-42"
    assert data["title"] == "Croissant day"
    assert data["text"] == "Fresh at 7\n\nhttps://bakery.example/offer"
    assert data["media"][0]["url"] == "https://cdn.example/c.jpg"
    assert data["metadata"] == {"campaign": "winter"}
    assert receipt.platform_id == KEY
    assert receipt.url == "https://hooks.bakery.example/"


def test_a_tampered_body_or_wrong_secret_fails_verification(httpx_mock: HTTPXMock) -> None:
    """Guards the verifier itself: it must be able to say no."""
    httpx_mock.add_response(url=URL, method="POST")
    deliver(channel(), Post(text="hello", id="p"), delivery_key=KEY)
    request = httpx_mock.get_request()
    assert request is not None
    with pytest.raises(ValueError, match="no valid signature"):
        verify(SECRET, request.headers, request.content.replace(b"hello", b"jello"))
    other = "whsec_" + base64.b64encode(b"another key entirely, 32 bytes!").decode()
    with pytest.raises(ValueError, match="no valid signature"):
        verify(other, request.headers, request.content)


def test_retries_keep_the_id_and_sign_again(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL, method="POST", status_code=502)
    httpx_mock.add_response(
        url=URL, method="POST", json={"id": 7, "url": "https://app.example/p/7"}
    )
    with pytest.raises(errors.Transient):
        deliver(channel(), Post(text="hello", id="p"), delivery_key=KEY)
    receipt = deliver(channel(), Post(text="hello", id="p"), delivery_key=KEY)
    first, second = httpx_mock.get_requests()
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == KEY
    verify(SECRET, second.headers, second.content)
    assert (receipt.platform_id, receipt.url) == ("7", "https://app.example/p/7")


def test_secret_without_prefix_is_accepted(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL, method="POST")
    deliver(channel(secret=SECRET.removeprefix("whsec_")), Post(text="hi", id="p"))
    request = httpx_mock.get_request()
    assert request is not None
    verify(SECRET, request.headers, request.content)


@pytest.mark.parametrize(
    ("status", "headers", "expected", "retry_after"),
    [
        (429, {"Retry-After": "30"}, errors.RateLimited, 30.0),
        (503, {"Retry-After": "120"}, errors.Transient, 120.0),
        (410, {}, errors.Permanent, None),
        (401, {}, errors.AuthFailed, None),
        (500, {}, errors.Transient, None),
    ],
)
def test_failures_are_classified(
    httpx_mock: HTTPXMock,
    status: int,
    headers: dict[str, str],
    expected: type[errors.DeliveryError],
    retry_after: float | None,
) -> None:
    httpx_mock.add_response(url=URL, method="POST", status_code=status, headers=headers)
    with pytest.raises(expected) as caught:
        deliver(channel(), Post(text="hello", id="p"))
    assert caught.value.retry_after == retry_after
    assert URL not in str(caught.value)


def test_410_says_the_endpoint_is_gone(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL, method="POST", status_code=410)
    with pytest.raises(errors.Permanent, match="endpoint is gone") as caught:
        deliver(channel(), Post(text="hello", id="p"))
    assert caught.value.status == 410
    assert not caught.value.may_have_applied


def test_retry_after_as_http_date(httpx_mock: HTTPXMock) -> None:
    later = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 90))
    httpx_mock.add_response(url=URL, method="POST", status_code=429, headers={"Retry-After": later})
    with pytest.raises(errors.RateLimited) as caught:
        deliver(channel(), Post(text="hello", id="p"))
    assert caught.value.retry_after is not None
    assert 80 <= caught.value.retry_after <= 91


def test_plain_http_is_refused_except_to_this_machine(httpx_mock: HTTPXMock) -> None:
    with pytest.raises(errors.ConfigurationError, match="plain http"):
        deliver(channel(url="http://hooks.bakery.example/in"), Post(text="hi", id="p"))
    httpx_mock.add_response(url="http://127.0.0.1:8080/in", method="POST")
    deliver(channel(url="http://127.0.0.1:8080/in"), Post(text="hi", id="p"))


def test_settings_are_checked() -> None:
    with pytest.raises(errors.ConfigurationError, match="secret must be whsec_"):
        channel(secret="whsec_not base64!")
    with pytest.raises(errors.ConfigurationError, match="url"):
        channel(url="hooks.bakery.example")
    with pytest.raises(errors.ConfigurationError, match="secret"):
        WebhookChannel.from_settings("hook", {"url": URL})
    hook = channel(url="https://user:pw@hooks.example:8443/x?token=abc")
    assert hook.failure_domain == "webhook:hooks.example"
    assert hook.origin == "https://hooks.example:8443/"
    assert "abc" not in repr(hook)
    assert SECRET not in repr(hook)
    channel()
    assert redact(f"failed: {URL}") == "failed: [REDACTED]", "the URL is registered as a secret"
