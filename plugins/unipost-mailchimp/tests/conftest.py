"""Mailchimp test helpers: the spec's structure, error bodies and a stateful fake."""

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
SPEC = OpenAPI(json.loads((DATA / "mailchimp-structure.json").read_text()), base_path="/3.0")
ERRORS: dict[str, Any] = json.loads((DATA / "errors.json").read_text())
KEY = "0123456789abcdef0123456789abcdef-us6"
API = "https://us6.api.mailchimp.com/3.0"
LIST_PARAMS = {
    "list_id",
    "since_create_time",
    "sort_field",
    "sort_dir",
    "count",
    "offset",
    "fields",
}


def error(name: str) -> dict[str, Any]:
    entry = ERRORS[name]
    SPEC.validate_response("POST", "/3.0/campaigns", entry["status"], entry["body"])
    return {
        "status_code": entry["status"],
        "json": entry["body"],
        "headers": {"Content-Type": "application/problem+json"},
    }


def check(request: httpx.Request) -> None:
    """Validate against the spec; the campaign list against its documented parameters."""
    if request.method == "GET" and request.url.path == "/3.0/campaigns":
        assert set(request.url.params) <= LIST_PARAMS, set(request.url.params) - LIST_PARAMS
        dt.datetime.fromisoformat(request.url.params["since_create_time"])
        return
    SPEC.validate(request)


class FakeMailchimp:
    """Campaigns in memory; ``lose`` names an action whose answer is lost once it is applied."""

    def __init__(self, clock: Any = None, *, lose: str | None = None, ready: bool = True) -> None:
        self.clock = clock
        self.lose = lose
        self.ready = ready
        self.campaigns: dict[str, dict[str, Any]] = {}
        self.actions: list[str] = []

    def install(self, httpx_mock: Any) -> None:
        httpx_mock.add_callback(
            self.handle, url=re.compile(re.escape(API) + ".*"), is_reusable=True
        )

    def handle(self, request: httpx.Request) -> httpx.Response:
        check(request)
        path = request.url.path.removeprefix("/3.0")
        parts = path.strip("/").split("/")
        if request.method == "GET" and path == "/campaigns":
            found = sorted(self.campaigns.values(), key=lambda c: c["create_time"], reverse=True)
            return httpx.Response(200, json={"campaigns": found, "total_items": len(found)})
        if request.method == "POST" and path == "/campaigns":
            body = json.loads(request.content)
            ident = f"c{len(self.campaigns) + 1:09d}"
            now = self.clock.now() if self.clock else 1_900_000_000.0
            self.campaigns[ident] = {
                "id": ident,
                "web_id": 1000 + len(self.campaigns),
                "type": "regular",
                "status": "save",
                "create_time": dt.datetime.fromtimestamp(now, dt.UTC).isoformat(),
                "archive_url": f"https://eepurl.com/{ident}",
                "long_archive_url": f"https://us6.campaign-archive.com/?u=abc&id={ident}",
                "settings": body["settings"],
            }
            return httpx.Response(200, json=self.campaigns[ident])
        campaign = self.campaigns[parts[1]]
        if parts[-1] == "content":
            campaign["content"] = json.loads(request.content)
            return httpx.Response(200, json={"html": campaign["content"]["html"]})
        if parts[-1] == "send-checklist":
            items = (
                []
                if self.ready
                else [
                    {"type": "error", "id": 0, "heading": "Sender", "details": "verify your domain"}
                ]
            )
            return httpx.Response(200, json={"is_ready": self.ready, "items": items})
        action = parts[-1]
        if campaign["status"] != "save":
            return httpx.Response(
                400,
                json={
                    "title": "Bad Request",
                    "status": 400,
                    "detail": "This campaign has already been sent.",
                },
            )
        campaign["status"] = "sending" if action == "send" else "schedule"
        self.actions.append(action)
        if self.lose == action:
            self.lose = None
            raise httpx.ReadTimeout("the answer was lost", request=request)
        return httpx.Response(204)


@pytest.fixture
def spec() -> OpenAPI:
    return SPEC
