"""The component schemas of the OpenAPI document: what every request and answer looks like."""

from __future__ import annotations

from typing import Any

from unipost.outbox import State

__all__ = ["SAFE_ID", "STATES", "json_object", "nullable", "ref", "schemas"]

_REF = "#/components/schemas/"
STATES = [s.value for s in State]
_REPORT_STATUSES = ["succeeded", "partial", "pending", "failed", "ambiguous"]
_BREAKER_STATES = ["closed", "open", "half_open", "isolated"]


def ref(name: str) -> dict[str, Any]:
    return {"$ref": _REF + name}


def nullable(kind: str | list[str]) -> dict[str, Any]:
    kinds = [kind] if isinstance(kind, str) else kind
    return {"type": [*kinds, "null"]}


def json_object(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }
    schema["required"] = list(properties) if required is None else required
    return schema


SAFE_ID = {"type": "string", "pattern": "^[A-Za-z0-9._~:-]{1,200}$"}


def schemas() -> dict[str, Any]:
    attempt = json_object(
        {
            "n": {"type": "integer"},
            "started_at": {"type": "number", "description": "Epoch seconds."},
            "duration": {"type": "number", "description": "Seconds."},
            "error_class": nullable("string"),
            "http_status": nullable("integer"),
            "platform_code": nullable("string"),
            "retry_after": nullable("number"),
            "request_id": nullable("string"),
            "message": nullable("string"),
        }
    )
    record_properties = {
        "id": {"type": "string"},
        "post_id": {"type": "string"},
        "revision": {"type": "integer"},
        "channel": {"type": "string"},
        "path": {"type": "string", "description": "Position in the route, e.g. `0.1`."},
        "state": {"type": "string", "enum": STATES},
        "attempts": {"type": "integer"},
        "next_attempt_at": nullable("number"),
        "ttl_at": {"type": "number"},
        "last_class": nullable("string"),
        "last_error": nullable("string"),
        "platform_id": nullable("string"),
        "url": nullable("string"),
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
                **nullable("number"),
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
            "alt": nullable("string"),
            "mime_type": {"type": "string"},
            "size": {"type": "integer"},
        },
        "additionalProperties": False,
    }
    variant = {
        "type": "object",
        "properties": {
            "text": nullable("string"),
            "title": nullable("string"),
            "link": nullable("string"),
            "tags": {"type": ["array", "null"], "items": {"type": "string"}},
            "media": {"type": ["array", "null"], "items": ref("Media")},
        },
        "additionalProperties": False,
    }
    post = {
        "type": "object",
        "description": "What to publish. `id` may come from the Idempotency-Key header instead.",
        "properties": {
            "id": SAFE_ID,
            "text": nullable("string"),
            "title": nullable("string"),
            "link": nullable("string"),
            "tags": {"type": "array", "items": {"type": "string"}},
            "language": nullable("string"),
            "media": {"type": "array", "items": ref("Media")},
            "variants": {"type": "object", "additionalProperties": ref("Variant")},
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
            {"type": "array", "items": ref("Route")},
            {
                "type": "object",
                "properties": {
                    "all_of": {"type": "array", "items": ref("Route")},
                    "min_success": {"type": "integer", "minimum": 1},
                },
                "required": ["all_of"],
                "additionalProperties": False,
            },
            {
                "type": "object",
                "properties": {
                    "first_of": {"type": "array", "items": ref("Route")},
                    "patience": {"type": "number"},
                    "on_ambiguous": {"type": "string", "enum": ["hold", "move_on"]},
                },
                "required": ["first_of"],
                "additionalProperties": False,
            },
        ],
    }
    outcome = json_object(
        {
            "channel": {"type": "string"},
            "record_id": nullable("string"),
            "state": {"type": "string", "enum": STATES},
            "platform_id": nullable("string"),
            "url": nullable("string"),
            "reason": nullable("string"),
            "error_class": nullable("string"),
            "next_attempt_at": nullable("number"),
            "possible_duplicate": {"type": "boolean"},
            "attempts": {"type": "array", "items": ref("Attempt")},
            "recipients": {
                "type": "array",
                "items": json_object(
                    {
                        "recipient": {"type": "string"},
                        "ok": {"type": "boolean"},
                        "platform_id": nullable("string"),
                        "reason": nullable("string"),
                    }
                ),
            },
        }
    )
    report = json_object(
        {
            "post_id": {"type": "string"},
            "revision": {"type": "integer"},
            "status": {"type": "string", "enum": _REPORT_STATUSES},
            "durable": {"type": "boolean"},
            "started_at": {"type": "number"},
            "finished_at": {"type": "number"},
            "warnings": {"type": "array", "items": {"type": "string"}},
            "report_url": {"type": "string"},
            "outcomes": {"type": "array", "items": ref("Outcome")},
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
        "Record": json_object(record_properties),
        "RecordDetail": json_object(
            {
                **record_properties,
                "timeline": {"type": "array", "items": ref("TimelineEntry")},
            }
        ),
        "Media": media,
        "Variant": variant,
        "Post": post,
        "Route": route,
        "PublishRequest": json_object(
            {
                "post": ref("Post"),
                "to": ref("Route"),
                "deadline": {
                    "type": "number",
                    "minimum": 0,
                    "description": "Seconds to wait before answering 202 (capped by the server).",
                },
            },
            required=["post"],
        ),
        "PreviewRequest": json_object({"post": ref("Post"), "to": ref("Route")}, required=["post"]),
        "Outcome": outcome,
        "Report": report,
        "Preview": json_object(
            {
                "prepared": {
                    "type": "object",
                    "additionalProperties": json_object(
                        {
                            "parts": {"type": "array", "items": {"type": "string"}},
                            "changes": {
                                "type": "array",
                                "items": json_object(
                                    {"kind": {"type": "string"}, "detail": {"type": "string"}}
                                ),
                            },
                        }
                    ),
                },
                "rejected": {
                    "type": "object",
                    "additionalProperties": json_object(
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
        "Channel": json_object(
            {
                "id": {"type": "string"},
                "type": {"type": "string"},
                "failure_domain": {"type": "string"},
                "text_limit": nullable("integer"),
                "text_unit": {"type": "string"},
                "max_media": {"type": "integer"},
                "idempotency": {
                    "type": "array",
                    "items": {"type": "string", "enum": ["key", "client_id", "lookup"]},
                },
            }
        ),
        "Breaker": json_object(
            {
                "domain": {"type": "string"},
                "state": {"type": "string", "enum": _BREAKER_STATES},
                "open_until": nullable("number"),
                "channels": {"type": "array", "items": {"type": "string"}},
                "advisory": {
                    "description": "what the domain's status feed reports",
                    "type": ["string", "null"],
                    "enum": ["minor", "major", None],
                },
                "advice": nullable("string"),
            }
        ),
        "CheckResult": json_object(
            {
                "channel": {"type": "string"},
                "ok": {"type": "boolean"},
                "error_class": nullable("string"),
                "detail": {"type": "string"},
            }
        ),
    }
