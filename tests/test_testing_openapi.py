"""unipost.testing.openapi: requests checked against OpenAPI 3 and Swagger 2 documents."""

from __future__ import annotations

from typing import Any

import httpx
import jsonschema
import pytest

from unipost.testing.openapi import OpenAPI

OAS3: dict[str, Any] = {
    "openapi": "3.0.1",
    "paths": {
        "/v1/items/{id}": {
            "post": {
                "parameters": [{"name": "dry", "in": "query", "schema": {"type": "boolean"}}],
                "requestBody": {
                    "content": {
                        "application/x-www-form-urlencoded": {
                            "schema": {
                                "type": "object",
                                "required": ["To"],
                                "properties": {
                                    "To": {"type": "string"},
                                    "Count": {"type": "integer"},
                                    "MediaUrl": {"type": "array", "items": {"type": "string"}},
                                },
                            }
                        },
                        "application/json": {"schema": {"$ref": "#/components/schemas/Item"}},
                    }
                },
                "responses": {
                    "200": {
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Item"}}
                        }
                    }
                },
            }
        }
    },
    "components": {
        "schemas": {
            "Item": {
                "type": "object",
                "required": ["name"],
                "properties": {"name": {"type": "string", "nullable": True}},
            }
        }
    },
}
SWAGGER: dict[str, Any] = {
    "swagger": "2.0",
    "basePath": "/v3",
    "paths": {
        "/things": {
            "post": {
                "parameters": [
                    {"name": "body", "in": "body", "schema": {"$ref": "#/definitions/Thing"}},
                    {"name": "limit", "in": "query", "type": "integer", "maximum": 100},
                ],
                "responses": {"201": {"schema": {"$ref": "#/definitions/Thing"}}},
            }
        }
    },
    "definitions": {
        "Thing": {"type": "object", "required": ["id"], "properties": {"id": {"type": "integer"}}}
    },
}


def test_form_bodies_are_typed_by_the_schema() -> None:
    spec = OpenAPI(OAS3)
    ok = httpx.Request(
        "POST",
        "https://api.example/v1/items/7?dry=true",
        data={"To": "+1555", "Count": "3", "MediaUrl": ["a", "b"]},
    )
    assert spec.validate(ok) == "/v1/items/{id}"
    with pytest.raises(jsonschema.ValidationError):
        spec.validate(httpx.Request("POST", "https://api.example/v1/items/7", data={"Count": "3"}))
    with pytest.raises(AssertionError, match="query parameter nope"):
        spec.validate(httpx.Request("POST", "https://api.example/v1/items/7?nope=1", json={}))


def test_nullable_and_json_bodies() -> None:
    spec = OpenAPI(OAS3)
    spec.validate(httpx.Request("POST", "https://api.example/v1/items/7", json={"name": None}))
    spec.validate_response("POST", "/v1/items/7", 200, {"name": None})
    with pytest.raises(jsonschema.ValidationError):
        spec.validate_response("POST", "/v1/items/7", 200, {})


def test_swagger_2_body_parameter_and_base_path() -> None:
    spec = OpenAPI(SWAGGER)
    spec.validate(httpx.Request("POST", "https://api.example/v3/things?limit=5", json={"id": 1}))
    with pytest.raises(jsonschema.ValidationError):
        spec.validate(httpx.Request("POST", "https://api.example/v3/things", json={"id": "x"}))
    with pytest.raises(jsonschema.ValidationError):
        spec.validate(
            httpx.Request("POST", "https://api.example/v3/things?limit=500", json={"id": 1})
        )
    with pytest.raises(KeyError):
        spec.validate(httpx.Request("GET", "https://api.example/v3/things"))
