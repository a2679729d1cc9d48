"""TikTok test helpers: the hand-written request schema and the recorded answers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import jsonschema

DATA = Path(__file__).parent / "data"
API = "https://open.tiktokapis.com"
ERRORS: dict[str, Any] = json.loads((DATA / "errors.json").read_text())
SCHEMA: dict[str, Any] = json.loads((DATA / "content-posting-schema.json").read_text())
BODIES = {
    "/v2/post/publish/creator_info/query/": "creatorInfo",
    "/v2/post/publish/content/init/": "photoInit",
    "/v2/post/publish/video/init/": "videoInit",
    "/v2/post/publish/status/fetch/": "status",
}


def error(name: str) -> dict[str, Any]:
    case = ERRORS[name]
    return {"status_code": case["status"], "json": case["body"]}


def ok(data: dict[str, Any]) -> dict[str, Any]:
    return {"json": {"data": data, "error": {"code": "ok", "message": "", "log_id": "20261203ok"}}}


def validate(request: httpx.Request) -> str:
    """Check an API request's headers and body; returns the schema's name for it."""
    name = BODIES[request.url.path]
    assert request.headers["Content-Type"] == "application/json; charset=UTF-8"
    assert request.headers["Authorization"].startswith("Bearer ")
    jsonschema.Draft7Validator({**SCHEMA, "$ref": f"#/definitions/{name}"}).validate(
        json.loads(request.content)
    )
    return name
