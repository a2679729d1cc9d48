"""Shared helpers: the webhook URL, real error answers, and the OpenAPI checker."""

from __future__ import annotations

import json
import re
from email.parser import BytesParser
from email.policy import HTTP
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from unipost.redact import forget_secrets

DATA = Path(__file__).parent / "data"
SPEC = json.loads(
    # Absolute references: the spec's "#/components/..." resolve from any nested schema.
    (DATA / "discord-openapi-subset.json")
    .read_text()
    .replace('"$ref": "#/', '"$ref": "urn:discord#/')
)
REGISTRY = Registry().with_resource("urn:discord", DRAFT202012.create_resource(SPEC))
ERRORS: dict[str, Any] = json.loads((DATA / "errors.json").read_text())

WEBHOOK_ID = "1234567890123456789"
WEBHOOK_TOKEN = "hK3s9_Zq-T0kEnPart0fTheWebhookUrl-abcdefghijklmnopqrstuvwxyz012345"
WEBHOOK_URL = f"https://discord.com/api/webhooks/{WEBHOOK_ID}/{WEBHOOK_TOKEN}"
EXECUTE = f"https://discord.com/api/v10/webhooks/{WEBHOOK_ID}/{WEBHOOK_TOKEN}"
EXECUTE_WAIT = re.compile(rf"^{re.escape(EXECUTE)}\?wait=true(&thread_id=\d+)?$")
GUILD = "81384788765712384"
CHANNEL = "81384788765712385"
WEBHOOK = {
    "id": WEBHOOK_ID,
    "type": 1,
    "name": "Bakery",
    "channel_id": CHANNEL,
    "guild_id": GUILD,
    "application_id": None,
    "avatar": None,
    "token": WEBHOOK_TOKEN,
}


@pytest.fixture(autouse=True)
def _fresh_secrets() -> Any:
    yield
    forget_secrets()


def schema(name: str) -> dict[str, Any]:
    return {"$ref": f"urn:discord#/components/schemas/{name}"}


def at(*path: str) -> dict[str, Any]:
    """A reference to a schema inside the spec, so its own ``#/...`` references resolve."""
    pointer = "/".join(part.replace("~", "~0").replace("/", "~1") for part in path)
    return {"$ref": f"urn:discord#/{pointer}"}


WEBHOOK_PATH = ("paths", "/webhooks/{webhook_id}/{webhook_token}")


def validate(instance: Any, spec_schema: dict[str, Any]) -> None:
    jsonschema.Draft202012Validator(spec_schema, registry=REGISTRY).validate(instance)


def message(message_id: str, content: str = "", **extra: Any) -> dict[str, Any]:
    """A Message as ``?wait=true`` returns it."""
    return {
        "id": message_id,
        "type": 0,
        "content": content,
        "channel_id": CHANNEL,
        "author": {
            "id": WEBHOOK_ID,
            "username": "Bakery",
            "avatar": None,
            "discriminator": "0000",
            "public_flags": 0,
            "flags": 0,
            "bot": True,
            "global_name": None,
            "primary_guild": None,
        },
        "mentions": [],
        "mention_roles": [],
        "mention_everyone": False,
        "pinned": False,
        "tts": False,
        "flags": 0,
        "components": [],
        "attachments": [],
        "embeds": [],
        "timestamp": "2026-12-03T14:00:00.000000+00:00",
        "edited_timestamp": None,
        "webhook_id": WEBHOOK_ID,
        **extra,
    }


def add_webhook(httpx_mock: Any) -> None:
    httpx_mock.add_response(method="GET", url=EXECUTE, json=WEBHOOK)


def error(name: str) -> dict[str, Any]:
    """``status_code``, ``headers`` and the body of a real answer from ``data/errors.json``."""
    entry = ERRORS[name]
    answer: dict[str, Any] = {"status_code": entry["status"], "headers": entry["headers"]}
    if "body" in entry:
        answer["json"] = entry["body"]
    else:
        answer["text"] = entry["text"]
    return answer


def execute_body(request: httpx.Request) -> tuple[dict[str, Any], dict[str, tuple[str, bytes]]]:
    """The JSON of an execute call (``payload_json`` for multipart) and its ``files[n]``."""
    content_type = request.headers["content-type"]
    body = request.read()
    if content_type.startswith("application/json"):
        return json.loads(body), {}
    assert content_type.startswith("multipart/form-data")
    parsed = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
    )
    payload: dict[str, Any] = {}
    files: dict[str, tuple[str, bytes]] = {}
    for part in parsed.iter_parts():
        name = str(part.get_param("name", header="content-disposition"))
        data = part.get_payload(decode=True)
        if name == "payload_json":
            payload = json.loads(data)
        else:
            files[name] = (str(part.get_filename()), data)
    return payload, files


def check_execute(request: httpx.Request) -> dict[str, Any]:
    """Validate an execute-webhook request against the spec; return its JSON."""
    assert request.method == "POST"
    assert EXECUTE_WAIT.match(str(request.url)), request.url
    operation = SPEC["paths"]["/webhooks/{webhook_id}/{webhook_token}"]["post"]
    query = {p["name"]: p["schema"] for p in operation["parameters"]}
    for key, value in request.url.params.items():
        assert key in query, f"unknown query parameter {key}"
        validate(value == "true" if key == "wait" else value, query[key])
    payload, files = execute_body(request)
    kind = request.headers["content-type"].split(";")[0]
    validate(payload, at(*WEBHOOK_PATH, "post", "requestBody", "content", kind, "schema"))
    known = SPEC["components"]["schemas"]["IncomingWebhookRequestPartial"]["properties"]
    assert set(payload) <= set(known), f"unknown fields {set(payload) - set(known)}"
    for embed in payload.get("embeds", []):
        embed_keys = SPEC["components"]["schemas"]["RichEmbed"]["properties"]
        assert set(embed) <= set(embed_keys), f"unknown embed fields {set(embed) - set(embed_keys)}"
    for index, attachment in enumerate(payload.get("attachments", [])):
        assert f"files[{attachment['id']}]" in files, f"attachment {index} has no files[n] part"
        assert files[f"files[{attachment['id']}]"][0] == attachment["filename"]
    return payload
