"""What ``publish`` returns: a :class:`Report` with one :class:`Outcome` per channel."""

from __future__ import annotations

import datetime as dt
import enum
import json
from typing import Any

import attrs

from unipost.channel import RecipientResult
from unipost.errors import UnipostError
from unipost.records import Attempt, State

__all__ = ["Attempt", "DeliveryFailed", "Outcome", "Report", "ReportStatus"]


class ReportStatus(enum.Enum):
    SUCCEEDED = "succeeded"
    PARTIAL = "partial"  # some targets delivered, some failed for good
    PENDING = "pending"  # still being worked on in the background lane
    FAILED = "failed"
    AMBIGUOUS = "ambiguous"  # may have been published; a person must settle it


@attrs.frozen(kw_only=True)
class Outcome:
    """One channel's fate."""

    channel: str
    state: State
    platform_id: str | None = None
    url: str | None = None
    reason: str | None = None
    error_class: str | None = None
    attempts: tuple[Attempt, ...] = ()
    next_attempt_at: float | None = None
    possible_duplicate: bool = False
    recipients: tuple[RecipientResult, ...] = ()
    extra: dict[str, Any] = attrs.field(factory=dict)
    record_id: str | None = None

    @property
    def ok(self) -> bool:
        return self.state is State.DELIVERED

    def line(self) -> str:
        name = f"{self.channel:<14}"
        if self.state is State.DELIVERED:
            where = self.url or self.platform_id or ""
            dup = " (possible duplicate)" if self.possible_duplicate else ""
            return f"✓ {name} delivered  {where}{dup}"
        if self.state in (State.RETRY_WAIT, State.PENDING, State.RECONCILING, State.SENDING):
            when = ""
            if self.next_attempt_at:
                moment = dt.datetime.fromtimestamp(self.next_attempt_at, dt.UTC)
                when = f" next try {moment:%H:%M:%S} UTC"
            return f"… {name} pending    {self.reason or ''}{when}".rstrip()
        mark = {State.SKIPPED: "-", State.AMBIGUOUS: "?", State.BLOCKED: "!"}.get(self.state, "✗")
        return f"{mark} {name} {self.state.value:<10} {self.reason or ''}".rstrip()


@attrs.frozen(kw_only=True)
class Report:
    """The result of one publish: readable ``str()``, ``.ok``, ``raise_for_errors()``, JSON."""

    post_id: str
    revision: int
    status: ReportStatus
    outcomes: tuple[Outcome, ...]
    durable: bool
    started_at: float
    finished_at: float
    warnings: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.status is ReportStatus.SUCCEEDED

    def __getitem__(self, channel: str) -> Outcome:
        for outcome in self.outcomes:
            if outcome.channel == channel:
                return outcome
        raise KeyError(channel)

    def summary(self) -> str:
        counts: dict[str, int] = {}
        for outcome in self.outcomes:
            counts[outcome.state.value] = counts.get(outcome.state.value, 0) + 1
        return ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))

    def __str__(self) -> str:
        head = f"post {self.post_id} (revision {self.revision}): {self.status.value}"
        if not self.durable:
            head += " [in-memory outbox: not durable]"
        lines = [head, *("  " + o.line() for o in self.outcomes)]
        lines.extend(f"  warning: {w}" for w in self.warnings)
        return "\n".join(lines)

    def raise_for_errors(self) -> Report:
        """Raise :class:`DeliveryFailed` unless the route succeeded; return self otherwise."""
        if not self.ok:
            raise DeliveryFailed(self)
        return self

    def to_dict(self) -> dict[str, Any]:
        def convert(_inst: Any, _field: Any, value: Any) -> Any:
            if isinstance(value, enum.Enum):
                return value.value
            return value

        return attrs.asdict(self, value_serializer=convert)

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), **kwargs)


class DeliveryFailed(UnipostError):
    """Raised by :meth:`Report.raise_for_errors` when a route did not succeed."""

    def __init__(self, report: Report) -> None:
        self.report = report
        super().__init__(f"publish {report.status.value}: {report.summary()}")
