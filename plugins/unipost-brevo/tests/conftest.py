"""Brevo test helpers: the Swagger subset, error bodies and a stateful campaigns fake."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from unipost.testing.openapi import OpenAPI

DATA = Path(__file__).parent / "data"
SPEC = OpenAPI(json.loads((DATA / "brevo-swagger-subset.json").read_text()))
ERRORS: dict[str, Any] = json.loads((DATA / "errors.json").read_text())
KEY = "xkeysib-0123456789abcdef0123456789abcdef-AbCdEfGh"
API = "https://api.brevo.com/v3"
#: getCampaignStats with nothing sent yet
STATS = dict.fromkeys(
    (
        "uniqueClicks",
        "clickers",
        "complaints",
        "delivered",
        "sent",
        "softBounces",
        "trackableViews",
        "hardBounces",
        "uniqueViews",
        "unsubscriptions",
        "viewed",
    ),
    0,
)
LIST_PARAMS = {"type", "limit", "offset", "sort", "excludeHtmlContent"}


def error(name: str) -> dict[str, Any]:
    entry = ERRORS[name]
    answer: dict[str, Any] = {"status_code": entry["status"], "headers": entry.get("headers", {})}
    if "body" in entry:
        # errorModel; real answers also carry the code in upper case (see errors.json)
        body = {**entry["body"], "code": entry["body"]["code"].lower()}
        SPEC.validate_response("POST", "/v3/emailCampaigns", 400, body)
        answer["json"] = entry["body"]
    return answer


def check(request: httpx.Request) -> None:
    if request.method == "GET" and request.url.path == "/v3/emailCampaigns":
        assert set(request.url.params) <= LIST_PARAMS
        assert int(request.url.params["limit"]) <= 100
        return
    SPEC.validate(request)


class FakeBrevo:
    """Email campaigns in memory; ``lose_send`` applies ``sendNow`` but loses its answer."""

    def __init__(self, clock: Any = None, *, lose_send: bool = False) -> None:
        self.clock = clock
        self.lose_send = lose_send
        self.campaigns: dict[int, dict[str, Any]] = {}
        self.sends = 0

    def install(self, httpx_mock: Any) -> None:
        httpx_mock.add_callback(
            self.handle, url=re.compile(re.escape(API) + "/emailCampaigns.*"), is_reusable=True
        )

    def handle(self, request: httpx.Request) -> httpx.Response:
        check(request)
        parts = request.url.path.removeprefix("/v3/").split("/")
        if request.method == "GET" and len(parts) == 1:
            found = sorted(self.campaigns.values(), key=lambda c: c["id"], reverse=True)
            return httpx.Response(200, json={"campaigns": found, "count": len(found)})
        if request.method == "POST" and len(parts) == 1:
            body = json.loads(request.content)
            ident = len(self.campaigns) + 1
            now = self.clock.now() if self.clock else 1_900_000_000.0
            stamp = dt.datetime.fromtimestamp(now, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
            self.campaigns[ident] = {
                "id": ident,
                "name": body["name"],
                "subject": body.get("subject"),
                "type": "classic",
                "status": "queued" if body.get("scheduledAt") else "draft",
                "testSent": False,
                "header": "",
                "footer": "",
                "sender": {"email": "news@bakery.example", "name": "Bakery", "id": 1},
                "replyTo": "news@bakery.example",
                "htmlContent": body.get("htmlContent", ""),
                "shareLink": f"http://dhh.brevo.com/share/{ident}",
                "createdAt": stamp,
                "modifiedAt": stamp,
                "recipients": {
                    "lists": body["recipients"].get("listIds", []),
                    "exclusionLists": [],
                },
                "statistics": {
                    "globalStats": STATS,
                    "campaignStats": [],
                    "mirrorClick": 0,
                    "remaining": 0,
                    "linksStats": {},
                    "statsByDomain": {},
                    "statsByDevice": {},
                    "statsByBrowser": {},
                },
            }
            if body.get("scheduledAt"):
                self.campaigns[ident]["scheduledAt"] = body["scheduledAt"]
            SPEC.validate_response("POST", "/v3/emailCampaigns", 201, {"id": ident})
            return httpx.Response(201, json={"id": ident})
        campaign = self.campaigns[int(parts[1])]
        if request.method == "GET":
            SPEC.validate_response("GET", request.url.path, 200, campaign)
            return httpx.Response(200, json=campaign)
        if campaign["status"] != "draft":
            return httpx.Response(
                400, json={"code": "campaign_sent", "message": "Campaign already sent"}
            )
        campaign["status"] = "in_process"
        self.sends += 1
        if self.lose_send:
            self.lose_send = False
            raise httpx.ReadTimeout("the answer was lost", request=request)
        return httpx.Response(204)


@pytest.fixture
def spec() -> OpenAPI:
    return SPEC
