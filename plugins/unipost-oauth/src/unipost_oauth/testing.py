"""Test helpers for the plugins on this layer: requests checked against OpenAPI 3.0 specs.

``structural_subset`` cuts a published spec down to the operations a plugin
calls, keeping only structure (types, required, enums, patterns, lengths,
``$ref``s) so that prose under other licences is not copied into test data.
``OpenAPI.validate(request)`` then finds the operation of an ``httpx.Request``
and checks its method, path, query and body against it. Needs ``jsonschema``
(a test dependency, imported on use).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

import httpx

__all__ = ["OpenAPI", "form_fields", "structural_subset"]

_PROSE = {"description", "summary", "example", "examples", "externalDocs", "title", "x-codeSamples"}
_METHODS = ("get", "post", "put", "patch", "delete")


def _structure(node: Any, *, properties: bool = False) -> Any:
    if isinstance(node, dict):
        return {
            key: _structure(value, properties=key == "properties" and not properties)
            for key, value in node.items()
            if properties or key not in _PROSE
        }
    if isinstance(node, list):
        return [_structure(item) for item in node]
    return node


def _refs(node: Any) -> Iterable[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith("#/"):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def _resolve(spec: Mapping[str, Any], pointer: str) -> Any:
    node: Any = spec
    for part in pointer.removeprefix("#/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def structural_subset(
    spec: Mapping[str, Any], operations: Iterable[tuple[str, str]]
) -> dict[str, Any]:
    """``(method, path)`` operations and every component they reach, without prose."""
    out: dict[str, Any] = {
        "openapi": spec["openapi"],
        "servers": spec.get("servers", []),
        "paths": {},
        "components": {},
    }
    for method, path in operations:
        operation = _structure(spec["paths"][path][method])
        operation.pop("responses", None)  # requests are what the tests check
        out["paths"].setdefault(path, {})[method] = operation
    pending = list(_refs(out["paths"]))
    seen: set[str] = set()
    while pending:
        pointer = pending.pop()
        if pointer in seen:
            continue
        seen.add(pointer)
        target = _structure(_resolve(spec, pointer))
        _, section, name = pointer.removeprefix("#/").split("/", 2)
        out["components"].setdefault(section, {})[name] = target
        pending.extend(_refs(target))
    return out


def form_fields(request: httpx.Request) -> dict[str, Any]:
    """A multipart body as a dict: text fields as strings, files as their bytes."""
    request.read()
    head = f"Content-Type: {request.headers['content-type']}\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(head + request.content)
    fields: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        assert isinstance(payload, bytes)
        fields[str(name)] = payload if part.get_filename() else payload.decode()
    return fields


def _typed(value: str, schema: Mapping[str, Any]) -> Any:
    """A query or form string as the type its schema asks for."""
    kind = schema.get("type")
    if kind == "array":  # style form, explode false: comma-separated
        return [_typed(item, schema.get("items", {})) for item in value.split(",")]
    try:
        if kind == "integer":
            return int(value)
        if kind == "number":
            return float(value)
    except ValueError:
        return value
    if kind == "boolean":
        return {"true": True, "false": False}.get(value, value)
    return value


class OpenAPI:
    """One spec (or subset) and the base URL its paths hang under."""

    def __init__(self, spec: Mapping[str, Any], base_url: str | None = None) -> None:
        self.spec = spec
        self.base = (base_url or spec["servers"][0]["url"]).rstrip("/")

    def _schema(self, schema: Mapping[str, Any]) -> Mapping[str, Any]:
        while "$ref" in schema:
            schema = _resolve(self.spec, schema["$ref"])
        return schema

    def _check(self, instance: Any, schema: Mapping[str, Any], where: str) -> None:
        import jsonschema

        document = {**dict(self.spec), "$ref": "#/x-root", "x-root": schema}
        validator = jsonschema.Draft4Validator(document)
        errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.path))
        if errors:
            raise AssertionError(f"{where}: {errors[0].message} at {list(errors[0].path)}")

    def operation(self, request: httpx.Request) -> tuple[str, Mapping[str, Any]]:
        """The spec path and operation a request is an instance of."""
        url = str(request.url.copy_with(query=None))
        assert url.startswith(self.base), f"{url} is not under {self.base}"
        path = url[len(self.base) :]
        for template, item in self.spec["paths"].items():
            pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template))
            if re.fullmatch(pattern, path) and request.method.lower() in item:
                return template, item[request.method.lower()]
        raise AssertionError(f"{request.method} {path} is not an operation of the spec")

    def validate(self, request: httpx.Request) -> str:
        """Check one request; returns its ``operationId`` (or ``METHOD path``)."""
        template, operation = self.operation(request)
        name = str(operation.get("operationId") or f"{request.method} {template}")
        parameters = [self._schema(p) for p in operation.get("parameters", [])]
        query = {p["name"]: p for p in parameters if p.get("in") == "query"}
        for key, value in request.url.params.multi_items():
            assert key in query, f"{name}: unknown query parameter {key!r}"
            schema = self._schema(query[key].get("schema", {}))
            self._check(_typed(value, schema), schema, f"{name} ?{key}")
        for key, parameter in query.items():
            if parameter.get("required"):
                assert key in request.url.params, f"{name}: query parameter {key!r} is required"
        body = operation.get("requestBody")
        request.read()
        if body is None:
            assert not request.content, f"{name} takes no body"
            return name
        media = request.headers.get("content-type", "").split(";")[0].strip()
        content = body["content"]
        assert media in content, f"{name}: {media or 'no body'} is not one of {sorted(content)}"
        schema = self._schema(content[media]["schema"])
        if media == "application/json":
            instance = json.loads(request.content)
        elif media == "multipart/form-data":
            properties = schema.get("properties", {})
            instance = {
                key: "<binary>"
                if isinstance(value, bytes)
                else _typed(value, self._schema(properties.get(key, {})))
                for key, value in form_fields(request).items()
            }
        else:
            raise AssertionError(f"{name}: no check for {media} bodies")
        self._check(instance, schema, name)
        return name
