"""The JSON API under ``/v1``: publish, preview, reports, the outbox, channels, breakers.

Handlers are thin: parse and check the input (a bad field is a 422 naming the
field and the fix, before anything is sent), call the dispatcher's public
methods, and shape the answer with :mod:`unipost.serve.queries`.
``POST /v1/posts`` maps the ``Idempotency-Key`` header onto the post id, so a
client that retries a request it never saw the answer to gets the same post
back, never a second one.
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
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from unipost import __version__
from unipost.config import _route_from_toml
from unipost.errors import (
    DeliveryError,
    IdempotencyConflict,
    StoreError,
    UsageError,
)
from unipost.models import Media, Post, Variant
from unipost.outbox import Record, State
from unipost.redact import redact
from unipost.report import ReportStatus
from unipost.routes import Route as DeliveryRoute
from unipost.serve import queries
from unipost.serve.auth import require
from unipost.serve.problems import Problem
from unipost.serve.runtime import Runtime, runtime
from unipost.serve.settings import Scope

__all__ = ["API_PREFIX", "routes"]

API_PREFIX = "/v1"
MAX_LIST = 1000
MAX_ISOLATE = 7 * 24 * 3600.0
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


# -- input -------------------------------------------------------------------------------


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


def _invalid(field: str, problem: str, fix: str) -> Problem:
    return Problem(422, "invalid", problem, field=field, fix=fix)


def _query(request: Request, *allowed: str) -> None:
    """Refuse query parameters the operation does not have (a typo must not be ignored)."""
    unknown = sorted(set(request.query_params) - set(allowed))
    if unknown:
        known = ", ".join(allowed) or "none"
        raise _invalid(unknown[0], "is not a query parameter here", f"use {known}")


def _unknown_keys(data: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise _invalid(
            f"{where}.{unknown[0]}", "is not a known field", f"use {', '.join(sorted(allowed))}"
        )


def _string(data: Mapping[str, Any], key: str, where: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise _invalid(f"{where}.{key}", "is not a string", "send a JSON string or null")
    return value


def _strings(data: Mapping[str, Any], key: str, where: str) -> list[str] | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _invalid(f"{where}.{key}", "is not a list of strings", 'send e.g. ["news"]')
    return value


def _number(data: Mapping[str, Any], key: str, where: str) -> float | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _invalid(f"{where}.{key}", "is not a number", "send a JSON number")
    return float(value)


def _media(items: Any, where: str) -> tuple[Media, ...]:
    if not isinstance(items, list):
        raise _invalid(where, "is not a list", "send a list of {url, alt} or {data, filename, alt}")
    found = []
    for index, item in enumerate(items):
        at = f"{where}[{index}]"
        if not isinstance(item, dict):
            raise _invalid(at, "is not an object", "send {url, alt} or {data, filename, alt}")
        _unknown_keys(item, _MEDIA_KEYS, at)
        alt = _string(item, "alt", at)
        url = _string(item, "url", at)
        data = _string(item, "data", at)
        if (url is None) == (data is None):
            raise _invalid(at, "needs exactly one of url and data", "give url, or base64 data")
        if url is not None:
            size = _number(item, "size", at)
            found.append(
                Media.from_url(
                    url,
                    alt=alt,
                    mime_type=_string(item, "mime_type", at),
                    size=None if size is None else int(size),
                )
            )
            continue
        try:
            content = base64.b64decode(data or "", validate=True)
        except (binascii.Error, ValueError):
            raise _invalid(
                f"{at}.data", "is not base64", "encode the file's bytes as base64"
            ) from None
        filename = _string(item, "filename", at) or "upload"
        found.append(Media.from_bytes(content, filename=filename, alt=alt))
    return tuple(found)


def _variant(data: Any, where: str) -> Variant:
    if not isinstance(data, dict):
        raise _invalid(where, "is not an object", "send {text, title, link, tags, media}")
    _unknown_keys(data, _VARIANT_KEYS, where)
    tags = _strings(data, "tags", where)
    media = data.get("media")
    return Variant(
        text=_string(data, "text", where),
        title=_string(data, "title", where),
        link=_string(data, "link", where),
        tags=None if tags is None else tuple(tags),
        media=None if media is None else _media(media, f"{where}.media"),
    )


def post_from_json(data: Any, *, post_id: str | None = None) -> Post:
    """A :class:`Post` from the API's JSON; media only by URL or inline bytes, never a path."""
    if not isinstance(data, dict):
        raise _invalid("post", "is missing or not an object", 'send "post": {"text": "..."}')
    _unknown_keys(data, _POST_KEYS, "post")
    given_id = _string(data, "id", "post")
    if given_id is not None and not _SAFE_ID.fullmatch(given_id):
        raise _invalid(
            "post.id", "must be 1 to 200 letters, digits and . _ ~ : -", "send e.g. offer-2026-12"
        )
    if post_id is not None and given_id is not None and given_id != post_id:
        raise _invalid(
            "post.id", "differs from the Idempotency-Key header", "send one of them, or the same"
        )
    fields: dict[str, Any] = {
        "text": _string(data, "text", "post"),
        "title": _string(data, "title", "post"),
        "link": _string(data, "link", "post"),
        "tags": tuple(_strings(data, "tags", "post") or ()),
        "language": _string(data, "language", "post"),
    }
    if post_id or given_id:
        fields["id"] = post_id or given_id
    if "media" in data and data["media"] is not None:
        fields["media"] = _media(data["media"], "post.media")
    variants = data.get("variants")
    if variants is not None:
        if not isinstance(variants, dict):
            raise _invalid("post.variants", "is not an object", 'send {"channel": {...}}')
        fields["variants"] = {
            name: _variant(v, f"post.variants.{name}") for name, v in variants.items()
        }
    revision = data.get("revision")
    if revision is not None:
        if isinstance(revision, bool) or not isinstance(revision, int):
            raise _invalid("post.revision", "is not an integer", "start at 1, add 1 per edit")
        fields["revision"] = revision
    publish_at = _string(data, "publish_at", "post")
    if publish_at is not None:
        try:
            fields["publish_at"] = dt.datetime.fromisoformat(publish_at)
        except ValueError:
            raise _invalid(
                "post.publish_at", "is not an ISO 8601 time", "use e.g. 2026-12-24T09:00:00+01:00"
            ) from None
    ttl = _number(data, "ttl", "post")
    if ttl is not None:
        if not 0 < ttl <= 365 * 86400:
            raise _invalid("post.ttl", "must be 1 s to 365 days", "give seconds, e.g. 86400")
        fields["ttl"] = dt.timedelta(seconds=ttl)
    metadata = data.get("metadata")
    if metadata is not None:
        if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
            raise _invalid("post.metadata", "is not an object of strings", 'send {"k": "v"}')
        fields["metadata"] = metadata
    try:
        return Post(**fields)
    except UsageError:
        raise
    except (TypeError, ValueError) as exc:
        raise _invalid("post", str(exc), "check the post's fields") from None


def route_from_json(rt: Runtime, to: Any) -> DeliveryRoute:
    """``"name"``, ``["a", "b"]``, ``{"all_of": [...]}`` or ``{"first_of": [...]}``; None: default."""
    if to is None or isinstance(to, str):
        return rt.config.route(to)
    if not isinstance(to, list | dict):
        raise _invalid("to", "is not a route", 'send "name", ["a", "b"] or {"first_of": [...]}')
    return _route_from_toml("to", to)


def _idempotency_key(request: Request) -> str | None:
    key = request.headers.get("idempotency-key")
    if key is None:
        return None
    key = key.strip().strip('"')
    if not _SAFE_ID.fullmatch(key):
        raise _invalid(
            "Idempotency-Key",
            "must be 1 to 200 letters, digits and . _ ~ : -",
            "send e.g. order-1234 or a UUID",
        )
    return key


def _record(rt: Runtime, record_id: str) -> Record:
    try:
        return rt.dispatcher.store.record(record_id)
    except StoreError:
        raise Problem(
            404, "not_found", f"no record {record_id!r}", fix="list records at /v1/outbox"
        ) from None


def _report_url(post_id: str) -> str:
    return f"{API_PREFIX}/posts/{post_id}"


# -- handlers ----------------------------------------------------------------------------


async def publish(request: Request) -> Response:
    rt = runtime(request)
    require(request, rt.settings, Scope.PUBLISH)
    _query(request)
    body = await read_json(request)
    _unknown_keys(body, {"post", "to", "deadline"}, "body")
    post = post_from_json(body.get("post"), post_id=_idempotency_key(request))
    route = route_from_json(rt, body.get("to"))
    deadline = _number(body, "deadline", "body")
    if deadline is None:
        deadline = rt.settings.deadline
    if not 0 <= deadline <= rt.settings.deadline:
        raise _invalid(
            "deadline", f"must be 0 to {rt.settings.deadline} seconds", "ask for less, or poll"
        )
    replayed = rt.dispatcher.store.find_publication(post.id, post.revision) is not None
    try:
        report = await rt.dispatcher.apublish(post, route, deadline=deadline)
    except IdempotencyConflict as exc:
        raise Problem.from_usage(exc, code="idempotency_conflict") from None
    url = _report_url(report.post_id)
    headers = {"Location": url}
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    status = 202 if report.status is ReportStatus.PENDING else 200
    return JSONResponse(queries.report_json(report, url), status_code=status, headers=headers)


async def preview(request: Request) -> Response:
    rt = runtime(request)
    require(request, rt.settings, Scope.PUBLISH)
    _query(request)
    body = await read_json(request)
    _unknown_keys(body, {"post", "to"}, "body")
    post = post_from_json(body.get("post"))
    plan = rt.dispatcher.plan(post, route_from_json(rt, body.get("to")))
    return JSONResponse(
        {
            "prepared": {
                name: {
                    "parts": list(p.parts),
                    "changes": [{"kind": c.kind, "detail": redact(c.detail)} for c in p.changes],
                }
                for name, p in plan.prepared.items()
            },
            "rejected": {
                name: {"field": e.field, "detail": redact(e.problem), "fix": e.fix}
                for name, e in plan.rejected.items()
            },
            "warnings": [redact(w) for w in plan.warnings],
        }
    )


async def post_report(request: Request) -> Response:
    rt = runtime(request)
    require(request, rt.settings, Scope.READ)
    _query(request, "revision")
    post_id = request.path_params["post_id"]
    revision_text = request.query_params.get("revision")
    revision = None
    if revision_text is not None:
        if not revision_text.isdigit() or int(revision_text) < 1:
            raise _invalid("revision", "is not a positive integer", "send e.g. ?revision=2")
        revision = int(revision_text)
    if rt.dispatcher.store.find_publication(post_id, revision) is None:
        raise Problem(404, "not_found", f"no post {post_id!r} in the outbox", fix="check the id")
    report = rt.dispatcher.report(post_id, revision)
    return JSONResponse(queries.report_json(report, _report_url(post_id)))


async def cancel_post(request: Request) -> Response:
    rt = runtime(request)
    require(request, rt.settings, Scope.OPERATE)
    _query(request, "channel")
    post_id = request.path_params["post_id"]
    channel = request.query_params.get("channel")
    if rt.dispatcher.store.find_publication(post_id) is None:
        raise Problem(404, "not_found", f"no post {post_id!r} in the outbox", fix="check the id")
    return JSONResponse({"cancelled": rt.dispatcher.cancel(post_id, channel)})


async def list_outbox(request: Request) -> Response:
    rt = runtime(request)
    require(request, rt.settings, Scope.READ)
    _query(request, "state", "channel", "post", "limit")
    params = request.query_params
    try:
        states = [State(s) for s in params.getlist("state")]
    except ValueError:
        known = ", ".join(s.value for s in State)
        raise _invalid("state", "is not a record state", f"use one of {known}") from None
    limit_text = params.get("limit", "100")
    if not limit_text.isdigit() or not 1 <= int(limit_text) <= MAX_LIST:
        raise _invalid("limit", f"must be 1 to {MAX_LIST}", "send e.g. ?limit=100")
    records = rt.dispatcher.store.query(
        states=states,
        channel=params.get("channel"),
        post_id=params.get("post"),
        limit=int(limit_text),
    )
    return JSONResponse({"records": [queries.record_json(r) for r in records]})


async def show_record(request: Request) -> Response:
    rt = runtime(request)
    require(request, rt.settings, Scope.READ)
    _query(request)
    record = _record(rt, request.path_params["record_id"])
    shown = queries.record_json(record)
    shown["timeline"] = queries.timeline(rt.dispatcher.store, record)
    return JSONResponse(shown)


def _conflict(exc: UsageError) -> Problem:
    return Problem(409, "conflict", exc.problem, field=exc.field, fix=exc.fix)


async def retry_record(request: Request) -> Response:
    rt = runtime(request)
    require(request, rt.settings, Scope.OPERATE)
    _query(request)
    record = _record(rt, request.path_params["record_id"])
    try:
        record = rt.dispatcher.retry(record.id)
    except UsageError as exc:
        raise _conflict(exc) from None
    return JSONResponse(queries.record_json(record))


async def cancel_record(request: Request) -> Response:
    rt = runtime(request)
    require(request, rt.settings, Scope.OPERATE)
    _query(request)
    record = _record(rt, request.path_params["record_id"])
    count = rt.dispatcher.cancel(record.post_id, record.channel)
    return JSONResponse({"cancelled": count})


async def resolve_record(request: Request) -> Response:
    rt = runtime(request)
    require(request, rt.settings, Scope.OPERATE)
    _query(request)
    record = _record(rt, request.path_params["record_id"])
    body = await read_json(request)
    _unknown_keys(body, {"delivered", "url", "platform_id"}, "body")
    delivered = body.get("delivered")
    if not isinstance(delivered, bool):
        raise _invalid("delivered", "is missing or not true/false", "say whether it was published")
    try:
        record = rt.dispatcher.resolve(
            record.id,
            delivered=delivered,
            url=_string(body, "url", "body"),
            platform_id=_string(body, "platform_id", "body"),
        )
    except UsageError as exc:
        raise _conflict(exc) from None
    return JSONResponse(queries.record_json(record))


def _channel_id(rt: Runtime, request: Request) -> str:
    channel_id: str = request.path_params["channel_id"]
    if channel_id not in rt.dispatcher.channels:
        known = ", ".join(sorted(rt.dispatcher.channels)) or "none configured"
        raise Problem(
            404,
            "not_found",
            f"no channel named {channel_id!r}",
            field="channel",
            fix=f"use {known}",
        )
    return channel_id


async def list_channels(request: Request) -> Response:
    rt = runtime(request)
    require(request, rt.settings, Scope.READ)
    _query(request)
    shown = [queries.channel_json(cid, ch) for cid, ch in rt.dispatcher.channels.items()]
    return JSONResponse({"channels": shown, "routes": sorted(rt.config.routes)})


async def check_channel(request: Request) -> Response:
    rt = runtime(request)
    require(request, rt.settings, Scope.OPERATE)
    _query(request)
    channel_id = _channel_id(rt, request)
    try:
        detail = await rt.dispatcher.acheck(channel_id)
    except DeliveryError as exc:
        return JSONResponse(
            {
                "channel": channel_id,
                "ok": False,
                "error_class": exc.error_class.value,
                "detail": redact(str(exc)),
            }
        )
    except UsageError as exc:
        return JSONResponse(
            {"channel": channel_id, "ok": False, "error_class": "usage", "detail": redact(str(exc))}
        )
    return JSONResponse(
        {"channel": channel_id, "ok": True, "error_class": None, "detail": redact(detail)}
    )


async def reauthorize(request: Request) -> Response:
    rt = runtime(request)
    require(request, rt.settings, Scope.OPERATE)
    _query(request)
    channel_id = _channel_id(rt, request)
    return JSONResponse({"channel": channel_id, "unblocked": rt.dispatcher.reauthorize(channel_id)})


def _domain(rt: Runtime, request: Request) -> str:
    domain: str = request.path_params["domain"]
    if domain not in {b["domain"] for b in queries.breakers(rt.dispatcher)}:
        raise Problem(
            404, "not_found", f"no failure domain {domain!r}", fix="list them at /v1/breakers"
        )
    return domain


def _breaker(rt: Runtime, domain: str) -> dict[str, Any]:
    return next(b for b in queries.breakers(rt.dispatcher) if b["domain"] == domain)


async def list_breakers(request: Request) -> Response:
    rt = runtime(request)
    require(request, rt.settings, Scope.READ)
    _query(request)
    return JSONResponse({"breakers": queries.breakers(rt.dispatcher)})


async def isolate(request: Request) -> Response:
    rt = runtime(request)
    require(request, rt.settings, Scope.OPERATE)
    _query(request)
    domain = _domain(rt, request)
    body = await read_json(request)
    _unknown_keys(body, {"seconds"}, "body")
    seconds = _number(body, "seconds", "body")
    if seconds is None or not 1 <= seconds <= MAX_ISOLATE:
        raise _invalid("seconds", f"must be 1 to {MAX_ISOLATE:.0f}", "send e.g. 3600")
    rt.dispatcher.breakers.isolate(domain, rt.dispatcher.clock.now() + seconds)
    return JSONResponse(_breaker(rt, domain))


async def reset(request: Request) -> Response:
    rt = runtime(request)
    require(request, rt.settings, Scope.OPERATE)
    _query(request)
    domain = _domain(rt, request)
    rt.dispatcher.breakers.reset(domain)
    return JSONResponse(_breaker(rt, domain))


async def health(request: Request) -> Response:
    return JSONResponse({"status": "ok", "version": __version__})


async def ready(request: Request) -> Response:
    rt = runtime(request)
    checks: dict[str, str] = {}
    try:
        rt.dispatcher.store.query(limit=1)
        checks["outbox"] = "ok"
    except StoreError as exc:
        checks["outbox"] = redact(str(exc))
    checks["channels"] = f"{len(rt.dispatcher.channels)} configured"
    if rt.settings.worker:
        checks["worker"] = "running" if rt.worker_running else "not running"
    ok = checks["outbox"] == "ok" and (not rt.settings.worker or rt.worker_running)
    if not ok:
        raise Problem(503, "not_ready", "; ".join(f"{k}: {v}" for k, v in checks.items()))
    return JSONResponse({"status": "ready", "checks": checks})


def routes() -> list[Route]:
    p = API_PREFIX
    return [
        Route(f"{p}/health", health, methods=["GET"]),
        Route(f"{p}/ready", ready, methods=["GET"]),
        Route(f"{p}/posts", publish, methods=["POST"]),
        Route(f"{p}/preview", preview, methods=["POST"]),
        Route(f"{p}/posts/{{post_id}}", post_report, methods=["GET"]),
        Route(f"{p}/posts/{{post_id}}/cancel", cancel_post, methods=["POST"]),
        Route(f"{p}/outbox", list_outbox, methods=["GET"]),
        Route(f"{p}/outbox/{{record_id}}", show_record, methods=["GET"]),
        Route(f"{p}/outbox/{{record_id}}/retry", retry_record, methods=["POST"]),
        Route(f"{p}/outbox/{{record_id}}/cancel", cancel_record, methods=["POST"]),
        Route(f"{p}/outbox/{{record_id}}/resolve", resolve_record, methods=["POST"]),
        Route(f"{p}/channels", list_channels, methods=["GET"]),
        Route(f"{p}/channels/{{channel_id}}/check", check_channel, methods=["POST"]),
        Route(f"{p}/channels/{{channel_id}}/reauthorize", reauthorize, methods=["POST"]),
        Route(f"{p}/breakers", list_breakers, methods=["GET"]),
        Route(f"{p}/breakers/{{domain:path}}/isolate", isolate, methods=["POST"]),
        Route(f"{p}/breakers/{{domain:path}}/reset", reset, methods=["POST"]),
    ]
