"""The read side shared by the API and the dashboard: outbox and dispatcher state as plain data.

Everything here goes through the public surface (the :class:`~unipost.outbox.Store`
protocol, :class:`~unipost.dispatcher.Dispatcher` and :mod:`unipost.report`), and
every free text that came from a platform or an operator is passed through
:func:`~unipost.redact.redact` on the way out: a response never carries a secret.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Any

from unipost.channel import Channel, Idempotency
from unipost.dispatcher import Dispatcher
from unipost.outbox import Attempt, Record, State, Store
from unipost.redact import redact
from unipost.report import Report

__all__ = [
    "ATTENTION_STATES",
    "SCAN_LIMIT",
    "attempt_json",
    "attention",
    "breakers",
    "calendar_month",
    "channel_json",
    "grid",
    "overview",
    "record_json",
    "report_json",
    "timeline",
]

#: How many records a dashboard view reads at most (the Store protocol has no counts).
SCAN_LIMIT = 100_000
ATTENTION_STATES = (State.AMBIGUOUS, State.BLOCKED, State.FAILED, State.EXPIRED)
WAITING = (State.PENDING, State.RETRY_WAIT, State.RECONCILING, State.SENDING)


def _clean(text: str | None) -> str | None:
    return None if text is None else redact(text)


def attempt_json(attempt: Attempt) -> dict[str, Any]:
    return {
        "n": attempt.n,
        "started_at": attempt.started_at,
        "duration": attempt.duration,
        "error_class": attempt.error_class,
        "http_status": attempt.http_status,
        "platform_code": _clean(attempt.platform_code),
        "retry_after": attempt.retry_after,
        "request_id": _clean(attempt.request_id),
        "message": _clean(attempt.message),
    }


def record_json(record: Record) -> dict[str, Any]:
    """A record as the API shows it (no lease internals, no delivery key)."""
    return {
        "id": record.id,
        "post_id": record.post_id,
        "revision": record.revision,
        "channel": record.channel,
        "path": record.path,
        "state": record.state.value,
        "attempts": record.attempts,
        "next_attempt_at": None if record.state.terminal else record.next_attempt_at,
        "ttl_at": record.ttl_at,
        "last_class": record.last_class,
        "last_error": _clean(record.last_error),
        "platform_id": record.platform_id,
        "url": record.url,
        "possible_duplicate": record.possible_duplicate,
        "moved_on": record.moved_on,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
    }


def report_json(report: Report, report_url: str) -> dict[str, Any]:
    return {
        "post_id": report.post_id,
        "revision": report.revision,
        "status": report.status.value,
        "durable": report.durable,
        "started_at": report.started_at,
        "finished_at": report.finished_at,
        "warnings": [redact(w) for w in report.warnings],
        "report_url": report_url,
        "outcomes": [
            {
                "channel": o.channel,
                "record_id": o.record_id,
                "state": o.state.value,
                "platform_id": o.platform_id,
                "url": o.url,
                "reason": _clean(o.reason),
                "error_class": o.error_class,
                "next_attempt_at": o.next_attempt_at,
                "possible_duplicate": o.possible_duplicate,
                "attempts": [attempt_json(a) for a in o.attempts],
                "recipients": [
                    {
                        "recipient": redact(r.recipient),
                        "ok": r.ok,
                        "platform_id": r.platform_id,
                        "reason": _clean(r.reason),
                    }
                    for r in o.recipients
                ],
            }
            for o in report.outcomes
        ],
    }


def channel_json(channel_id: str, channel: Channel) -> dict[str, Any]:
    """What a client may know about a channel: its kind and limits, never its settings."""
    caps = channel.capabilities
    return {
        "id": channel_id,
        "type": channel.name,
        "failure_domain": channel.failure_domain,
        "text_limit": caps.text_limit,
        "text_unit": caps.text_unit.value,
        "max_media": caps.max_media,
        "idempotency": sorted(
            (flag.name or "").lower() for flag in Idempotency if flag and flag in caps.idempotency
        ),
    }


def breakers(dispatcher: Dispatcher) -> list[dict[str, Any]]:
    """Every failure domain of a configured channel (and any other the breakers know)."""
    channels: dict[str, list[str]] = defaultdict(list)
    for channel_id, channel in dispatcher.channels.items():
        channels[channel.failure_domain].append(channel_id)
    domains = sorted(set(channels) | set(dispatcher.breakers.states()))
    result = []
    for domain in domains:
        data = dispatcher.breakers[domain].data
        held = data.state.value in ("open", "isolated")
        result.append(
            {
                "domain": domain,
                "state": data.state.value,
                "open_until": data.open_until if held else None,
                "channels": sorted(channels.get(domain, [])),
                "advisory": data.advisory or None,
                "advice": data.advice() or None,
            }
        )
    return result


def last_errors(store: Store, channel_ids: Iterable[str], limit: int = 5) -> list[dict[str, Any]]:
    """The newest records of these channels that carry an error, newest first."""
    found: list[Record] = []
    for channel_id in channel_ids:
        found.extend(r for r in store.query(channel=channel_id, limit=SCAN_LIMIT) if r.last_error)
    found.sort(key=lambda r: r.updated_at, reverse=True)
    return [record_json(r) for r in found[:limit]]


def overview(store: Store, now: float, *, hours: int = 24) -> dict[str, Any]:
    """Counts by state, the age of the oldest due record, and per-hour outcomes."""
    records = store.query(limit=SCAN_LIMIT)
    counts = Counter(r.state.value for r in records)
    due = [r.next_attempt_at for r in records if r.state in WAITING and r.next_attempt_at <= now]
    start = (int(now) // 3600 - hours + 1) * 3600
    delivered = [0] * hours
    failed = [0] * hours
    for record in records:
        slot = (int(record.updated_at) - start) // 3600
        if not 0 <= slot < hours:
            continue
        if record.state is State.DELIVERED:
            delivered[slot] += 1
        elif record.state in (State.FAILED, State.EXPIRED, State.AMBIGUOUS):
            failed[slot] += 1
    return {
        "counts": {state.value: counts.get(state.value, 0) for state in State},
        "total": len(records),
        "oldest_due_age": (now - min(due)) if due else None,
        "hours": [
            {"start": start + i * 3600, "delivered": delivered[i], "failed": failed[i]}
            for i in range(hours)
        ],
    }


def _parent(path: str) -> str:
    return path.rpartition(".")[0]


def grid(store: Store, *, limit: int = 50) -> dict[str, Any]:
    """Posts × channels: one cell per delivery record, newest posts first.

    A delivered record whose sibling alternative (same ``first_of``) was moved
    past is marked as the fallback that was used.
    """
    by_post: dict[tuple[str, int], list[Record]] = defaultdict(list)
    for record in store.query(limit=SCAN_LIMIT):
        by_post[(record.post_id, record.revision)].append(record)
    posts = sorted(by_post.items(), key=lambda item: -max(r.created_at for r in item[1]))[:limit]
    channels = sorted({r.channel for _, records in posts for r in records})
    rows = []
    for (post_id, revision), records in posts:
        skipped_parents = {_parent(r.path) for r in records if r.moved_on}
        cells: dict[str, dict[str, Any]] = {}
        for record in records:
            cell = record_json(record)
            cell["fallback"] = (
                record.state is State.DELIVERED
                and _parent(record.path) in skipped_parents
                and not record.moved_on
            )
            cells[record.channel] = cell
        rows.append(
            {
                "post_id": post_id,
                "revision": revision,
                "created_at": min(r.created_at for r in records),
                "cells": cells,
            }
        )
    return {"channels": channels, "rows": rows}


def timeline(store: Store, record: Record) -> list[dict[str, Any]]:
    """A record's attempts in order, each with the wait that preceded it."""
    entries = []
    previous_end: float | None = None
    for attempt in sorted(store.attempts(record.id), key=lambda a: a.started_at):
        entry = attempt_json(attempt)
        entry["waited"] = None if previous_end is None else attempt.started_at - previous_end
        previous_end = attempt.started_at + attempt.duration
        entries.append(entry)
    return entries


def attention(store: Store) -> dict[str, list[dict[str, Any]]]:
    """What needs a person: ambiguous records, blocked channels, failed and expired records."""
    return {
        state.value: [record_json(r) for r in store.query(states=[state], limit=SCAN_LIMIT)]
        for state in ATTENTION_STATES
    }


def _day(timestamp: float) -> dt.date:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).date()


def calendar_month(store: Store, year: int, month: int) -> dict[str, Any]:
    """Scheduled (not yet due) deliveries of one month, by UTC day."""
    by_day: dict[dt.date, dict[str, dict[str, Any]]] = defaultdict(dict)
    for record in store.query(states=[State.PENDING, State.RETRY_WAIT], limit=SCAN_LIMIT):
        day = _day(record.next_attempt_at)
        if (day.year, day.month) != (year, month):
            continue
        entry = by_day[day].setdefault(
            record.post_id,
            {"post_id": record.post_id, "at": record.next_attempt_at, "channels": []},
        )
        entry["channels"].append(record.channel)
        entry["at"] = min(entry["at"], record.next_attempt_at)
    weeks = []
    for week in calendar.Calendar(firstweekday=0).monthdatescalendar(year, month):
        weeks.append(
            [
                {
                    "date": day,
                    "in_month": day.month == month,
                    "posts": sorted(by_day.get(day, {}).values(), key=lambda e: e["at"]),
                }
                for day in week
            ]
        )
    return {"year": year, "month": month, "weeks": weeks}
