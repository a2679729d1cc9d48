"""Twilio test helpers: the spec, documented error bodies, Message answers and a form parser."""

from __future__ import annotations

import email.utils
import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from unipost.testing.openapi import OpenAPI

DATA = Path(__file__).parent / "data"
SPEC = OpenAPI(json.loads((DATA / "twilio_api_v2010.json").read_text()))
ERRORS: dict[str, Any] = json.loads((DATA / "errors.json").read_text())

ACCOUNT = "AC" + "0" * 31 + "1"
SERVICE = "MG" + "0" * 31 + "2"
TOKEN = "twilio-auth-token-0123456789abcdef"
API = "https://api.twilio.com"
MESSAGES = f"{API}/2010-04-01/Accounts/{ACCOUNT}/Messages.json"


def error(name: str) -> dict[str, Any]:
    """``status`` and ``json`` of a documented error, for ``httpx_mock.add_response``."""
    entry = ERRORS[name]
    return {"status_code": entry["status"], "json": entry["body"]}


def message(
    sid: str, to: str, body: str, *, created: float = 1_900_000_000.0, **extra: Any
) -> dict[str, Any]:
    """A Message resource as Twilio answers it, checked against the spec's schema."""
    answer = {
        "account_sid": ACCOUNT,
        "api_version": "2010-04-01",
        "body": body,
        "date_created": email.utils.formatdate(created, usegmt=True).replace("GMT", "+0000"),
        "date_sent": None,
        "date_updated": email.utils.formatdate(created, usegmt=True).replace("GMT", "+0000"),
        "direction": "outbound-api",
        "error_code": None,
        "error_message": None,
        "from": None,
        "messaging_service_sid": SERVICE,
        "num_media": "0",
        "num_segments": "1",
        "price": None,
        "price_unit": "USD",
        "sid": sid,
        "status": "accepted",
        "subresource_uris": {"media": f"/2010-04-01/Accounts/{ACCOUNT}/Messages/{sid}/Media.json"},
        "to": to,
        "uri": f"/2010-04-01/Accounts/{ACCOUNT}/Messages/{sid}.json",
        **extra,
    }
    SPEC.validate_response("POST", MESSAGES.removeprefix(API), 201, answer)
    return answer


def sid(number: int) -> str:
    return f"SM{number:032x}"


def form(request: httpx.Request) -> dict[str, list[str]]:
    request.read()
    return parse_qs(request.content.decode())


@pytest.fixture
def spec() -> OpenAPI:
    return SPEC


class FakeTwilio:
    """Messages kept in memory behind pytest-httpx: create, list newest first, lose answers.

    ``lose`` lists the recipients whose create is applied but whose answer never comes
    back (a read timeout after Twilio queued the message).
    """

    def __init__(self, clock: Any, *, lose: tuple[str, ...] = ()) -> None:
        self.clock = clock
        self.lose = set(lose)
        self.messages: list[dict[str, Any]] = []
        self.posts = 0

    def install(self, httpx_mock: Any) -> None:
        httpx_mock.add_callback(self.create, method="POST", url=MESSAGES, is_reusable=True)
        httpx_mock.add_callback(
            self.list,
            method="GET",
            url=httpx.URL(MESSAGES, params={"PageSize": "1000"}),
            is_reusable=True,
            is_optional=True,
        )

    def create(self, request: httpx.Request) -> httpx.Response:
        SPEC.validate(request)
        fields = form(request)
        self.posts += 1
        to, body = fields["To"][0], fields["Body"][0]
        created = message(sid(len(self.messages) + 1), to, body, created=self.clock.now())
        self.messages.append(created)
        if to in self.lose:
            self.lose.discard(to)
            raise httpx.ReadTimeout("the answer was lost", request=request)
        return httpx.Response(201, json=created)

    def list(self, request: httpx.Request) -> httpx.Response:
        page = {"messages": list(reversed(self.messages)), "next_page_uri": None}
        return httpx.Response(200, json=page)

    def sent_to(self, number: str) -> int:
        return sum(1 for m in self.messages if m["to"] == number)
