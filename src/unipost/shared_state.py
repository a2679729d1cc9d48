"""State that every process delivering from one outbox must share.

Breakers per failure domain, retry budgets per domain, and rate-limit
not-before times per credential. In one process they could live in memory;
but a shop runs ``unipost publish`` from many short processes plus a worker,
and each would pay its own failures to a platform that is down, and a
restarted worker would forget an open breaker. So they live beside the
records: :class:`LocalState` for the memory store, the SQLite store's table
for one machine, Redis for many (``unipost.redis_state``).

Every operation is one atomic read-modify-write, so two processes never both
take a breaker's single probe or the last token of a budget.
"""

from __future__ import annotations

import abc
import threading
from collections.abc import Callable
from typing import Any, Protocol

from unipost.breaker import Admission, BreakerData, BreakerSettings, step

__all__ = ["JsonState", "LocalState", "SharedState"]


class SharedState(Protocol):
    """What a store offers for cross-process coordination; each call is atomic."""

    def breaker(self, domain: str) -> BreakerData: ...

    def breakers(self) -> dict[str, BreakerData]: ...

    def breaker_step(
        self,
        domain: str,
        op: str,
        now: float,
        settings: BreakerSettings,
        arg: float = 0.0,
        note: str = "",
    ) -> tuple[BreakerData, BreakerData, Admission | None]:
        """Apply :func:`unipost.breaker.step`; returns (before, after, answer)."""
        ...

    def budget_spend(self, domain: str, cost: int, capacity: int) -> bool:
        """Take ``cost`` tokens from ``domain``'s retry budget (full at ``capacity``) if it has them."""
        ...

    def budget_credit(self, domain: str, amount: int, capacity: int) -> None: ...

    def budget_tokens(self, domain: str, capacity: int) -> int: ...

    def not_before(self, key: str) -> float:
        """The earliest time anything may be sent for ``key`` (a credential): 0 when free."""
        ...

    def push_not_before(self, key: str, until: float) -> None:
        """Move ``key``'s not-before time later (never earlier)."""
        ...


class JsonState(abc.ABC):
    """The shared operations over a key → JSON-object map with an atomic update.

    A store provides :meth:`transact` (read, change, write, as one
    transaction) and :meth:`scan`; the rules are the same everywhere.
    """

    @abc.abstractmethod
    def transact(
        self, key: str, change: Callable[[dict[str, Any] | None], dict[str, Any] | None]
    ) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """Replace ``key``'s value by ``change(value)`` atomically; returns (before, after)."""

    def _update(
        self, key: str, change: Callable[[dict[str, Any] | None], dict[str, Any] | None]
    ) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """:meth:`transact`, skipped when a plain read shows nothing would change.

        The common case — a closed breaker letting a delivery through, a full
        budget refunded — then costs a read, not a write transaction.
        """
        before = self.read(key)
        if change(before) == before:
            return before, before
        return self.transact(key, change)

    @abc.abstractmethod
    def read(self, key: str) -> dict[str, Any] | None:
        """``key``'s value, or None."""

    @abc.abstractmethod
    def scan(self, prefix: str) -> dict[str, dict[str, Any]]:
        """Every key starting with ``prefix``, with its value."""

    def breaker(self, domain: str) -> BreakerData:
        return BreakerData.from_json(self.read(f"breaker:{domain}"))

    def breakers(self) -> dict[str, BreakerData]:
        found = self.scan("breaker:")
        return {key.removeprefix("breaker:"): BreakerData.from_json(v) for key, v in found.items()}

    def breaker_step(
        self,
        domain: str,
        op: str,
        now: float,
        settings: BreakerSettings,
        arg: float = 0.0,
        note: str = "",
    ) -> tuple[BreakerData, BreakerData, Admission | None]:
        answer: list[Admission | None] = [None]

        def change(value: dict[str, Any] | None) -> dict[str, Any]:
            after, answer[0] = step(BreakerData.from_json(value), op, now, settings, arg, note)
            return after.to_json()

        before, after = self._update(f"breaker:{domain}", change)
        return BreakerData.from_json(before), BreakerData.from_json(after), answer[0]

    def budget_spend(self, domain: str, cost: int, capacity: int) -> bool:
        paid = [False]

        def change(value: dict[str, Any] | None) -> dict[str, Any]:
            tokens = int(value["tokens"]) if value else capacity
            paid[0] = tokens >= cost
            return {"tokens": tokens - cost if paid[0] else tokens}

        self._update(f"budget:{domain}", change)
        return paid[0]

    def budget_credit(self, domain: str, amount: int, capacity: int) -> None:
        def change(value: dict[str, Any] | None) -> dict[str, Any]:
            tokens = int(value["tokens"]) if value else capacity
            return {"tokens": min(capacity, tokens + amount)}

        self._update(f"budget:{domain}", change)

    def budget_tokens(self, domain: str, capacity: int) -> int:
        value = self.read(f"budget:{domain}")
        return int(value["tokens"]) if value else capacity

    def not_before(self, key: str) -> float:
        value = self.read(f"not_before:{key}")
        return float(value["until"]) if value else 0.0

    def push_not_before(self, key: str, until: float) -> None:
        def change(value: dict[str, Any] | None) -> dict[str, Any]:
            current = float(value["until"]) if value else 0.0
            return {"until": max(current, until)}

        self._update(f"not_before:{key}", change)


class LocalState(JsonState):
    """Shared by the threads and loops of one process only (the memory store)."""

    def __init__(self) -> None:
        self._values: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def transact(
        self, key: str, change: Callable[[dict[str, Any] | None], dict[str, Any] | None]
    ) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        with self._lock:
            before = self._values.get(key)
            after = change(before)
            if after is None:
                self._values.pop(key, None)
            else:
                self._values[key] = after
            return before, after

    def read(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            return self._values.get(key)

    def scan(self, prefix: str) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {k: v for k, v in self._values.items() if k.startswith(prefix)}
