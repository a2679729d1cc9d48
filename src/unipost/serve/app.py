"""Build the ASGI app: the API, the OpenAPI document, the dashboard, and their guards.

Every error leaves as problem+json (the dashboard's forms redirect instead), request
bodies are capped before any handler runs, CORS is off unless origins are named,
and the background lane runs in the app's lifespan unless a separate
``unipost worker`` does that job.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from unipost.config import Config
from unipost.dispatcher import Dispatcher
from unipost.errors import UsageError
from unipost.serve import api, dashboard
from unipost.serve.middleware import BodyLimit, SecurityHeaders
from unipost.serve.openapi import document
from unipost.serve.problems import Problem, problem_response
from unipost.serve.runtime import Runtime
from unipost.serve.settings import ServeSettings

__all__ = ["OPENAPI_PATH", "create_app"]

OPENAPI_PATH = "/v1/openapi.json"
_log = logging.getLogger("unipost.serve")


async def _openapi(request: Request) -> Response:
    return JSONResponse(document())


async def _home(request: Request) -> Response:
    return RedirectResponse(dashboard.PREFIX + "/", status_code=303)


async def _on_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Problem)
    return problem_response(exc, request.url.path)


async def _on_usage(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, UsageError)
    return problem_response(Problem.from_usage(exc), request.url.path)


async def _on_http(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    problem = Problem(exc.status_code, code, str(exc.detail), headers=exc.headers)
    return problem_response(problem, request.url.path)


async def _on_error(request: Request, exc: Exception) -> Response:
    _log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    problem = Problem(500, "internal_error", "the server failed; the log has the details")
    return problem_response(problem, request.url.path)


def create_app(dispatcher: Dispatcher, config: Config, settings: ServeSettings) -> Starlette:
    """The app over ``dispatcher``; the caller keeps owning (and closes) the dispatcher's store."""
    rt = Runtime(dispatcher=dispatcher, config=config, settings=settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            if settings.worker:
                async with dispatcher.worker(poll=settings.worker_poll):
                    rt.worker_running = True
                    try:
                        yield
                    finally:
                        rt.worker_running = False
            else:
                yield
        finally:
            await dispatcher.aclose()

    middleware = [Middleware(SecurityHeaders), Middleware(BodyLimit, max_body=settings.max_body)]
    if settings.cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=list(settings.cors_origins),
                allow_methods=["GET", "POST"],
                allow_headers=["Authorization", "Content-Type", "Idempotency-Key"],
                expose_headers=["Location", "Idempotent-Replayed"],
            )
        )
    app = Starlette(
        routes=[
            Route("/", _home, methods=["GET"]),
            Route(OPENAPI_PATH, _openapi, methods=["GET"]),
            *api.routes(),
            *dashboard.routes(),
        ],
        middleware=middleware,
        exception_handlers={
            Problem: _on_problem,
            UsageError: _on_usage,
            HTTPException: _on_http,
            Exception: _on_error,
        },
        lifespan=lifespan,
    )
    app.state.unipost = rt
    return app
