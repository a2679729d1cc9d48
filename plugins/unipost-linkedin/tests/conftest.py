"""LinkedIn test helpers: the hand-written schema, the error bodies, URLs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema

DATA = Path(__file__).parent / "data"
API = "https://api.linkedin.com"
TOKEN = "linkedin-access-token-0123456789"
ORG = "urn:li:organization:5515715"
SETTINGS: dict[str, Any] = {"access_token": TOKEN, "author": ORG, "version": "202611"}
ERRORS: dict[str, Any] = json.loads((DATA / "errors.json").read_text())
SCHEMA: dict[str, Any] = json.loads((DATA / "post-schema.json").read_text())


def error(name: str) -> dict[str, Any]:
    case = ERRORS[name]
    return {"status_code": case["status"], "json": case["body"]}


def check_post(body: Any) -> None:
    jsonschema.Draft7Validator(SCHEMA).validate(body)


def check_initialize(body: Any) -> None:
    jsonschema.Draft7Validator({**SCHEMA, "$ref": "#/definitions/initializeUpload"}).validate(body)
