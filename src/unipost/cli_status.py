"""What ``unipost channels`` says about each failure domain's breaker and status feed."""

from __future__ import annotations

import contextlib

from unipost.breaker import BreakerData, BreakerState
from unipost.config import Config
from unipost.errors import StoreError

__all__ = ["breaker_words", "domain_breakers"]


def domain_breakers(config: Config) -> dict[str, BreakerData]:
    """Every failure domain's breaker as the outbox (or Redis) keeps it; {} when none exists.

    An outbox file that is not there yet is not created just to be read.
    """
    if config.outbox == "memory":
        return {}
    postgres = (config.outbox or "").startswith(("postgresql://", "postgres://"))
    path = None if postgres else config.outbox_path()
    if config.shared_state is None and path is not None and not path.exists():
        return {}
    with contextlib.suppress(StoreError, OSError):
        store = config.store()
        try:
            return store.shared_state.breakers()
        finally:
            store.close()
    return {}


def breaker_words(data: BreakerData | None) -> str:
    """``breaker open (advisory): Meta reports … since 14:02 UTC``; "" when all is quiet."""
    if data is None:
        return ""
    words = ""
    if data.state is not BreakerState.CLOSED:
        words = f"breaker {data.state.value.replace('_', '-')}"
        if data.advised_open:
            words += " (advisory)"
    elif data.consecutive:
        words = f"{data.consecutive} failure(s) in a row"
    advice = data.advice()
    if advice:
        words = f"{words}: {advice}" if words else advice
    return words
