"""Shared helpers: Slack URLs, real error answers, the Swagger checker."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest

from unipost.redact import forget_secrets

DATA = Path(__file__).parent / "data"
SPEC = json.loads((DATA / "slack_web_openapi_v2_without_examples.json").read_text())
ERRORS: dict[str, Any] = json.loads((DATA / "errors.json").read_text())
TOKEN = "xoxb-1234567890-0987654321-AbCdEfGhIjKlMnOpQrStUvWx"
API = "https://slack.com/api"
CHANNEL = "C0123456789"
UPLOAD = "https://files.slack.com/upload/v1/CwABAAAAXAoAAZnI1234"


@pytest.fixture(autouse=True)
def _fresh_secrets() -> Any:
    yield
    forget_secrets()


def error(name: str) -> dict[str, Any]:
    entry = ERRORS[name]
    return {
        "status_code": entry["status"],
        "headers": entry.get("headers", {}),
        "json": entry["body"],
    }


def posted(ts: str = "1764770000.000100", text: str = "") -> dict[str, Any]:
    """A chat.postMessage success as the spec's 200 schema describes it."""
    return {
        "ok": True,
        "channel": CHANNEL,
        "ts": ts,
        "message": {
            "type": "message",
            "text": text,
            "user": "U0BOT0001",
            "ts": ts,
            "bot_id": "B0BOT0001",
        },
    }


def permalink(ts: str = "1764770000.000100") -> dict[str, Any]:
    return {
        "ok": True,
        "channel": CHANNEL,
        "permalink": f"https://bakery.slack.com/archives/{CHANNEL}/p{ts.replace('.', '')}",
    }


def _definitions_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A Swagger 2.0 response schema, with its ``#/definitions`` for jsonschema."""
    return {**schema, "definitions": SPEC["definitions"]}


def validate_response(path: str, method: str, status: str, body: dict[str, Any]) -> None:
    schema = SPEC["paths"][path][method]["responses"][status]["schema"]
    jsonschema.Draft4Validator(_definitions_schema(schema)).validate(body)


def check_form_call(request: httpx.Request, path: str) -> dict[str, Any]:
    """A Web API call against the spec's parameters: token as Bearer, fields known and typed."""
    operation = SPEC["paths"][path][request.method.lower()]
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    if request.method == "GET":
        given: dict[str, Any] = dict(request.url.params)
    else:
        assert request.headers["content-type"].split(";")[0] in operation["consumes"]
        given = json.loads(request.read())
    params = {p["name"]: p for p in operation["parameters"] if p["name"] != "token"}
    assert set(given) <= set(params), f"unknown {set(given) - set(params)}"
    for name, param in params.items():
        if param.get("required"):
            assert name in given, f"missing required {name}"
    for name, value in given.items():
        kind = params[name]["type"]
        if name == "blocks":  # a JSON-encoded string in a form; an array in a JSON body
            value = json.dumps(value)
        assert isinstance(value, {"string": str, "boolean": bool}[kind]), f"{name} is not {kind}"
    return given
