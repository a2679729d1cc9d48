"""Structured delivery events, to the observer hook and to stdlib logging.

Event names follow ``reference/resilience.md`` A.13: ``attempt.start``,
``attempt.end``, ``retry.scheduled``, ``ratelimit.wait``, ``breaker.transition``,
``fallback``, ``ambiguous``, ``reconcile.result``, ``delivered``, ``failed``,
``expired``, ``blocked``; from status feeds ``status.reading``,
``status.advisory``, ``status.account``, ``status.error``; and from ``check()``,
``credential.expiring`` and ``credential.expired`` (see :mod:`unipost.credentials`),
``credential.reauthorized`` from ``unipost outbox retry --blocked-by``. Fields are
redacted when the event is made, so no observer or log line can see a secret, an
e-mail address or a phone number.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from unipost.redact import redact

__all__ = ["Emitter", "Event"]

log = logging.getLogger("unipost")
log.addHandler(logging.NullHandler())  # a library logs; the application decides where to


def _clean(fields: Mapping[str, Any]) -> dict[str, Any]:
    return {k: redact(v) if isinstance(v, str) else v for k, v in fields.items()}


@attrs.frozen(kw_only=True)
class Event:
    name: str
    at: float
    post_id: str | None = None
    channel: str | None = None
    fields: Mapping[str, Any] = attrs.field(factory=dict, converter=_clean)

    def message(self) -> str:
        bits = " ".join(f"{k}={v}" for k, v in self.fields.items())
        who = f" {self.post_id}→{self.channel}" if self.channel else ""
        return f"{self.name}{who} {bits}".rstrip()


_WARNINGS = frozenset(
    {
        "failed",
        "ambiguous",
        "expired",
        "blocked",
        "status.advisory",
        "credential.expiring",
        "credential.expired",
    }
)
_INFO = frozenset(
    {
        "delivered",
        "breaker.transition",
        "fallback",
        "status.account",
        "status.error",
        "credential.reauthorized",
    }
)


def _level(name: str) -> int:
    if name in _WARNINGS:
        return logging.WARNING
    return logging.INFO if name in _INFO else logging.DEBUG


@attrs.define
class Emitter:
    """Fans an event out to observers; a failing observer is logged, never raised."""

    observers: list[Callable[[Event], object]] = attrs.field(factory=list)

    def wants(self, name: str) -> bool:
        """Whether an event called ``name`` would reach anyone (cheap: skip building it)."""
        return bool(self.observers) or log.isEnabledFor(_level(name))

    def __call__(self, event: Event) -> None:
        level = _level(event.name)
        if log.isEnabledFor(level):
            log.log(level, event.message())
        for observer in self.observers:
            try:
                observer(event)
            except Exception:
                log.exception("event observer %r failed; delivery goes on", observer)
