"""``brevo-sms``: one transactional SMS per recipient, per-recipient results, credits."""

from __future__ import annotations

import json
from typing import Any, ClassVar

import pytest
from unipost_brevo import BrevoSmsChannel

from unipost import Post
from unipost.errors import ConfigurationError, Permanent, QuotaExhausted
from unipost.testing import ChannelContract, deliver
from unipost.testing.openapi import OpenAPI

from .conftest import API, KEY, SPEC, error

SMS = f"{API}/transactionalSMS/sms"
A, B, C = "+33612345601", "+33612345602", "+15558675310"
SETTINGS: dict[str, Any] = {"api_key": KEY, "sender": "Bakery", "to": [A]}


def sent(message_id: int) -> dict[str, Any]:
    answer = {
        "reference": f"ab1cde2fgh3i4jklmno{message_id}",
        "messageId": message_id,
        "smsCount": 1,
        "usedCredits": 0.7,
        "remainingCredits": 82.85,
    }
    SPEC.validate_response("POST", "/v3/transactionalSMS/sms", 201, answer)
    return {"status_code": 201, "json": answer}


def channel(**settings: Any) -> BrevoSmsChannel:
    return BrevoSmsChannel.from_settings("brevo-sms", SETTINGS | settings)


class TestBrevoSmsContract(ChannelContract):
    channel_class = BrevoSmsChannel
    settings = SETTINGS
    secrets = (KEY,)
    error_body: ClassVar[Any] = {"code": "bad_request", "message": "bad"}

    def arrange_success(self, httpx_mock: Any) -> None:
        httpx_mock.add_response(method="POST", url=SMS, **sent(1511882900176220))


def test_sms_body_matches_the_spec(httpx_mock: Any, spec: OpenAPI) -> None:
    httpx_mock.add_response(method="POST", url=SMS, **sent(1))
    httpx_mock.add_response(method="POST", url=SMS, **sent(2))
    ch = channel(
        to=[A, C],
        opt_out="STOP au 36173",
        opt_out_countries=["+33"],
        web_url="https://b.example/hook",
    )
    receipt = deliver(
        ch, Post(text="Croissants chauds 🥐", link="https://b.example/o"), delivery_key="up1-k"
    )
    first, second = (json.loads(r.content) for r in httpx_mock.get_requests())
    for request in httpx_mock.get_requests():
        spec.validate(request)
    assert first == {
        "sender": "Bakery",
        "recipient": "33612345601",
        "content": "Croissants chauds 🥐\n\nhttps://b.example/o\nSTOP au 36173",
        "type": "marketing",
        "tag": "up1-k",
        "unicodeEnabled": True,
        "webUrl": "https://b.example/hook",
    }
    assert (
        second["content"] == "Croissants chauds 🥐\n\nhttps://b.example/o"
    )  # no opt-out in the US here
    assert [r.platform_id for r in receipt.recipients] == ["1", "2"]


def test_an_invalid_number_fails_only_that_recipient(httpx_mock: Any) -> None:
    httpx_mock.add_response(method="POST", url=SMS, **error("invalid_recipient"))
    httpx_mock.add_response(method="POST", url=SMS, **sent(2))
    receipt = deliver(channel(to=[A, B]), Post(text="Open"))
    assert [r.ok for r in receipt.recipients] == [False, True]
    assert "invalid_phone_number" in (receipt.recipients[0].reason or "")


def test_running_out_of_credits_keeps_what_was_sent(httpx_mock: Any) -> None:
    httpx_mock.add_response(method="POST", url=SMS, **sent(1))
    httpx_mock.add_response(method="POST", url=SMS, **error("no_credits"))
    receipt = deliver(channel(to=[A, B, C]), Post(text="Open"))
    assert [r.ok for r in receipt.recipients] == [True, False, False]
    assert receipt.extra == {"sent": 1, "failed": 2}
    assert len(httpx_mock.get_requests()) == 2  # stopped: no credits for the third either


def test_no_credits_at_all_is_a_quota(httpx_mock: Any) -> None:
    httpx_mock.add_response(method="POST", url=SMS, **error("no_credits"))
    with pytest.raises(QuotaExhausted):
        deliver(channel(), Post(text="Open"))


def test_every_number_refused_is_permanent(httpx_mock: Any) -> None:
    httpx_mock.add_response(method="POST", url=SMS, **error("invalid_recipient"))
    with pytest.raises(Permanent, match="no recipient got the SMS"):
        deliver(channel(), Post(text="Open"))


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"sender": "Corner Bakery Paris"}, "sender: up to 11"),
        ({"sms_type": "promo"}, "sms_type"),
        ({"to": ["0612345678"]}, "not a phone number"),
    ],
)
def test_bad_settings(settings: dict[str, Any], problem: str) -> None:
    with pytest.raises(ConfigurationError, match=problem):
        channel(**settings)
