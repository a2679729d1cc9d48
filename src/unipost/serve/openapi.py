"""The OpenAPI 3.1 document of the API, written by hand so that it says what the code promises.

It is served at ``/v1/openapi.json`` and checked in as ``docs/openapi.json``
(``python -m unipost.serve.openapi > docs/openapi.json``); a test keeps the two
equal, and Schemathesis fuzzes the running server against it.
"""

from __future__ import annotations

import json
from typing import Any

from unipost import __version__
from unipost.serve.openapi_schemas import SAFE_ID, STATES, json_object, nullable, ref, schemas

__all__ = ["document"]


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/problem+json": {"schema": ref("Problem")}},
    }


_PROBLEMS = {
    "400": "The body is not valid JSON.",
    "401": "No bearer token, or an unknown one.",
    "403": "The token lacks the scope this operation needs.",
    "404": "No such post, record, channel or failure domain.",
    "409": "The record is in a state that does not allow this.",
    "413": "The request body is larger than the server's limit.",
    "415": "The body is not JSON.",
    "422": "A field is invalid; `field` names it and `fix` says how to fix it.",
}


def _operation(
    op_id: str,
    summary: str,
    *,
    scope: str | None,
    ok: dict[str, Any],
    problems: list[str],
    body: dict[str, Any] | None = None,
    body_required: bool = True,
    parameters: list[dict[str, Any]] | None = None,
    tag: str,
) -> dict[str, Any]:
    responses: dict[str, Any] = dict(ok)
    wanted = set(problems)
    if scope is not None:
        wanted |= {"401", "403", "422"}
    if body is not None:
        wanted |= {"400", "413", "415", "422"}
    for status in sorted(wanted):
        responses[status] = _problem(_PROBLEMS[status])
    operation: dict[str, Any] = {
        "operationId": op_id,
        "summary": summary,
        "tags": [tag],
        "responses": responses,
    }
    if scope is not None:
        operation["description"] = f"Needs a token with the `{scope}` scope."
        operation["security"] = [{"bearer": []}]
        operation["x-unipost-scope"] = scope
    else:
        operation["security"] = []
    if parameters:
        operation["parameters"] = parameters
    if body is not None:
        operation["requestBody"] = {
            "required": body_required,
            "content": {"application/json": {"schema": body}},
        }
    return operation


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _path_param(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": "string"},
    }


_REPORT_HEADERS = {
    "Location": {"description": "The report URL of the post.", "schema": {"type": "string"}},
    "Idempotent-Replayed": {
        "description": "`true` when the post existed: this is the first request's result.",
        "schema": {"type": "string", "enum": ["true"]},
    },
}


def _paths() -> dict[str, Any]:
    record_id = _path_param("record_id", "A record id (from a report or the outbox list).")
    post_id = _path_param("post_id", "The post id (the Idempotency-Key it was published with).")
    channel_id = _path_param("channel_id", "A configured channel id.")
    domain = _path_param("domain", "A failure domain, e.g. `meta` or `webhook:hooks.example`.")
    count = json_object({"cancelled": {"type": "integer"}})
    return {
        "/v1/health": {
            "get": _operation(
                "health",
                "The process is up.",
                scope=None,
                ok={
                    "200": _json(
                        json_object(
                            {
                                "status": {"type": "string", "const": "ok"},
                                "version": {"type": "string"},
                            }
                        )
                    )
                },
                problems=[],
                tag="service",
            )
        },
        "/v1/ready": {
            "get": _operation(
                "ready",
                "The outbox answers and the worker runs: ready for traffic.",
                scope=None,
                ok={
                    "200": _json(
                        json_object(
                            {
                                "status": {"type": "string", "const": "ready"},
                                "checks": {
                                    "type": "object",
                                    "additionalProperties": {"type": "string"},
                                },
                            }
                        )
                    ),
                    "503": _problem("Not ready; `detail` says which check failed."),
                },
                problems=[],
                tag="service",
            )
        },
        "/v1/posts": {
            "post": _operation(
                "publish",
                "Publish a post along a route; 202 with the report URL if it is not done by the deadline.",
                scope="publish",
                body=ref("PublishRequest"),
                parameters=[
                    {
                        "name": "Idempotency-Key",
                        "in": "header",
                        "required": False,
                        "description": "Becomes the post id: the same key returns the same post.",
                        "schema": SAFE_ID,
                    }
                ],
                ok={
                    "200": {**_json(ref("Report"), "Settled."), "headers": _REPORT_HEADERS},
                    "202": {
                        **_json(ref("Report"), "Accepted; follow `report_url`."),
                        "headers": _REPORT_HEADERS,
                    },
                },
                problems=[],
                tag="publishing",
            )
        },
        "/v1/preview": {
            "post": _operation(
                "preview",
                "How a post renders per channel and what was changed; nothing is sent.",
                scope="publish",
                body=ref("PreviewRequest"),
                ok={"200": _json(ref("Preview"))},
                problems=[],
                tag="publishing",
            )
        },
        "/v1/posts/{post_id}": {
            "get": _operation(
                "report",
                "The current report of a post.",
                scope="read",
                parameters=[
                    post_id,
                    {
                        "name": "revision",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "integer", "minimum": 1},
                    },
                ],
                ok={"200": _json(ref("Report"))},
                problems=["404", "422"],
                tag="publishing",
            )
        },
        "/v1/posts/{post_id}/cancel": {
            "post": _operation(
                "cancel_post",
                "Cancel what is not delivered of a post (optionally one channel).",
                scope="operate",
                parameters=[
                    post_id,
                    {
                        "name": "channel",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "string"},
                    },
                ],
                ok={"200": _json(count)},
                problems=["404"],
                tag="outbox",
            )
        },
        "/v1/outbox": {
            "get": _operation(
                "list_outbox",
                "Delivery records, filtered (oldest first).",
                scope="read",
                parameters=[
                    {
                        "name": "state",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "array", "items": {"type": "string", "enum": STATES}},
                        "style": "form",
                        "explode": True,
                    },
                    {
                        "name": "channel",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "string"},
                    },
                    {
                        "name": "post",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "string"},
                    },
                    {
                        "name": "limit",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "integer", "minimum": 1, "maximum": 1000},
                    },
                ],
                ok={
                    "200": _json(
                        json_object({"records": {"type": "array", "items": ref("Record")}})
                    )
                },
                problems=["422"],
                tag="outbox",
            )
        },
        "/v1/outbox/{record_id}": {
            "get": _operation(
                "show_record",
                "One record and its attempt timeline.",
                scope="read",
                parameters=[record_id],
                ok={"200": _json(ref("RecordDetail"))},
                problems=["404"],
                tag="outbox",
            )
        },
        "/v1/outbox/{record_id}/retry": {
            "post": _operation(
                "retry_record",
                "Send a failed, expired, cancelled or waiting record again now.",
                scope="operate",
                parameters=[record_id],
                ok={"200": _json(ref("Record"))},
                problems=["404", "409"],
                tag="outbox",
            )
        },
        "/v1/outbox/{record_id}/cancel": {
            "post": _operation(
                "cancel_record",
                "Cancel this record's channel for its post.",
                scope="operate",
                parameters=[record_id],
                ok={"200": _json(count)},
                problems=["404"],
                tag="outbox",
            )
        },
        "/v1/outbox/{record_id}/resolve": {
            "post": _operation(
                "resolve_record",
                "Settle an ambiguous record after checking the platform.",
                scope="operate",
                parameters=[record_id],
                body=json_object(
                    {
                        "delivered": {"type": "boolean"},
                        "url": nullable("string"),
                        "platform_id": nullable("string"),
                    },
                    required=["delivered"],
                ),
                ok={"200": _json(ref("Record"))},
                problems=["404", "409"],
                tag="outbox",
            )
        },
        "/v1/channels": {
            "get": _operation(
                "list_channels",
                "Configured channels (kind, limits and failure domain; never settings).",
                scope="read",
                ok={
                    "200": _json(
                        json_object(
                            {
                                "channels": {"type": "array", "items": ref("Channel")},
                                "routes": {"type": "array", "items": {"type": "string"}},
                            }
                        )
                    )
                },
                problems=[],
                tag="channels",
            )
        },
        "/v1/channels/{channel_id}/check": {
            "post": _operation(
                "check_channel",
                "Run the channel's credential and reachability check.",
                scope="operate",
                parameters=[channel_id],
                ok={"200": _json(ref("CheckResult"))},
                problems=["404"],
                tag="channels",
            )
        },
        "/v1/channels/{channel_id}/reauthorize": {
            "post": _operation(
                "reauthorize",
                "Unblock a channel's records after its credentials were fixed.",
                scope="operate",
                parameters=[channel_id],
                ok={
                    "200": _json(
                        json_object(
                            {"channel": {"type": "string"}, "unblocked": {"type": "integer"}}
                        )
                    )
                },
                problems=["404"],
                tag="channels",
            )
        },
        "/v1/breakers": {
            "get": _operation(
                "list_breakers",
                "The circuit breaker of every failure domain.",
                scope="read",
                ok={
                    "200": _json(
                        json_object({"breakers": {"type": "array", "items": ref("Breaker")}})
                    )
                },
                problems=[],
                tag="breakers",
            )
        },
        "/v1/breakers/{domain}/isolate": {
            "post": _operation(
                "isolate",
                "Hold a failure domain open by hand: its deliveries wait or fall back.",
                scope="operate",
                parameters=[domain],
                body=json_object(
                    {"seconds": {"type": "number", "minimum": 1, "maximum": 604800}},
                    required=["seconds"],
                ),
                ok={"200": _json(ref("Breaker"))},
                problems=["404"],
                tag="breakers",
            )
        },
        "/v1/breakers/{domain}/reset": {
            "post": _operation(
                "reset",
                "Close a failure domain's breaker by hand.",
                scope="operate",
                parameters=[domain],
                ok={"200": _json(ref("Breaker"))},
                problems=["404"],
                tag="breakers",
            )
        },
    }


def document() -> dict[str, Any]:
    """The OpenAPI 3.1 document (a fresh dict each call)."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "unipost",
            "version": __version__,
            "summary": "Publish one post to many channels; inspect and operate the outbox.",
            "license": {"name": "MIT", "identifier": "MIT"},
        },
        "servers": [{"url": "http://127.0.0.1:8750"}],
        "tags": [
            {"name": "publishing"},
            {"name": "outbox"},
            {"name": "channels"},
            {"name": "breakers"},
            {"name": "service"},
        ],
        "paths": _paths(),
        "components": {
            "schemas": schemas(),
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "Tokens carry scopes: publish, read, operate (implies read).",
                }
            },
        },
    }


def render() -> str:
    """The document as the checked-in ``docs/openapi.json`` holds it."""
    return json.dumps(document(), indent=2, sort_keys=False) + "\n"


if __name__ == "__main__":  # pragma: no cover
    print(render(), end="")
