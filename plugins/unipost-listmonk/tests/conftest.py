"""Listmonk test helpers: the schema of the calls, error bodies and a stateful fake."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from unipost.testing.openapi import OpenAPI

DATA = Path(__file__).parent / "data"
SPEC = OpenAPI(json.loads((DATA / "listmonk-api.json").read_text()))
ERRORS: dict[str, Any] = json.loads((DATA / "errors.json").read_text())
TOKEN = "listmonk-api-token-0123456789abcdef"
BASE = "https://lists.bakery.example"


def error(name: str) -> dict[str, Any]:
    entry = ERRORS[name]
    return {"status_code": entry["status"], "json": entry["body"]}


class FakeListmonk:
    """Campaigns in memory, with Listmonk's status rules; ``lose`` loses one status answer."""

    def __init__(self, *, lose: bool = False) -> None:
        self.lose = lose
        self.campaigns: dict[int, dict[str, Any]] = {}
        self.started = 0

    def install(self, httpx_mock: Any) -> None:
        httpx_mock.add_callback(
            self.handle, url=re.compile(re.escape(BASE) + "/api/campaigns.*"), is_reusable=True
        )

    def handle(self, request: httpx.Request) -> httpx.Response:
        SPEC.validate(request)
        path = request.url.path
        if request.method == "GET":
            tag = request.url.params.get("tags")
            found = [c for c in self.campaigns.values() if tag in c["tags"]]
            answer = {"data": {"results": found, "total": len(found), "per_page": 50, "page": 1}}
            SPEC.validate_response("GET", path, 200, answer)
            return httpx.Response(200, json=answer)
        if request.method == "POST":
            body = json.loads(request.content)
            ident = len(self.campaigns) + 1
            self.campaigns[ident] = {
                "id": ident,
                "uuid": f"00000000-0000-4000-8000-{ident:012d}",
                "name": body["name"],
                "subject": body["subject"],
                "tags": body.get("tags", []),
                "status": "draft",
                "send_at": body.get("send_at"),
            }
            return httpx.Response(200, json={"data": self.campaigns[ident]})
        campaign = self.campaigns[int(path.split("/")[3])]
        wanted = json.loads(request.content)["status"]
        if campaign["status"] not in ("draft", "paused"):
            return httpx.Response(
                400, json={"message": "Only paused campaigns and drafts can be started."}
            )
        if wanted == "scheduled" and not campaign["send_at"]:
            return httpx.Response(400, json={"message": "Campaign needs a date to be scheduled."})
        campaign["status"] = wanted
        self.started += 1
        if self.lose:
            self.lose = False
            raise httpx.ReadTimeout("the answer was lost", request=request)
        return httpx.Response(200, json={"data": campaign})


@pytest.fixture
def spec() -> OpenAPI:
    return SPEC
