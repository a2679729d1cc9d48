"""SendGrid test helpers: the Mail Send spec and documented error bodies."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from unipost.testing.openapi import OpenAPI

DATA = Path(__file__).parent / "data"
SPEC = OpenAPI(json.loads((DATA / "sendgrid-mail-send.json").read_text()))
ERRORS: dict[str, Any] = json.loads((DATA / "errors.json").read_text())
KEY = "SG.sendgrid-test-key.0123456789abcdefghij"
API = "https://api.sendgrid.com"


def error(name: str, **headers: str) -> dict[str, Any]:
    entry = ERRORS[name]
    if entry["status"] in (400, 401, 403):  # the statuses the spec describes
        SPEC.validate_response("POST", "/v3/mail/send", entry["status"], entry["body"])
    return {"status_code": entry["status"], "json": entry["body"], "headers": headers}


@pytest.fixture
def spec() -> OpenAPI:
    return SPEC
