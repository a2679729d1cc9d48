"""The dashboard: server-rendered pages (Jinja2), plain forms, no build step, no JavaScript.

Views: overview, failure domains (isolate/reset), posts × channels, a record's
attempt timeline, the needs-attention inbox (resolve, re-authorize, bulk
retry/cancel of a filter) and a calendar of scheduled posts. A person signs in
once with a token that has the ``read`` scope; actions need ``operate``. Each
action is a POST with the session's CSRF value that redirects back (303), so
the browser's back button and a reload never repeat it.
"""

from __future__ import annotations

import datetime as dt
import functools
import hmac
import urllib.parse
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from unipost.errors import StoreError, UsageError
from unipost.outbox import State
from unipost.serve import queries
from unipost.serve.auth import SESSION_COOKIE, SESSION_TTL, Session
from unipost.serve.runtime import Runtime, runtime
from unipost.serve.settings import Scope

__all__ = ["PREFIX", "routes"]

PREFIX = "/dashboard"
_HERE = Path(__file__).parent
_BULK_STATES = (State.FAILED, State.EXPIRED, State.CANCELLED, State.BLOCKED, State.RETRY_WAIT)
_NAV = [
    ("overview", "/", "Overview"),
    ("attention", "/attention", "Needs attention"),
    ("domains", "/domains", "Failure domains"),
    ("posts", "/posts", "Posts"),
    ("calendar", "/calendar", "Calendar"),
]


def _when(timestamp: float | None) -> str:
    if timestamp is None:
        return "—"
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = max(0.0, seconds)
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


@functools.cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(_HERE / "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
    )
    env.filters["when"] = _when
    env.filters["age"] = _age
    env.globals["prefix"] = PREFIX
    env.globals["nav"] = _NAV
    return env


def _render(
    request: Request,
    template: str,
    *,
    session: Session | None,
    status: int = 200,
    active: str | None = None,
    **context: Any,
) -> HTMLResponse:
    page = _environment().get_template(template)
    html = page.render(
        session=session,
        active=active,
        csrf=session.csrf if session else "",
        can_operate=bool(session and session.token.allows(Scope.OPERATE)),
        notice=request.query_params.get("notice"),
        **context,
    )
    return HTMLResponse(html, status_code=status)


def _back(path: str, notice: str) -> RedirectResponse:
    return RedirectResponse(
        f"{PREFIX}{path}?{urllib.parse.urlencode({'notice': notice})}", status_code=303
    )


def _session(rt: Runtime, request: Request) -> Session | None:
    return rt.sessions.get(request.cookies.get(SESSION_COOKIE))


View = Callable[[Request, Runtime, Session], Awaitable[Response]]
Action = Callable[[Request, Runtime, Session, dict[str, str]], Awaitable[Response]]


def _page(view: View) -> Callable[[Request], Awaitable[Response]]:
    """A page for a signed-in person: otherwise to the sign-in form."""

    @functools.wraps(view)
    async def handler(request: Request) -> Response:
        rt = runtime(request)
        session = _session(rt, request)
        if session is None:
            return RedirectResponse(f"{PREFIX}/login", status_code=303)
        return await view(request, rt, session)

    return handler


async def _form(request: Request) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body (already size-limited by the middleware)."""
    raw = (await request.body()).decode("utf-8", errors="replace")
    return {k: v[-1] for k, v in urllib.parse.parse_qs(raw, keep_blank_values=True).items()}


def _action(action: Action) -> Callable[[Request], Awaitable[Response]]:
    """A POST from a dashboard form: signed in, ``operate`` scope, matching CSRF value."""

    @functools.wraps(action)
    async def handler(request: Request) -> Response:
        rt = runtime(request)
        session = _session(rt, request)
        if session is None:
            return RedirectResponse(f"{PREFIX}/login", status_code=303)
        form = await _form(request)
        if not hmac.compare_digest(form.get("csrf", ""), session.csrf):
            return _render(
                request,
                "error.html",
                session=session,
                status=403,
                title="Form expired",
                message="This form is stale or came from another site. Reload the page and try again.",
            )
        if not session.token.allows(Scope.OPERATE):
            return _render(
                request,
                "error.html",
                session=session,
                status=403,
                title="Not allowed",
                message=f"The token {session.token.name!r} may read but not operate.",
            )
        return await action(request, rt, session, form)

    return handler


# -- sign-in -----------------------------------------------------------------------------


async def login_form(request: Request) -> Response:
    return _render(request, "login.html", session=None, error=None)


async def login(request: Request) -> Response:
    rt = runtime(request)
    form = await _form(request)
    token = rt.settings.token_for(form.get("token", "").strip())
    if token is None or not token.allows(Scope.READ):
        error = (
            "That token is not known here."
            if token is None
            else "That token may not read the outbox."
        )
        return _render(request, "login.html", session=None, status=401, error=error)
    session_id, _opened = rt.sessions.open(token)
    response = RedirectResponse(f"{PREFIX}/", status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        session_id,
        max_age=int(SESSION_TTL),
        path=PREFIX,
        httponly=True,
        secure=rt.settings.tls,
        samesite="strict",
    )
    return response


async def logout(request: Request) -> Response:
    rt = runtime(request)
    rt.sessions.close(request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse(f"{PREFIX}/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path=PREFIX)
    return response


async def stylesheet(request: Request) -> Response:
    return Response((_HERE / "static" / "style.css").read_bytes(), media_type="text/css")


# -- views -------------------------------------------------------------------------------


@_page
async def overview(request: Request, rt: Runtime, session: Session) -> Response:
    now = rt.dispatcher.clock.now()
    data = queries.overview(rt.dispatcher.store, now)
    peak = max([1, *(max(h["delivered"], h["failed"]) for h in data["hours"])])
    return _render(
        request,
        "overview.html",
        session=session,
        active="overview",
        data=data,
        peak=peak,
        breakers=queries.breakers(rt.dispatcher),
    )


@_page
async def domains(request: Request, rt: Runtime, session: Session) -> Response:
    found = queries.breakers(rt.dispatcher)
    for breaker in found:
        breaker["errors"] = queries.last_errors(rt.dispatcher.store, breaker["channels"])
    return _render(request, "domains.html", session=session, active="domains", breakers=found)


@_page
async def posts(request: Request, rt: Runtime, session: Session) -> Response:
    data = queries.grid(rt.dispatcher.store)
    return _render(request, "posts.html", session=session, active="posts", grid=data)


@_page
async def record(request: Request, rt: Runtime, session: Session) -> Response:
    try:
        found = rt.dispatcher.store.record(request.path_params["record_id"])
    except StoreError:
        return _render(
            request,
            "error.html",
            session=session,
            status=404,
            title="No such record",
            message="The outbox has no record with that id.",
        )
    return _render(
        request,
        "record.html",
        session=session,
        active="posts",
        record=queries.record_json(found),
        timeline=queries.timeline(rt.dispatcher.store, found),
    )


@_page
async def attention(request: Request, rt: Runtime, session: Session) -> Response:
    data = queries.attention(rt.dispatcher.store)
    blocked_channels = sorted({r["channel"] for r in data["blocked"]})
    return _render(
        request,
        "attention.html",
        session=session,
        active="attention",
        data=data,
        blocked_channels=blocked_channels,
        bulk_states=[s.value for s in _BULK_STATES],
        channels=sorted(rt.dispatcher.channels),
    )


def _month(text: str | None, now: float) -> tuple[int, int]:
    if text:
        try:
            moment = dt.datetime.strptime(text, "%Y-%m")
            return moment.year, moment.month
        except ValueError:
            pass
    today = dt.datetime.fromtimestamp(now, dt.UTC)
    return today.year, today.month


@_page
async def calendar(request: Request, rt: Runtime, session: Session) -> Response:
    year, month = _month(request.query_params.get("month"), rt.dispatcher.clock.now())
    data = queries.calendar_month(rt.dispatcher.store, year, month)
    first = dt.date(year, month, 1)
    previous = (first - dt.timedelta(days=1)).strftime("%Y-%m")
    following = (first + dt.timedelta(days=32)).strftime("%Y-%m")
    return _render(
        request,
        "calendar.html",
        session=session,
        active="calendar",
        data=data,
        title=first.strftime("%B %Y"),
        previous=previous,
        following=following,
    )


# -- actions -----------------------------------------------------------------------------


def _back_to(form: dict[str, str], default: str) -> str:
    target = form.get("back", default)
    return target if target.startswith("/") and not target.startswith("//") else default


@_action
async def isolate(
    request: Request, rt: Runtime, session: Session, form: dict[str, str]
) -> Response:
    domain = form.get("domain", "")
    known = {b["domain"] for b in queries.breakers(rt.dispatcher)}
    try:
        minutes = float(form.get("minutes", ""))
    except ValueError:
        minutes = 0.0
    if domain not in known or not 1 <= minutes <= 7 * 24 * 60:
        return _back("/domains", "Give a known domain and 1 to 10080 minutes.")
    rt.dispatcher.breakers.isolate(domain, rt.dispatcher.clock.now() + minutes * 60)
    return _back("/domains", f"{domain} is isolated for {minutes:g} min.")


@_action
async def reset(request: Request, rt: Runtime, session: Session, form: dict[str, str]) -> Response:
    domain = form.get("domain", "")
    if domain not in {b["domain"] for b in queries.breakers(rt.dispatcher)}:
        return _back("/domains", "No such failure domain.")
    rt.dispatcher.breakers.reset(domain)
    return _back("/domains", f"{domain} is closed again.")


@_action
async def retry(request: Request, rt: Runtime, session: Session, form: dict[str, str]) -> Response:
    record_id = request.path_params["record_id"]
    back = _back_to(form, f"/records/{record_id}")
    try:
        rt.dispatcher.retry(record_id)
    except StoreError:
        return _back(back, "No such record.")
    except UsageError as exc:
        return _back(back, f"Not retried: {exc.problem}.")
    return _back(back, "Retry scheduled: the worker sends it now.")


@_action
async def cancel(request: Request, rt: Runtime, session: Session, form: dict[str, str]) -> Response:
    record_id = request.path_params["record_id"]
    back = _back_to(form, f"/records/{record_id}")
    try:
        found = rt.dispatcher.store.record(record_id)
    except StoreError:
        return _back(back, "No such record.")
    count = rt.dispatcher.cancel(found.post_id, found.channel)
    return _back(back, f"Cancelled {count} record(s).")


@_action
async def resolve(
    request: Request, rt: Runtime, session: Session, form: dict[str, str]
) -> Response:
    record_id = request.path_params["record_id"]
    back = _back_to(form, f"/records/{record_id}")
    delivered = form.get("outcome") == "delivered"
    try:
        rt.dispatcher.resolve(
            record_id,
            delivered=delivered,
            url=form.get("url") or None,
            platform_id=form.get("platform_id") or None,
        )
    except StoreError:
        return _back(back, "No such record.")
    except UsageError as exc:
        return _back(back, f"Not resolved: {exc.problem}.")
    return _back(back, "Marked as published." if delivered else "It will be sent again.")


@_action
async def reauthorize(
    request: Request, rt: Runtime, session: Session, form: dict[str, str]
) -> Response:
    channel_id = request.path_params["channel_id"]
    if channel_id not in rt.dispatcher.channels:
        return _back("/attention", "No such channel.")
    count = rt.dispatcher.reauthorize(channel_id)
    return _back("/attention", f"{channel_id}: {count} record(s) unblocked.")


@_action
async def bulk(request: Request, rt: Runtime, session: Session, form: dict[str, str]) -> Response:
    """Retry or cancel every record matching a filter (a state, optionally a channel)."""
    try:
        state = State(form.get("state", ""))
    except ValueError:
        return _back("/attention", "Choose a state.")
    if state not in _BULK_STATES:
        return _back("/attention", "Choose a state.")
    channel = form.get("channel") or None
    action = form.get("action")
    if action not in ("retry", "cancel"):
        return _back("/attention", "Choose retry or cancel.")
    records = rt.dispatcher.store.query(states=[state], channel=channel, limit=queries.SCAN_LIMIT)
    done = 0
    for found in records:
        if action == "retry":
            try:
                rt.dispatcher.retry(found.id)
            except (UsageError, StoreError):
                continue
            done += 1
        else:
            done += rt.dispatcher.cancel(found.post_id, found.channel)
    verb = "Retrying" if action == "retry" else "Cancelled"
    return _back("/attention", f"{verb} {done} {state.value} record(s).")


def routes() -> list[Route]:
    p = PREFIX
    return [
        Route(f"{p}/login", login_form, methods=["GET"]),
        Route(f"{p}/login", login, methods=["POST"]),
        Route(f"{p}/logout", logout, methods=["POST"]),
        Route(f"{p}/static/style.css", stylesheet, methods=["GET"]),
        Route(f"{p}/", overview, methods=["GET"]),
        Route(f"{p}/domains", domains, methods=["GET"]),
        Route(f"{p}/domains/isolate", isolate, methods=["POST"]),
        Route(f"{p}/domains/reset", reset, methods=["POST"]),
        Route(f"{p}/posts", posts, methods=["GET"]),
        Route(f"{p}/records/{{record_id}}", record, methods=["GET"]),
        Route(f"{p}/records/{{record_id}}/retry", retry, methods=["POST"]),
        Route(f"{p}/records/{{record_id}}/cancel", cancel, methods=["POST"]),
        Route(f"{p}/records/{{record_id}}/resolve", resolve, methods=["POST"]),
        Route(f"{p}/channels/{{channel_id}}/reauthorize", reauthorize, methods=["POST"]),
        Route(f"{p}/attention", attention, methods=["GET"]),
        Route(f"{p}/attention/bulk", bulk, methods=["POST"]),
        Route(f"{p}/calendar", calendar, methods=["GET"]),
    ]
