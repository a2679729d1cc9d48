"""Check the requests a plugin builds against the platform's OpenAPI (3.x) or Swagger (2.0) spec.

Used in plugin tests: find the operation by method and path template, then
validate the JSON or form body and the query parameters against the schemas
the spec declares (with ``$ref``s resolved inside the spec). Needs
``jsonschema`` (a test dependency), imported on use.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

import httpx

__all__ = ["OpenAPI"]


def _coerce(value: str, schema: Mapping[str, Any]) -> Any:
    """A form or query string as the type its schema declares."""
    kind = schema.get("type")
    if kind == "boolean" and value in ("true", "false"):
        return value == "true"
    if kind in ("integer", "number"):
        try:
            return int(value) if kind == "integer" else float(value)
        except ValueError:
            return value
    return value


def _nullable(node: Any) -> Any:
    """OpenAPI 3.0's ``nullable: true`` as JSON Schema's ``type: [..., "null"]``."""
    if isinstance(node, list):
        return [_nullable(item) for item in node]
    if not isinstance(node, Mapping):
        return node
    result = {key: _nullable(value) for key, value in node.items()}
    if result.get("nullable") is True and isinstance(result.get("type"), str):
        result["type"] = [result["type"], "null"]
        if "enum" in result:
            result["enum"] = [*result["enum"], None]
    return result


class OpenAPI:
    """One spec document; ``validate(request)`` raises ``jsonschema.ValidationError``."""

    def __init__(self, spec: Mapping[str, Any], *, base_path: str = "") -> None:
        from referencing import Registry
        from referencing.jsonschema import DRAFT7

        self.spec = spec
        self.base_path = base_path.rstrip("/") or self._swagger_base()
        document = _nullable(spec)
        self.registry: Any = Registry().with_resource("urn:spec", DRAFT7.create_resource(document))
        self._paths = [
            (re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(path)) + "$"), path)
            for path in spec["paths"]
        ]

    def _swagger_base(self) -> str:
        return str(self.spec.get("basePath", "")).rstrip("/")

    def _schema(self, schema: Mapping[str, Any]) -> dict[str, Any]:
        """``schema`` with its ``$ref``s pointing into the spec document."""
        text = json.dumps(schema).replace('"$ref": "#/', '"$ref": "urn:spec#/')
        result: dict[str, Any] = json.loads(text)
        return result

    def _check(self, instance: Any, schema: Mapping[str, Any]) -> None:
        import jsonschema

        validator = jsonschema.Draft7Validator(
            _nullable(self._schema(schema)), registry=self.registry
        )
        validator.validate(instance)

    def _resolve(self, node: Mapping[str, Any]) -> Mapping[str, Any]:
        while "$ref" in node:
            target: Any = self.spec
            for part in str(node["$ref"]).removeprefix("#/").split("/"):
                target = target[part]
            node = target
        return node

    def operation(self, method: str, path: str) -> tuple[str, Mapping[str, Any]]:
        """The path template and operation object for ``method path``; KeyError if undocumented."""
        local = path.removeprefix(self.base_path) if self.base_path else path
        for pattern, template in self._paths:
            if pattern.match(local):
                operations = self.spec["paths"][template]
                if method.lower() in operations:
                    return template, operations[method.lower()]
        raise KeyError(f"{method} {path} is not in the spec")

    def _parameters(self, template: str, operation: Mapping[str, Any]) -> list[Mapping[str, Any]]:
        shared = self.spec["paths"][template].get("parameters", [])
        return [self._resolve(p) for p in [*shared, *operation.get("parameters", [])]]

    def validate(self, request: httpx.Request) -> str:
        """Validate query and body of ``request``; returns the matched path template."""
        template, operation = self.operation(request.method, request.url.path)
        parameters = self._parameters(template, operation)
        self._validate_query(request, parameters)
        request.read()
        content_type = request.headers.get("content-type", "").split(";")[0].strip()
        body_parameter = next((p for p in parameters if p.get("in") == "body"), None)
        if body_parameter is not None:  # Swagger 2.0
            if body_parameter.get("required") or request.content:
                self._check(json.loads(request.content or b"null"), body_parameter["schema"])
            return template
        if "requestBody" not in operation:
            assert not request.content, f"{request.method} {template} takes no body"
            return template
        body = self._resolve(operation["requestBody"])
        media = body["content"].get(content_type)
        assert media is not None, f"{template} does not take {content_type or 'no body'}"
        schema = self._resolve(media["schema"])
        if content_type == "application/x-www-form-urlencoded":
            self._check(self._form(request.content.decode(), schema), schema)
        else:
            self._check(json.loads(request.content), schema)
        return template

    def _form(self, text: str, schema: Mapping[str, Any]) -> dict[str, Any]:
        properties = schema.get("properties", {})
        form: dict[str, Any] = {}
        for name, value in parse_qsl(text, keep_blank_values=True):
            declared = self._resolve(properties.get(name, {}))
            if declared.get("type") == "array":
                form.setdefault(name, []).append(_coerce(value, declared.get("items", {})))
            else:
                assert name not in form, f"form field {name} repeated"
                form[name] = _coerce(value, declared)
        return form

    def _validate_query(self, request: httpx.Request, parameters: list[Mapping[str, Any]]) -> None:
        declared = {p["name"]: p for p in parameters if p.get("in") == "query"}
        seen = set()
        for name, value in request.url.params.multi_items():
            assert name in declared, f"query parameter {name} is not in the spec"
            parameter = declared[name]
            schema = parameter.get("schema", parameter)  # 3.x: schema; 2.0: inline type
            schema = {k: v for k, v in schema.items() if k not in ("in", "name", "required")}
            self._check(_coerce(value, schema), schema)
            seen.add(name)
        missing = [n for n, p in declared.items() if p.get("required") and n not in seen]
        assert not missing, f"required query parameters missing: {missing}"

    def validate_response(self, method: str, path: str, status: int, body: Any) -> None:
        """Check a response body used in a test against the documented response schema."""
        _template, operation = self.operation(method, path)
        responses = operation["responses"]
        response = self._resolve(responses.get(str(status)) or responses["default"])
        schema: Any = response.get("schema")  # 2.0
        if schema is None:
            content: Mapping[str, Any] = response.get("content", {})
            media: Mapping[str, Any] = next(iter(content.values()), {})
            schema = media.get("schema")
        assert schema is not None, f"no schema for {status} of {method} {path}"
        self._check(body, schema)
