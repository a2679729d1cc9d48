"""``sendgrid``: v3 Mail Send requests, batches, errors and the shared Twilio failure domain."""

from __future__ import annotations

import json
import time
from typing import Any, ClassVar

import httpx
import pytest
from unipost_sendgrid import SendGridMailChannel

from unipost import Media, Post, first_of
from unipost.errors import AuthFailed, ConfigurationError, Forbidden, Permanent, RateLimited
from unipost.testing import ChannelContract, deliver, fake_channel
from unipost.testing.openapi import OpenAPI

from .conftest import API, KEY, error

pytest_plugins = ["unipost.testing.pytest_plugin"]

SEND = f"{API}/v3/mail/send"
SETTINGS: dict[str, Any] = {
    "api_key": KEY,
    "from_email": "news@bakery.example",
    "from_name": "Bakery",
    "to": ["ana@example.com", "bo@example.org"],
}


def channel(**settings: Any) -> SendGridMailChannel:
    return SendGridMailChannel.from_settings("sendgrid", SETTINGS | settings)


def accepted(
    message_id: str = "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0",
) -> dict[str, Any]:
    return {"status_code": 202, "headers": {"X-Message-Id": message_id}}


class TestSendGridContract(ChannelContract):
    channel_class = SendGridMailChannel
    settings = SETTINGS
    secrets = (KEY,)
    error_body: ClassVar[Any] = {"errors": [{"message": "bad", "field": None, "help": None}]}

    def arrange_success(self, httpx_mock: Any) -> None:
        httpx_mock.add_response(method="POST", url=SEND, **accepted())


def test_mail_send_body_matches_the_spec(httpx_mock: Any, spec: OpenAPI) -> None:
    httpx_mock.add_response(method="POST", url=SEND, **accepted("msg-1"))
    post = Post(
        title="Croissant day",
        text="All pastries 20% off.",
        link="https://bakery.example/offer",
        media=[Media.from_url("https://cdn.bakery.example/c.jpg", alt="Croissants")],
    )
    ch = channel(reply_to="hello@bakery.example", unsubscribe_group_id=42)
    receipt = deliver(ch, post, delivery_key="up1-key")
    request = httpx_mock.get_request()
    assert spec.validate(request) == "/v3/mail/send"
    body = json.loads(request.content)
    assert [p["to"] for p in body["personalizations"]] == [
        [{"email": "ana@example.com"}],
        [{"email": "bo@example.org"}],
    ]  # one envelope each: nobody sees the other recipients
    assert [c["type"] for c in body["content"]] == ["text/plain", "text/html"]
    assert body["subject"] == "Croissant day"
    assert body["asm"] == {"group_id": 42}
    assert "<%asm_group_unsubscribe_raw_url%>" in body["content"][1]["value"]
    assert body["personalizations"][0]["custom_args"] == {"unipost_key": "up1-key"}
    assert request.headers["Authorization"] == f"Bearer {KEY}"
    assert receipt.platform_id == "msg-1"
    assert [r.ok for r in receipt.recipients] == [True, True]


def test_large_lists_go_in_batches_of_1000_and_a_late_failure_keeps_what_was_sent(
    httpx_mock: Any, spec: OpenAPI
) -> None:
    to = [f"c{i}@example.com" for i in range(2500)]
    httpx_mock.add_response(method="POST", url=SEND, **accepted("m1"))
    httpx_mock.add_response(method="POST", url=SEND, **accepted("m2"))
    httpx_mock.add_response(method="POST", url=SEND, status_code=503)
    receipt = deliver(channel(to=to), Post(text="Open today"))
    sizes = [len(json.loads(r.content)["personalizations"]) for r in httpx_mock.get_requests()]
    assert sizes == [1000, 1000, 500]
    for request in httpx_mock.get_requests():
        spec.validate(request)
    assert receipt.extra["sent"] == 2000
    assert receipt.extra["failed"] == 500
    assert receipt.extra["message_ids"] == ["m1", "m2"]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("auth", AuthFailed),
        ("invalid_recipient", Permanent),
        ("validation", Permanent),
        ("forbidden", Forbidden),
    ],
)
def test_documented_errors(httpx_mock: Any, name: str, expected: type[Exception]) -> None:
    httpx_mock.add_response(method="POST", url=SEND, **error(name))
    with pytest.raises(expected) as caught:
        deliver(channel(), Post(text="x"))
    assert caught.value.args[0]  # the platform's message is carried


def test_rate_limit_waits_until_the_reset(httpx_mock: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    now = time.time()
    reset = str(int(now) + 30)
    httpx_mock.add_response(
        method="POST",
        url=SEND,
        **error(
            "rate_limit",
            **{
                "X-RateLimit-Limit": "600",
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": reset,
            },
        ),
    )
    with pytest.raises(RateLimited) as caught:
        deliver(channel(), Post(text="x"))
    assert caught.value.retry_after == pytest.approx(int(now) + 30 - now, abs=2)
    assert "too many requests" in str(caught.value)


def test_a_reset_in_the_past_means_unknown() -> None:
    response = httpx.Response(
        429,
        headers={"X-RateLimit-Reset": "1000"},
        json={"errors": [{"message": "too many requests"}]},
        request=httpx.Request("POST", SEND),
    )
    error_ = channel().classify(response, now=time.time())
    assert isinstance(error_, RateLimited)
    assert error_.retry_after is None


def test_bad_addresses_are_refused_before_sending(tmp_path: Any) -> None:
    with pytest.raises(ConfigurationError, match="from_email must be a plain address"):
        channel(from_email="Bakery <news@bakery.example>")
    csv = tmp_path / "list.csv"
    csv.write_text("email\nana@example.com\nnot-an-address\n")
    with pytest.raises(ConfigurationError, match="row 3"):
        channel(to=[], recipients_csv=str(csv))


def test_sendgrid_and_twilio_sms_share_a_failure_domain(unipost_dispatcher: Any) -> None:
    sms = fake_channel("twilio-sms", domain="twilio")
    dispatcher = unipost_dispatcher(channel(), sms)
    plan = dispatcher.plan(Post(text="x"), to=first_of("sendgrid", "twilio-sms"))
    assert channel().failure_domain == "twilio"
    assert any("share the failure domain 'twilio'" in w for w in plan.warnings)
