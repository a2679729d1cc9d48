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
    PARTIAL = "partial"  # some targets (or some recipients of one) delivered, some failed for good
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
        return self.state is State.DELIVERED and not self.partial

    @property
    def partial(self) -> bool:
        """Delivered, but at least one recipient (an address, a number) failed for good."""
        return self.state is State.DELIVERED and any(not r.ok for r in self.recipients)

    def cause(self) -> str:
        """Why this outcome is not a delivery, in one line (empty when it is one).

        A superseded or held outcome keeps what went wrong before it was
        passed over: "superseded: email delivered; before that: transient HTTP 503 ...".
        """
        if self.state is State.DELIVERED:
            if not self.partial:
                return ""
            failed = [(i, r) for i, r in enumerate(self.recipients, 1) if not r.ok]
            i, first = failed[0]
            more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
            return (
                f"{len(failed)} of {len(self.recipients)} recipients failed: "
                f"#{i} {first.recipient}: {first.reason or 'refused'}{more}"
            )
        reason = _one_line(self.reason or "")
        advisory = str(self.extra.get("advisory") or "")
        if advisory and advisory not in reason:  # skipped on a status feed's word: say whose
            reason = f"{reason}; before that: {advisory}" if reason else advisory
        failure = next((a for a in reversed(self.attempts) if a.error_class), None)
        if failure is None:
            return reason
        why = " ".join(
            bit
            for bit in (
                failure.error_class,
                f"HTTP {failure.http_status}" if failure.http_status else "",
                _one_line(failure.message or ""),
            )
            if bit
        )
        if not reason:
            return why
        if failure.message and _one_line(failure.message) in reason:
            return reason
        if self.state in (State.FAILED, State.EXPIRED) and (failure.error_class or "") in reason:
            return reason
        return f"{reason}; before that: {why}"

    def _duplicate_note(self) -> str:
        if not self.possible_duplicate:
            return ""
        copies = [c for c in self.extra.get("duplicates", []) if not c.get("removed_at")]
        if not copies:
            return " (possible duplicate)"
        where = ", ".join(str(c.get("url") or c.get("platform_id")) for c in copies)
        return f" (duplicate: also at {where} — `unipost outbox remove-duplicate {self.record_id}`)"

    def line(self) -> str:
        name = f"{self.channel:<14}"
        if self.state is State.DELIVERED:
            where = self.url or self.platform_id or ""
            dup = self._duplicate_note()
            if self.partial:
                good = sum(1 for r in self.recipients if r.ok)
                return (
                    f"◐ {name} partial    {where}{dup} — delivered to {good} of "
                    f"{len(self.recipients)}; {self.cause()}"
                ).rstrip()
            return f"✓ {name} delivered  {where}{dup}"
        if self.state in (State.RETRY_WAIT, State.PENDING, State.RECONCILING, State.SENDING):
            when = ""
            if self.next_attempt_at:
                moment = dt.datetime.fromtimestamp(self.next_attempt_at, dt.UTC)
                when = f" next try {moment:%Y-%m-%d %H:%M:%S} UTC"
            return f"… {name} pending    {self.cause()}{when}".rstrip()
        mark = {State.SKIPPED: "-", State.AMBIGUOUS: "?", State.BLOCKED: "!"}.get(self.state, "✗")
        return f"{mark} {name} {self.state.value:<10} {self.cause()}".rstrip()


def _one_line(text: str) -> str:
    return " ".join(text.split())


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

    def __attrs_post_init__(self) -> None:
        # A channel that reached only some of its recipients is not a success.
        if self.status is ReportStatus.SUCCEEDED and any(o.partial for o in self.outcomes):
            object.__setattr__(self, "status", ReportStatus.PARTIAL)

    @property
    def ok(self) -> bool:
        return self.status is ReportStatus.SUCCEEDED

    @property
    def replayed(self) -> bool:
        """Served from an earlier publish of the same post: nothing was sent by this call."""
        times = [a.started_at for o in self.outcomes for a in o.attempts]
        return bool(times) and max(times) < self.started_at

    @property
    def published_at(self) -> float | None:
        """When the last delivery of this post happened (from the attempt log)."""
        times = [
            a.started_at + a.duration
            for o in self.outcomes
            if o.state is State.DELIVERED
            for a in o.attempts
            if a.error_class is None
        ]
        return max(times) if times else None

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

    def head(self) -> str:
        """The first line: the post, its status, and whether this call sent anything."""
        head = f"post {self.post_id} (revision {self.revision}): {self.status.value}"
        if self.replayed:
            when = self.published_at or max(a.started_at for o in self.outcomes for a in o.attempts)
            moment = dt.datetime.fromtimestamp(when, dt.UTC)
            verb = "already published" if self.status is ReportStatus.SUCCEEDED else "last tried"
            head += f" — {verb} on {moment:%Y-%m-%d %H:%M} UTC, nothing sent now"
        if not self.durable:
            head += " [in-memory outbox: not durable]"
        return head

    def __str__(self) -> str:
        lines = [self.head(), *("  " + o.line() for o in self.outcomes)]
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

        data = attrs.asdict(self, value_serializer=convert)
        data["replayed"] = self.replayed
        for outcome, shown in zip(self.outcomes, data["outcomes"], strict=True):
            shown["partial"] = outcome.partial
            shown["cause"] = outcome.cause() or None
        return data

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), **kwargs)


class DeliveryFailed(UnipostError):
    """Raised by :meth:`Report.raise_for_errors` when a route did not succeed."""

    def __init__(self, report: Report) -> None:
        self.report = report
        super().__init__(f"publish {report.status.value}: {report.summary()}")
