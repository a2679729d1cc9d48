"""Pinterest test helpers: the spec, recorded bodies."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from unipost_oauth.testing import OpenAPI

DATA = Path(__file__).parent / "data"
API = "https://api.pinterest.com/v5"
SPEC = OpenAPI(json.loads((DATA / "pinterest-openapi-subset.json").read_text()))
ERRORS: dict[str, Any] = json.loads((DATA / "errors.json").read_text())
PIN: dict[str, Any] = json.loads((DATA / "pin.json").read_text())["body"]


def error(name: str) -> dict[str, Any]:
    case = ERRORS[name]
    return {"status_code": case["status"], "json": case["body"]}
