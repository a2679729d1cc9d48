"""The JSON API under ``/v1``: publish, preview, reports, the outbox, channels, breakers.

Handlers are thin: parse and check the input (a bad field is a 422 naming the
field and the fix, before anything is sent), call the dispatcher's public
methods, and shape the answer with :mod:`unipost.serve.queries`.
``POST /v1/posts`` maps the ``Idempotency-Key`` header onto the post id, so a
client that retries a request it never saw the answer to gets the same post
back, never a second one.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from unipost import __version__
from unipost.errors import (
    DeliveryError,
    IdempotencyConflict,
    StoreError,
    UsageError,
)
from unipost.outbox import Record, State
from unipost.redact import redact
from unipost.report import ReportStatus
from unipost.serve import queries
from unipost.serve.auth import require
from unipost.serve.inputs import (
    idempotency_key,
    invalid,
    number,
    only_query,
    post_from_json,
    read_json,
    route_from_json,
    string,
    unknown_keys,
)
from unipost.serve.problems import Problem
from unipost.serve.runtime import Runtime, runtime
from unipost.serve.settings import Scope

__all__ = ["API_PREFIX", "routes"]

API_PREFIX = "/v1"
MAX_LIST = 1000
MAX_ISOLATE = 7 * 24 * 3600.0


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
    only_query(request)
    body = await read_json(request)
    unknown_keys(body, {"post", "to", "deadline"}, "body")
    post = post_from_json(body.get("post"), post_id=idempotency_key(request))
    route = route_from_json(rt, body.get("to"))
    deadline = number(body, "deadline", "body")
    if deadline is None:
        deadline = rt.settings.deadline
    if not 0 <= deadline <= rt.settings.deadline:
        raise invalid(
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
    only_query(request)
    body = await read_json(request)
    unknown_keys(body, {"post", "to"}, "body")
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
    only_query(request, "revision")
    post_id = request.path_params["post_id"]
    revision_text = request.query_params.get("revision")
    revision = None
    if revision_text is not None:
        if not revision_text.isdigit() or int(revision_text) < 1:
            raise invalid("revision", "is not a positive integer", "send e.g. ?revision=2")
        revision = int(revision_text)
    if rt.dispatcher.store.find_publication(post_id, revision) is None:
        raise Problem(404, "not_found", f"no post {post_id!r} in the outbox", fix="check the id")
    report = rt.dispatcher.report(post_id, revision)
    return JSONResponse(queries.report_json(report, _report_url(post_id)))


async def cancel_post(request: Request) -> Response:
    rt = runtime(request)
    require(request, rt.settings, Scope.OPERATE)
    only_query(request, "channel")
    post_id = request.path_params["post_id"]
    channel = request.query_params.get("channel")
    if rt.dispatcher.store.find_publication(post_id) is None:
        raise Problem(404, "not_found", f"no post {post_id!r} in the outbox", fix="check the id")
    return JSONResponse({"cancelled": rt.dispatcher.cancel(post_id, channel)})


async def list_outbox(request: Request) -> Response:
    rt = runtime(request)
    require(request, rt.settings, Scope.READ)
    only_query(request, "state", "channel", "post", "limit")
    params = request.query_params
    try:
        states = [State(s) for s in params.getlist("state")]
    except ValueError:
        known = ", ".join(s.value for s in State)
        raise invalid("state", "is not a record state", f"use one of {known}") from None
    limit_text = params.get("limit", "100")
    if not limit_text.isdigit() or not 1 <= int(limit_text) <= MAX_LIST:
        raise invalid("limit", f"must be 1 to {MAX_LIST}", "send e.g. ?limit=100")
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
    only_query(request)
    record = _record(rt, request.path_params["record_id"])
    shown = queries.record_json(record)
    shown["timeline"] = queries.timeline(rt.dispatcher.store, record)
    return JSONResponse(shown)


def _conflict(exc: UsageError) -> Problem:
    return Problem(409, "conflict", exc.problem, field=exc.field, fix=exc.fix)


async def retry_record(request: Request) -> Response:
    rt = runtime(request)
    require(request, rt.settings, Scope.OPERATE)
    only_query(request)
    record = _record(rt, request.path_params["record_id"])
    try:
        record = rt.dispatcher.retry(record.id)
    except UsageError as exc:
        raise _conflict(exc) from None
    return JSONResponse(queries.record_json(record))


async def cancel_record(request: Request) -> Response:
    rt = runtime(request)
    require(request, rt.settings, Scope.OPERATE)
    only_query(request)
    record = _record(rt, request.path_params["record_id"])
    count = rt.dispatcher.cancel(record.post_id, record.channel)
    return JSONResponse({"cancelled": count})


async def resolve_record(request: Request) -> Response:
    rt = runtime(request)
    require(request, rt.settings, Scope.OPERATE)
    only_query(request)
    record = _record(rt, request.path_params["record_id"])
    body = await read_json(request)
    unknown_keys(body, {"delivered", "url", "platform_id"}, "body")
    delivered = body.get("delivered")
    if not isinstance(delivered, bool):
        raise invalid("delivered", "is missing or not true/false", "say whether it was published")
    try:
        record = rt.dispatcher.resolve(
            record.id,
            delivered=delivered,
            url=string(body, "url", "body"),
            platform_id=string(body, "platform_id", "body"),
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
    only_query(request)
    shown = [queries.channel_json(cid, ch) for cid, ch in rt.dispatcher.channels.items()]
    return JSONResponse({"channels": shown, "routes": sorted(rt.config.routes)})


async def check_channel(request: Request) -> Response:
    rt = runtime(request)
    require(request, rt.settings, Scope.OPERATE)
    only_query(request)
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
    only_query(request)
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
    only_query(request)
    return JSONResponse({"breakers": queries.breakers(rt.dispatcher)})


async def isolate(request: Request) -> Response:
    rt = runtime(request)
    require(request, rt.settings, Scope.OPERATE)
    only_query(request)
    domain = _domain(rt, request)
    body = await read_json(request)
    unknown_keys(body, {"seconds"}, "body")
    seconds = number(body, "seconds", "body")
    if seconds is None or not 1 <= seconds <= MAX_ISOLATE:
        raise invalid("seconds", f"must be 1 to {MAX_ISOLATE:.0f}", "send e.g. 3600")
    rt.dispatcher.breakers.isolate(domain, rt.dispatcher.clock.now() + seconds)
    return JSONResponse(_breaker(rt, domain))


async def reset(request: Request) -> Response:
    rt = runtime(request)
    require(request, rt.settings, Scope.OPERATE)
    only_query(request)
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
