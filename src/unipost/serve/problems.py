"""Errors as ``application/problem+json`` (RFC 9457): one shape for every refusal.

``type`` stays ``about:blank`` (the status says what kind of problem it is); the
``code`` member is the stable machine-readable name, and ``field`` / ``fix``
carry unipost's own "what is wrong and how to fix it". Details are redacted.
"""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from starlette.responses import JSONResponse

from unipost.errors import UsageError
from unipost.redact import redact

__all__ = ["PROBLEM_JSON", "Problem", "problem_response"]

PROBLEM_JSON = "application/problem+json"


class Problem(Exception):
    """Raised by a handler to answer with a problem document."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        field: str | None = None,
        fix: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.field = field
        self.fix = fix
        self.headers = dict(headers or {})

    @classmethod
    def from_usage(cls, exc: UsageError, *, status: int = 422, code: str = "invalid") -> Problem:
        return cls(status, code, exc.problem, field=exc.field, fix=exc.fix)

    def body(self, instance: str | None = None) -> dict[str, Any]:
        document: dict[str, Any] = {
            "type": "about:blank",
            "title": HTTPStatus(self.status).phrase,
            "status": self.status,
            "code": self.code,
            "detail": redact(self.detail),
        }
        if self.field is not None:
            document["field"] = self.field
        if self.fix is not None:
            document["fix"] = redact(self.fix)
        if instance is not None:
            document["instance"] = instance
        return document


def problem_response(problem: Problem, instance: str | None = None) -> JSONResponse:
    return JSONResponse(
        problem.body(instance),
        status_code=problem.status,
        headers=problem.headers,
        media_type=PROBLEM_JSON,
    )
