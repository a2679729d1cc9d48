"""Shared helpers: Graph URLs for pytest-httpx, error bodies, and the node-spec checker."""

from __future__ import annotations

import datetime as dt
import json
import re
from email.parser import BytesParser
from email.policy import HTTP
from pathlib import Path
from typing import Any

import httpx
import pytest

from unipost.redact import forget_secrets

SPECS = Path(__file__).parent / "data" / "meta"
#: Parameters Graph takes on every call, so the node specs do not list them.
UNIVERSAL = {"access_token", "appsecret_proof", "fields", "limit"}


class Graph:
    """URLs and bodies for one Graph host, as pytest-httpx matchers."""

    def __init__(self, root: str) -> None:
        self.root = root

    def url(self, path: str) -> re.Pattern[str]:
        """Match ``root/path`` with any query string."""
        return re.compile(rf"^{re.escape(self.root)}/{re.escape(path)}(\?.*)?$")

    @staticmethod
    def error(
        code: int, subcode: int | None = None, message: str = "error", **extra: Any
    ) -> dict[str, Any]:
        error: dict[str, Any] = {"message": message, "type": "OAuthException", "code": code}
        if subcode is not None:
            error["error_subcode"] = subcode
        error["fbtrace_id"] = "AbCdTrace1"
        error.update(extra)
        return {"error": error}


@pytest.fixture(autouse=True)
def _fresh_secrets() -> Any:
    yield
    forget_secrets()


def request_params(request: httpx.Request) -> tuple[dict[str, str], set[str]]:
    """Every parameter of a Graph request (query, form or multipart) and the file field names."""
    params = dict(request.url.params)
    files: set[str] = set()
    content_type = request.headers.get("content-type", "")
    body = request.read()
    if content_type.startswith("application/x-www-form-urlencoded"):
        params.update(httpx.QueryParams(body.decode()))
    elif content_type.startswith("multipart/form-data"):
        message = BytesParser(policy=HTTP).parsebytes(
            b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
        )
        for part in message.iter_parts():
            name = str(part.get_param("name", header="content-disposition"))
            if part.get_filename():
                files.add(name)
            else:
                params[name] = str(part.get_content())
    return params, files


def _type_ok(spec_type: str, value: str) -> bool:
    if spec_type == "bool":
        return value in {"true", "false"}
    if spec_type == "unsigned int":
        return value.isdigit()
    if spec_type == "int":
        return re.fullmatch(r"-?\d+", value) is not None
    if spec_type == "datetime":
        if value.isdigit():
            return True
        try:
            dt.datetime.fromisoformat(value)
        except ValueError:
            return False
        return True
    if spec_type.startswith("list"):
        try:
            decoded = json.loads(value)
        except ValueError:
            # Graph also takes list<string> as a comma-separated string (IG ``children``).
            return spec_type == "list<string>" and all(value.split(","))
        if not isinstance(decoded, list):
            return False
        if spec_type == "list<Object>":
            return all(isinstance(item, dict) for item in decoded)
        if spec_type == "list<string>":
            return all(isinstance(item, str) for item in decoded)
        return True
    if spec_type in {"Object", "map"}:
        try:
            return isinstance(json.loads(value), dict)
        except ValueError:
            return False
    return True  # string and the *_enum_param types


class NodeSpecs:
    """Meta's codegen node specs: which params an edge takes, of which type, and node fields."""

    def __init__(self) -> None:
        self.nodes = {path.stem: json.loads(path.read_text()) for path in SPECS.glob("*.json")}

    def api(self, node: str, method: str, edge: str | None) -> dict[str, Any]:
        for api in self.nodes[node]["apis"]:
            if api["method"] == method and api.get("endpoint") == edge:
                return dict(api)
        raise AssertionError(f"{method} {node}/{edge or ''} is not in the stored spec")

    def check(
        self, request: httpx.Request, node: str, edge: str | None, *, files: tuple[str, ...] = ()
    ) -> None:
        """Assert that ``request`` only uses params the spec lists, with values of its types."""
        api = self.api(node, request.method, edge)
        params, sent_files = request_params(request)
        assert sent_files <= set(files), f"unexpected file fields {sent_files - set(files)}"
        declared = {p["name"]: p for p in api.get("params", [])}
        for name, value in params.items():
            if name in UNIVERSAL:
                continue
            assert name in declared, f"{request.method} {node}/{edge}: {name!r} is not a parameter"
            spec_type = declared[name]["type"]
            assert _type_ok(spec_type, value), (
                f"{node}/{edge} {name}={value!r} is not a {spec_type}"
            )
        for name, param in declared.items():
            if param.get("required"):
                assert name in params, f"{node}/{edge}: required {name!r} missing"
        returned = api.get("return")
        if request.method == "GET" and "fields" in params and returned in self.nodes:
            known = {field["name"] for field in self.nodes[returned]["fields"]}
            for field in params["fields"].split(","):
                assert field in known, f"{returned} has no field {field!r}"


@pytest.fixture(scope="session")
def specs() -> NodeSpecs:
    return NodeSpecs()


@pytest.fixture
def params() -> Any:
    """``params(request)``: the request's Graph parameters and file field names."""
    return request_params
