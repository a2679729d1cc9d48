"""Who is calling, and may they: bearer tokens for the API, sessions for the dashboard.

The API takes ``Authorization: Bearer <token>`` on every call. The dashboard
trades a token for a session once (a form, so it works without JavaScript): the
browser then holds only a random session id in an ``HttpOnly``, ``SameSite=Strict``
cookie, and every form carries the session's CSRF value. Sessions live in this
process's memory and end with it, or after :data:`SESSION_TTL`.
"""

from __future__ import annotations

import secrets
import threading
import time

import attrs
from starlette.requests import Request

from unipost.serve.problems import Problem
from unipost.serve.settings import Scope, ServeSettings, Token

__all__ = ["SESSION_COOKIE", "SESSION_TTL", "Session", "Sessions", "require"]

SESSION_COOKIE = "unipost_session"
SESSION_TTL = 8 * 3600.0


def _challenge(error: str | None = None, scope: Scope | None = None) -> dict[str, str]:
    value = 'Bearer realm="unipost"'
    if error:
        value += f', error="{error}"'
    if scope is not None:
        value += f', scope="{scope.value}"'
    return {"WWW-Authenticate": value}


def require(request: Request, settings: ServeSettings, scope: Scope) -> Token:
    """The caller's token if it carries ``scope``; a 401 or 403 problem otherwise."""
    header = request.headers.get("authorization")
    if not header:
        raise Problem(
            401,
            "unauthenticated",
            "this endpoint needs a bearer token",
            fix="send Authorization: Bearer <token>",
            headers=_challenge(),
        )
    kind, _, presented = header.partition(" ")
    if kind.lower() != "bearer" or not presented.strip():
        raise Problem(
            401,
            "unauthenticated",
            "the Authorization header is not a bearer token",
            fix="send Authorization: Bearer <token>",
            headers=_challenge("invalid_request"),
        )
    token = settings.token_for(presented.strip())
    if token is None:
        raise Problem(
            401,
            "invalid_token",
            "the token is not known to this server",
            fix="check the token, or ask the operator for one",
            headers=_challenge("invalid_token"),
        )
    if not token.allows(scope):
        raise Problem(
            403,
            "insufficient_scope",
            f"this token may not {scope.value}",
            fix=f"use a token with the {scope.value!r} scope",
            headers=_challenge("insufficient_scope", scope),
        )
    return token


@attrs.frozen(kw_only=True)
class Session:
    token: Token
    csrf: str = attrs.field(repr=False)
    expires_at: float


@attrs.define
class Sessions:
    """Dashboard sessions by their random id (kept in memory only)."""

    _by_id: dict[str, Session] = attrs.field(factory=dict)
    _lock: threading.Lock = attrs.field(factory=threading.Lock)

    def open(self, token: Token) -> tuple[str, Session]:
        session_id = secrets.token_urlsafe(32)
        session = Session(
            token=token, csrf=secrets.token_urlsafe(24), expires_at=time.time() + SESSION_TTL
        )
        with self._lock:
            now = time.time()
            self._by_id = {k: s for k, s in self._by_id.items() if s.expires_at > now}
            self._by_id[session_id] = session
        return session_id, session

    def get(self, session_id: str | None) -> Session | None:
        if not session_id:
            return None
        with self._lock:
            session = self._by_id.get(session_id)
            if session is None or session.expires_at <= time.time():
                self._by_id.pop(session_id, None)
                return None
            return session

    def close(self, session_id: str | None) -> None:
        with self._lock:
            self._by_id.pop(session_id or "", None)
