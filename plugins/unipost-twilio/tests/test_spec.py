"""Every request the channel builds validates against Twilio's OpenAPI description."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import jsonschema
import pytest
from unipost_twilio import TwilioSmsChannel

from unipost import Media, Post
from unipost.testing.openapi import OpenAPI

from .conftest import ACCOUNT, SERVICE, TOKEN

BASE: dict[str, Any] = {"account_sid": ACCOUNT, "auth_token": TOKEN, "to": ["+4915112345601"]}
IMAGE = Media.from_url("https://cdn.bakery.example/a.jpg", mime_type="image/jpeg")
LATER = dt.datetime(2030, 5, 1, 9, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("settings", "post", "send_at"),
    [
        ({"from_number": "+15017122661"}, Post(text="Open 9-5"), None),
        ({"messaging_service_sid": SERVICE}, Post(text="Open", link="https://b.example"), None),
        (
            {"messaging_service_sid": SERVICE, "status_callback": "https://b.example/cb"},
            Post(text="Ünïcödé 🥐"),
            LATER.timestamp(),
        ),
        (
            {"from_number": "+15017122661", "mms": True, "opt_out": "STOP to end"},
            Post(text="Bread", media=[IMAGE, IMAGE]),
            None,
        ),
    ],
)
def test_message_create_matches_the_spec(
    spec: OpenAPI, settings: dict[str, Any], post: Post, send_at: float | None
) -> None:
    channel = TwilioSmsChannel(**BASE, **settings)
    request = channel.message_request(channel.prepare(post), "+4915112345601", send_at=send_at)
    assert spec.validate(request) == "/2010-04-01/Accounts/{AccountSid}/Messages.json"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"


def test_the_spec_check_is_not_vacuous(spec: OpenAPI) -> None:
    bad = httpx.Request(
        "POST",
        f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Messages.json",
        data={"To": "+1555", "MessagingServiceSid": "MG-not-a-sid"},
    )
    with pytest.raises(jsonschema.ValidationError):
        spec.validate(bad)
    missing = httpx.Request(
        "POST",
        f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Messages.json",
        data={"Body": "no recipient"},
    )
    with pytest.raises(jsonschema.ValidationError, match="'To' is a required property"):
        spec.validate(missing)
