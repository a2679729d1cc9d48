"""Reading API input: JSON bodies, query strings, posts, routes and idempotency keys.

Every check names the field at fault and the fix (a 422 problem), before
anything reaches the dispatcher. Media come by URL or as base64 bytes, never
as a path on the server.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import math
import re
from collections.abc import Mapping
from typing import Any

from starlette.requests import Request

from unipost.config import _route_from_toml
from unipost.errors import UsageError
from unipost.models import Media, Post, Variant
from unipost.routes import Route
from unipost.serve.problems import Problem
from unipost.serve.runtime import Runtime

__all__ = [
    "idempotency_key",
    "invalid",
    "number",
    "only_query",
    "post_from_json",
    "read_json",
    "route_from_json",
    "string",
    "strings",
    "unknown_keys",
]

_POST_KEYS = {
    "id",
    "text",
    "title",
    "link",
    "tags",
    "language",
    "media",
    "variants",
    "revision",
    "publish_at",
    "ttl",
    "metadata",
}
_MEDIA_KEYS = {"url", "data", "filename", "alt", "mime_type", "size"}
_VARIANT_KEYS = {"text", "title", "link", "tags", "media"}

#: Ids that arrive over HTTP become URL path segments (the report URL), so: URL-safe only.
_SAFE_ID = re.compile(r"[A-Za-z0-9._~:-]{1,200}")


async def read_json(request: Request, *, required: bool = True) -> dict[str, Any]:
    """The request body as a JSON object, or a 400/415/422 problem."""
    raw = await request.body()
    if not raw.strip() and not required:
        return {}
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/json" and not kind.endswith("+json"):
        raise Problem(
            415,
            "unsupported_media_type",
            f"the body is {kind or 'untyped'}, not JSON",
            fix="send Content-Type: application/json",
        )
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Problem(
            400, "invalid_json", f"the body is not valid JSON ({exc})", fix="send a JSON object"
        ) from None
    if not isinstance(data, dict):
        raise Problem(422, "invalid", "the body is not a JSON object", field="body", fix="send {}")
    return data


def invalid(field: str, problem: str, fix: str) -> Problem:
    return Problem(422, "invalid", problem, field=field, fix=fix)


def only_query(request: Request, *allowed: str) -> None:
    """Refuse query parameters the operation does not have (a typo must not be ignored)."""
    unknown = sorted(set(request.query_params) - set(allowed))
    if unknown:
        known = ", ".join(allowed) or "none"
        raise invalid(unknown[0], "is not a query parameter here", f"use {known}")


def unknown_keys(data: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise invalid(
            f"{where}.{unknown[0]}", "is not a known field", f"use {', '.join(sorted(allowed))}"
        )


def string(data: Mapping[str, Any], key: str, where: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise invalid(f"{where}.{key}", "is not a string", "send a JSON string or null")
    return value


def strings(data: Mapping[str, Any], key: str, where: str) -> list[str] | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise invalid(f"{where}.{key}", "is not a list of strings", 'send e.g. ["news"]')
    return value


def number(data: Mapping[str, Any], key: str, where: str) -> float | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise invalid(f"{where}.{key}", "is not a number", "send a JSON number")
    return float(value)


def _media(items: Any, where: str) -> tuple[Media, ...]:
    if not isinstance(items, list):
        raise invalid(where, "is not a list", "send a list of {url, alt} or {data, filename, alt}")
    found = []
    for index, item in enumerate(items):
        at = f"{where}[{index}]"
        if not isinstance(item, dict):
            raise invalid(at, "is not an object", "send {url, alt} or {data, filename, alt}")
        unknown_keys(item, _MEDIA_KEYS, at)
        alt = string(item, "alt", at)
        url = string(item, "url", at)
        data = string(item, "data", at)
        if (url is None) == (data is None):
            raise invalid(at, "needs exactly one of url and data", "give url, or base64 data")
        if url is not None:
            size = number(item, "size", at)
            found.append(
                Media.from_url(
                    url,
                    alt=alt,
                    mime_type=string(item, "mime_type", at),
                    size=None if size is None else int(size),
                )
            )
            continue
        try:
            content = base64.b64decode(data or "", validate=True)
        except (binascii.Error, ValueError):
            raise invalid(
                f"{at}.data", "is not base64", "encode the file's bytes as base64"
            ) from None
        filename = string(item, "filename", at) or "upload"
        found.append(Media.from_bytes(content, filename=filename, alt=alt))
    return tuple(found)


def _variant(data: Any, where: str) -> Variant:
    if not isinstance(data, dict):
        raise invalid(where, "is not an object", "send {text, title, link, tags, media}")
    unknown_keys(data, _VARIANT_KEYS, where)
    tags = strings(data, "tags", where)
    media = data.get("media")
    return Variant(
        text=string(data, "text", where),
        title=string(data, "title", where),
        link=string(data, "link", where),
        tags=None if tags is None else tuple(tags),
        media=None if media is None else _media(media, f"{where}.media"),
    )


def post_from_json(data: Any, *, post_id: str | None = None) -> Post:
    """A :class:`Post` from the API's JSON; media only by URL or inline bytes, never a path."""
    if not isinstance(data, dict):
        raise invalid("post", "is missing or not an object", 'send "post": {"text": "..."}')
    unknown_keys(data, _POST_KEYS, "post")
    given_id = string(data, "id", "post")
    if given_id is not None and not _SAFE_ID.fullmatch(given_id):
        raise invalid(
            "post.id", "must be 1 to 200 letters, digits and . _ ~ : -", "send e.g. offer-2026-12"
        )
    if post_id is not None and given_id is not None and given_id != post_id:
        raise invalid(
            "post.id", "differs from the Idempotency-Key header", "send one of them, or the same"
        )
    fields: dict[str, Any] = {
        "text": string(data, "text", "post"),
        "title": string(data, "title", "post"),
        "link": string(data, "link", "post"),
        "tags": tuple(strings(data, "tags", "post") or ()),
        "language": string(data, "language", "post"),
    }
    if post_id or given_id:
        fields["id"] = post_id or given_id
    if "media" in data and data["media"] is not None:
        fields["media"] = _media(data["media"], "post.media")
    variants = data.get("variants")
    if variants is not None:
        if not isinstance(variants, dict):
            raise invalid("post.variants", "is not an object", 'send {"channel": {...}}')
        fields["variants"] = {
            name: _variant(v, f"post.variants.{name}") for name, v in variants.items()
        }
    revision = data.get("revision")
    if revision is not None:
        if isinstance(revision, bool) or not isinstance(revision, int):
            raise invalid("post.revision", "is not an integer", "start at 1, add 1 per edit")
        fields["revision"] = revision
    publish_at = string(data, "publish_at", "post")
    if publish_at is not None:
        try:
            fields["publish_at"] = dt.datetime.fromisoformat(publish_at)
        except ValueError:
            raise invalid(
                "post.publish_at", "is not an ISO 8601 time", "use e.g. 2026-12-24T09:00:00+01:00"
            ) from None
    ttl = number(data, "ttl", "post")
    if ttl is not None:
        if not 0 < ttl <= 365 * 86400:
            raise invalid("post.ttl", "must be 1 s to 365 days", "give seconds, e.g. 86400")
        fields["ttl"] = dt.timedelta(seconds=ttl)
    metadata = data.get("metadata")
    if metadata is not None:
        if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
            raise invalid("post.metadata", "is not an object of strings", 'send {"k": "v"}')
        fields["metadata"] = metadata
    try:
        return Post(**fields)
    except UsageError:
        raise
    except (TypeError, ValueError) as exc:
        raise invalid("post", str(exc), "check the post's fields") from None


def route_from_json(rt: Runtime, to: Any) -> Route:
    """``"name"``, ``["a", "b"]``, ``{"all_of": [...]}`` or ``{"first_of": [...]}``; None: default."""
    if to is None or isinstance(to, str):
        return rt.config.route(to)
    if not isinstance(to, list | dict):
        raise invalid("to", "is not a route", 'send "name", ["a", "b"] or {"first_of": [...]}')
    return _route_from_toml("to", to)


def idempotency_key(request: Request) -> str | None:
    key = request.headers.get("idempotency-key")
    if key is None:
        return None
    key = key.strip().strip('"')
    if not _SAFE_ID.fullmatch(key):
        raise invalid(
            "Idempotency-Key",
            "must be 1 to 200 letters, digits and . _ ~ : -",
            "send e.g. order-1234 or a UUID",
        )
    return key
