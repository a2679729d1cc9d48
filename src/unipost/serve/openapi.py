"""The OpenAPI 3.1 document of the API, written by hand so that it says what the code promises.

It is served at ``/v1/openapi.json`` and checked in as ``docs/openapi.json``
(``python -m unipost.serve.openapi > docs/openapi.json``); a test keeps the two
equal, and Schemathesis fuzzes the running server against it.
"""

from __future__ import annotations

import json
from typing import Any

from unipost import __version__
from unipost.outbox import State

__all__ = ["document"]

_REF = "#/components/schemas/"
_STATES = [s.value for s in State]
_REPORT_STATUSES = ["succeeded", "partial", "pending", "failed", "ambiguous"]
_BREAKER_STATES = ["closed", "open", "half_open", "isolated"]


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": _REF + name}


def _nullable(kind: str | list[str]) -> dict[str, Any]:
    kinds = [kind] if isinstance(kind, str) else kind
    return {"type": [*kinds, "null"]}


def _object(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }
    schema["required"] = list(properties) if required is None else required
    return schema


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/problem+json": {"schema": _ref("Problem")}},
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

_SAFE_ID = {"type": "string", "pattern": "^[A-Za-z0-9._~:-]{1,200}$"}


def _schemas() -> dict[str, Any]:
    attempt = _object(
        {
            "n": {"type": "integer"},
            "started_at": {"type": "number", "description": "Epoch seconds."},
            "duration": {"type": "number", "description": "Seconds."},
            "error_class": _nullable("string"),
            "http_status": _nullable("integer"),
            "platform_code": _nullable("string"),
            "retry_after": _nullable("number"),
            "request_id": _nullable("string"),
            "message": _nullable("string"),
        }
    )
    record_properties = {
        "id": {"type": "string"},
        "post_id": {"type": "string"},
        "revision": {"type": "integer"},
        "channel": {"type": "string"},
        "path": {"type": "string", "description": "Position in the route, e.g. `0.1`."},
        "state": {"type": "string", "enum": _STATES},
        "attempts": {"type": "integer"},
        "next_attempt_at": _nullable("number"),
        "ttl_at": {"type": "number"},
        "last_class": _nullable("string"),
        "last_error": _nullable("string"),
        "platform_id": _nullable("string"),
        "url": _nullable("string"),
        "possible_duplicate": {"type": "boolean"},
        "moved_on": {"type": "boolean", "description": "A first_of moved past this alternative."},
        "created_at": {"type": "number"},
        "updated_at": {"type": "number"},
    }
    timeline_entry = {
        **attempt,
        "properties": {
            **attempt["properties"],
            "waited": {
                **_nullable("number"),
                "description": "Seconds since the previous attempt ended.",
            },
        },
        "required": [*attempt["required"], "waited"],
    }
    media = {
        "type": "object",
        "description": "An image or video: by `url`, or inline as base64 `data`. Never a path.",
        "properties": {
            "url": {"type": "string"},
            "data": {"type": "string", "contentEncoding": "base64"},
            "filename": {"type": "string"},
            "alt": _nullable("string"),
            "mime_type": {"type": "string"},
            "size": {"type": "integer"},
        },
        "additionalProperties": False,
    }
    variant = {
        "type": "object",
        "properties": {
            "text": _nullable("string"),
            "title": _nullable("string"),
            "link": _nullable("string"),
            "tags": {"type": ["array", "null"], "items": {"type": "string"}},
            "media": {"type": ["array", "null"], "items": _ref("Media")},
        },
        "additionalProperties": False,
    }
    post = {
        "type": "object",
        "description": "What to publish. `id` may come from the Idempotency-Key header instead.",
        "properties": {
            "id": _SAFE_ID,
            "text": _nullable("string"),
            "title": _nullable("string"),
            "link": _nullable("string"),
            "tags": {"type": "array", "items": {"type": "string"}},
            "language": _nullable("string"),
            "media": {"type": "array", "items": _ref("Media")},
            "variants": {"type": "object", "additionalProperties": _ref("Variant")},
            "revision": {"type": "integer", "minimum": 1},
            "publish_at": {"type": "string", "format": "date-time"},
            "ttl": {"type": "number", "exclusiveMinimum": 0, "maximum": 31536000},
            "metadata": {"type": "object", "additionalProperties": {"type": "string"}},
        },
        "additionalProperties": False,
    }
    route = {
        "description": "A route name or channel, a list (all of them), or a nested route.",
        "oneOf": [
            {"type": "string"},
            {"type": "array", "items": _ref("Route")},
            {
                "type": "object",
                "properties": {
                    "all_of": {"type": "array", "items": _ref("Route")},
                    "min_success": {"type": "integer", "minimum": 1},
                },
                "required": ["all_of"],
                "additionalProperties": False,
            },
            {
                "type": "object",
                "properties": {
                    "first_of": {"type": "array", "items": _ref("Route")},
                    "patience": {"type": "number"},
                    "on_ambiguous": {"type": "string", "enum": ["hold", "move_on"]},
                },
                "required": ["first_of"],
                "additionalProperties": False,
            },
        ],
    }
    outcome = _object(
        {
            "channel": {"type": "string"},
            "record_id": _nullable("string"),
            "state": {"type": "string", "enum": _STATES},
            "platform_id": _nullable("string"),
            "url": _nullable("string"),
            "reason": _nullable("string"),
            "error_class": _nullable("string"),
            "next_attempt_at": _nullable("number"),
            "possible_duplicate": {"type": "boolean"},
            "attempts": {"type": "array", "items": _ref("Attempt")},
            "recipients": {
                "type": "array",
                "items": _object(
                    {
                        "recipient": {"type": "string"},
                        "ok": {"type": "boolean"},
                        "platform_id": _nullable("string"),
                        "reason": _nullable("string"),
                    }
                ),
            },
        }
    )
    report = _object(
        {
            "post_id": {"type": "string"},
            "revision": {"type": "integer"},
            "status": {"type": "string", "enum": _REPORT_STATUSES},
            "durable": {"type": "boolean"},
            "started_at": {"type": "number"},
            "finished_at": {"type": "number"},
            "warnings": {"type": "array", "items": {"type": "string"}},
            "report_url": {"type": "string"},
            "outcomes": {"type": "array", "items": _ref("Outcome")},
        }
    )
    return {
        "Problem": {
            "type": "object",
            "description": "RFC 9457 problem details.",
            "properties": {
                "type": {"type": "string"},
                "title": {"type": "string"},
                "status": {"type": "integer"},
                "code": {"type": "string", "description": "Stable machine-readable name."},
                "detail": {"type": "string"},
                "field": {"type": "string", "description": "The input field at fault."},
                "fix": {"type": "string", "description": "How to fix it."},
                "instance": {"type": "string"},
            },
            "required": ["type", "title", "status", "code", "detail"],
        },
        "Attempt": attempt,
        "TimelineEntry": timeline_entry,
        "Record": _object(record_properties),
        "RecordDetail": _object(
            {
                **record_properties,
                "timeline": {"type": "array", "items": _ref("TimelineEntry")},
            }
        ),
        "Media": media,
        "Variant": variant,
        "Post": post,
        "Route": route,
        "PublishRequest": _object(
            {
                "post": _ref("Post"),
                "to": _ref("Route"),
                "deadline": {
                    "type": "number",
                    "minimum": 0,
                    "description": "Seconds to wait before answering 202 (capped by the server).",
                },
            },
            required=["post"],
        ),
        "PreviewRequest": _object({"post": _ref("Post"), "to": _ref("Route")}, required=["post"]),
        "Outcome": outcome,
        "Report": report,
        "Preview": _object(
            {
                "prepared": {
                    "type": "object",
                    "additionalProperties": _object(
                        {
                            "parts": {"type": "array", "items": {"type": "string"}},
                            "changes": {
                                "type": "array",
                                "items": _object(
                                    {"kind": {"type": "string"}, "detail": {"type": "string"}}
                                ),
                            },
                        }
                    ),
                },
                "rejected": {
                    "type": "object",
                    "additionalProperties": _object(
                        {
                            "field": {"type": "string"},
                            "detail": {"type": "string"},
                            "fix": {"type": "string"},
                        }
                    ),
                },
                "warnings": {"type": "array", "items": {"type": "string"}},
            }
        ),
        "Channel": _object(
            {
                "id": {"type": "string"},
                "type": {"type": "string"},
                "failure_domain": {"type": "string"},
                "text_limit": _nullable("integer"),
                "text_unit": {"type": "string"},
                "max_media": {"type": "integer"},
                "idempotency": {
                    "type": "array",
                    "items": {"type": "string", "enum": ["key", "client_id", "lookup"]},
                },
            }
        ),
        "Breaker": _object(
            {
                "domain": {"type": "string"},
                "state": {"type": "string", "enum": _BREAKER_STATES},
                "open_until": _nullable("number"),
                "channels": {"type": "array", "items": {"type": "string"}},
            }
        ),
        "CheckResult": _object(
            {
                "channel": {"type": "string"},
                "ok": {"type": "boolean"},
                "error_class": _nullable("string"),
                "detail": {"type": "string"},
            }
        ),
    }


def _paths() -> dict[str, Any]:
    record_id = _path_param("record_id", "A record id (from a report or the outbox list).")
    post_id = _path_param("post_id", "The post id (the Idempotency-Key it was published with).")
    channel_id = _path_param("channel_id", "A configured channel id.")
    domain = _path_param("domain", "A failure domain, e.g. `meta` or `webhook:hooks.example`.")
    count = _object({"cancelled": {"type": "integer"}})
    return {
        "/v1/health": {
            "get": _operation(
                "health",
                "The process is up.",
                scope=None,
                ok={
                    "200": _json(
                        _object(
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
                        _object(
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
                body=_ref("PublishRequest"),
                parameters=[
                    {
                        "name": "Idempotency-Key",
                        "in": "header",
                        "required": False,
                        "description": "Becomes the post id: the same key returns the same post.",
                        "schema": _SAFE_ID,
                    }
                ],
                ok={
                    "200": {**_json(_ref("Report"), "Settled."), "headers": _REPORT_HEADERS},
                    "202": {
                        **_json(_ref("Report"), "Accepted; follow `report_url`."),
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
                body=_ref("PreviewRequest"),
                ok={"200": _json(_ref("Preview"))},
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
                ok={"200": _json(_ref("Report"))},
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
                        "schema": {"type": "array", "items": {"type": "string", "enum": _STATES}},
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
                ok={"200": _json(_object({"records": {"type": "array", "items": _ref("Record")}}))},
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
                ok={"200": _json(_ref("RecordDetail"))},
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
                ok={"200": _json(_ref("Record"))},
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
                body=_object(
                    {
                        "delivered": {"type": "boolean"},
                        "url": _nullable("string"),
                        "platform_id": _nullable("string"),
                    },
                    required=["delivered"],
                ),
                ok={"200": _json(_ref("Record"))},
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
                        _object(
                            {
                                "channels": {"type": "array", "items": _ref("Channel")},
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
                ok={"200": _json(_ref("CheckResult"))},
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
                        _object({"channel": {"type": "string"}, "unblocked": {"type": "integer"}})
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
                    "200": _json(_object({"breakers": {"type": "array", "items": _ref("Breaker")}}))
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
                body=_object(
                    {"seconds": {"type": "number", "minimum": 1, "maximum": 604800}},
                    required=["seconds"],
                ),
                ok={"200": _json(_ref("Breaker"))},
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
                ok={"200": _json(_ref("Breaker"))},
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
            "schemas": _schemas(),
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
