"""A Mastodon-API server on pytest-httpx whose creates may be applied with the answer lost.

``honours_key`` decides whether a repeated Idempotency-Key returns the first
status (Mastodon) or creates another (the servers that ignore it). A create
can also hang unanswered and be applied later (``land_later``), behind the
client's back, and statuses can be deleted (``DELETE /api/v1/statuses/:id``,
checked against the stored OpenAPI subset). A status that is not there
answers 404 ``{"error": "Record not found"}`` (Mastodon's Error404Example in
abraham/mastodon-openapi); a token without ``write:statuses`` 403 ``{"error":
"This action is outside the authorized scopes"}`` (Mastodon's
Api::BaseController, quoted in the docs' "OAuth scopes" errors).
"""

from __future__ import annotations

import datetime as dt
import html
import json
import re
from pathlib import Path
from typing import Any

import httpx
import jsonschema
from pytest_httpx import HTTPXMock

from unipost.testing import VirtualClock

BASE = "https://gts.example"
SPEC = json.loads((Path(__file__).parent / "data" / "mastodon-openapi-subset.json").read_text())
_STATUS = re.compile(r"/api/v1/statuses/(?P<id>[^/]+)")


def check_delete(request: httpx.Request) -> str:
    """The status id of a ``DELETE /api/v1/statuses/{id}`` that matches the spec's parameters."""
    operation = SPEC["paths"]["/api/v1/statuses/{id}"]["delete"]
    match = _STATUS.fullmatch(request.url.path)
    assert request.method == "DELETE"
    assert match is not None, request.url.path
    declared = {p["name"]: p for p in operation["parameters"] if p["in"] == "query"}
    for name, value in request.url.params.multi_items():
        assert name in declared, f"{name} is not a parameter of deleteStatus"
        if declared[name]["schema"]["type"] == "boolean":
            assert value in ("true", "false"), (name, value)
    assert request.headers.get("Authorization", "").startswith("Bearer ")  # OAuth2 write:statuses
    return match["id"]


class Instance:
    def __init__(
        self,
        httpx_mock: HTTPXMock,
        clock: VirtualClock,
        document: dict[str, str],
        *,
        honours_key: bool,
    ) -> None:
        self.clock = clock
        self.honours_key = honours_key
        self.statuses: list[dict[str, Any]] = []  # oldest first
        self.by_key: dict[str, dict[str, Any]] = {}
        self.lose_answers = 0
        self.land_later: list[float] = []  # per create to come: applied this much later, unanswered
        self.landing: list[tuple[float, str]] = []  # (when, text)
        self.posts = 0
        self.listings = 0
        self.deletes: list[str] = []
        self.refuse_deletes = False
        configuration = {
            "statuses": {
                "max_characters": 500,
                "max_media_attachments": 4,
                "characters_reserved_per_url": 23,
            }
        }
        httpx_mock.add_response(
            url=f"{BASE}/api/v2/instance",
            json={**document, "configuration": configuration},
            is_reusable=True,
            is_optional=True,  # a lookup alone never reads it
        )
        httpx_mock.add_callback(
            self.create,
            method="POST",
            url=f"{BASE}/api/v1/statuses",
            is_reusable=True,
            is_optional=True,
        )
        httpx_mock.add_callback(self.delete, method="DELETE", is_reusable=True, is_optional=True)
        httpx_mock.add_callback(self.listing, method="GET", is_reusable=True, is_optional=True)

    def add(self, text: str, at: float) -> dict[str, Any]:
        n = 1000 + len(self.statuses) + len(self.deletes) + 1
        created = dt.datetime.fromtimestamp(at, dt.UTC).isoformat().replace("+00:00", "Z")
        status = {
            "id": str(n),
            "created_at": created,
            "content": f"<p>{html.escape(text)}</p>",
            "url": f"{BASE}/@bakery/{n}",
        }
        self.statuses.append(status)
        return status

    def land(self) -> None:
        """Creates that hung are applied once their time has come."""
        now = self.clock.now()
        for when, text in [item for item in self.landing if item[0] <= now]:
            self.landing.remove((when, text))
            self.add(text, when)

    def create(self, request: httpx.Request) -> httpx.Response:
        self.land()
        self.posts += 1
        key = request.headers["Idempotency-Key"]
        text = json.loads(request.content)["status"]
        if self.land_later:
            self.landing.append((self.clock.now() + self.land_later.pop(0), text))
            raise httpx.ReadTimeout("no answer", request=request)
        if self.honours_key and key in self.by_key:
            return httpx.Response(200, json=self.by_key[key])
        status = self.add(text, self.clock.now())
        self.by_key[key] = status
        if self.lose_answers:
            self.lose_answers -= 1
            raise httpx.ReadTimeout("the answer was lost", request=request)
        return httpx.Response(200, json=status)

    def delete(self, request: httpx.Request) -> httpx.Response:
        self.land()
        status_id = check_delete(request)
        self.deletes.append(status_id)
        if self.refuse_deletes:  # Mastodon's answer to a token without the scope
            body = {"error": "This action is outside the authorized scopes"}
            jsonschema.validate(body, SPEC["components"]["schemas"]["Error"])
            return httpx.Response(403, json=body)
        found = [s for s in self.statuses if s["id"] == status_id]
        if not found:
            body = {"error": "Record not found"}
            jsonschema.validate(body, SPEC["components"]["schemas"]["Error"])
            return httpx.Response(404, json=body)
        self.statuses.remove(found[0])
        return httpx.Response(200, json=found[0])

    def listing(self, request: httpx.Request) -> httpx.Response:
        """The account (``verify_credentials``) and its statuses, newest first."""
        if request.url.path == "/api/v1/accounts/verify_credentials":
            return httpx.Response(200, json={"id": "7", "acct": "bakery", "username": "bakery"})
        assert request.url.path == "/api/v1/accounts/7/statuses", str(request.url)
        self.land()
        self.listings += 1
        newest_first = list(reversed(self.statuses))
        max_id = request.url.params.get("max_id")
        if max_id is not None:
            newest_first = [s for s in newest_first if int(s["id"]) < int(max_id)]
        limit = int(request.url.params.get("limit", "20"))
        return httpx.Response(200, json=newest_first[:limit])
