"""X test helpers: the spec, error bodies, and a channel factory."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from unipost_oauth.testing import OpenAPI
from unipost_x import XChannel

DATA = Path(__file__).parent / "data"
API = "https://api.x.com"
TOKEN = "x-access-token-0123456789"
REFRESH = "x-refresh-token-0123456789"
SETTINGS: dict[str, Any] = {"access_token": TOKEN, "username": "bakery"}

SPEC = OpenAPI(json.loads((DATA / "x-openapi-subset.json").read_text()))
ERRORS: dict[str, Any] = json.loads((DATA / "errors.json").read_text())


def error(name: str) -> dict[str, Any]:
    """Keyword arguments for ``httpx_mock.add_response`` replaying a recorded error."""
    case = ERRORS[name]
    return {"status_code": case["status"], "json": case["body"]}


@pytest.fixture
def channel() -> XChannel:
    return XChannel.from_settings("x", SETTINGS)
