"""Google Business Profile test helpers: a validator for the discovery document, error bodies."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import jsonschema

DATA = Path(__file__).parent / "data"
API = "https://mybusiness.googleapis.com"
TOKEN_URL = "https://oauth2.googleapis.com/token"
PARENT = "accounts/1234567890/locations/9876543210"
ERRORS: dict[str, Any] = json.loads((DATA / "errors.json").read_text())
DISCOVERY: dict[str, Any] = json.loads((DATA / "mybusiness-v4-localposts.json").read_text())
METHODS: dict[str, Any] = DISCOVERY["resources"]["accounts"]["resources"]["locations"]["resources"][
    "localPosts"
]["methods"]


def error(name: str) -> dict[str, Any]:
    case = ERRORS[name]
    return {"status_code": case["status"], "json": case["body"]}


def _json_schema(node: dict[str, Any], *, request: bool) -> dict[str, Any]:
    """A discovery schema as JSON Schema: unknown fields and, in requests, output-only ones refused."""
    if "$ref" in node:
        return {"$ref": f"#/definitions/{node['$ref']}"}
    kind = node.get("type")
    out: dict[str, Any] = {}
    if kind == "object" or "properties" in node:
        props = {
            name: _json_schema(prop, request=request)
            for name, prop in node.get("properties", {}).items()
            if not (request and prop.get("readOnly"))
        }
        out = {"type": "object", "properties": props, "additionalProperties": False}
    elif kind == "array":
        out = {"type": "array", "items": _json_schema(node["items"], request=request)}
    elif kind in ("string", "integer", "boolean", "number"):
        out = {"type": kind}
    if "enum" in node:
        out["enum"] = node["enum"]
    return out


def _document(root: str, *, request: bool) -> dict[str, Any]:
    definitions = {
        name: _json_schema(schema, request=request) for name, schema in DISCOVERY["schemas"].items()
    }
    return {"$ref": f"#/definitions/{root}", "definitions": definitions}


def _path_pattern(method: dict[str, Any]) -> str:
    """``v4/{+parent}/localPosts`` with each parameter's own pattern in its place."""
    pieces = re.split(r"\{\+(\w+)\}", method["path"])
    pattern = re.escape(DISCOVERY["rootUrl"])
    for index, piece in enumerate(pieces):
        if index % 2:
            pattern += method["parameters"][piece]["pattern"].removeprefix("^").removesuffix("$")
        else:
            pattern += re.escape(piece)
    return pattern


def validate(request: httpx.Request) -> str:
    """Which ``localPosts`` method ``request`` is, after checking it against the document."""
    url = str(request.url.copy_with(query=None))
    for name, method in METHODS.items():
        if method["httpMethod"] != request.method or not re.fullmatch(_path_pattern(method), url):
            continue
        query = {k: v for k, v in method["parameters"].items() if v["location"] == "query"}
        for key, value in request.url.params.multi_items():
            assert key in query, f"{name}: unknown query parameter {key}"
            if query[key]["type"] == "integer":
                int(value)
        request.read()
        if "request" in method:
            document = _document(method["request"]["$ref"], request=True)
            jsonschema.Draft7Validator(document).validate(json.loads(request.content))
        else:
            assert not request.content, f"{name} takes no body"
        return str(method["id"])
    raise AssertionError(f"{request.method} {url} is no localPosts method of mybusiness v4")


def validate_response(root: str, body: Any) -> None:
    jsonschema.Draft7Validator(_document(root, request=False)).validate(body)
