"""The rows for a create that may have been applied, and for the second look after it.

A lookup proves the post (``delivered``), proves its absence (twice, then a
resend cannot duplicate) or proves neither (``ambiguous``, never resent). A
process that died mid-attempt is recovered by what the channel can prove, and
a same-key resend its key no longer protects is reconciled instead.

A resend that followed two negative lookups can still leave two posts: the
first create hung past the lookups and was applied later, or the server
ignored the key. Such a delivery keeps ``verify_at``; the worker looks once
more then (:mod:`unipost.verification`) and a copy no record owns is
flagged, kept in ``extra["duplicates"]`` and offered for removal. These
notes change a delivered record's flags, never its state.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from unipost.channel import Capabilities, Idempotency, Receipt
from unipost.errors import ErrorClass
from unipost.lifecycle import (
    Situation,
    Transition,
    hold_ambiguous,
    skipped,
)
from unipost.records import Record, State

__all__ = [
    "VERIFY_TRIES",
    "copies_found",
    "copy_removed",
    "key_unprotected",
    "look_again",
    "lookup_absent",
    "lookup_unknown",
    "recovered",
    "unclaimed_match",
    "verified",
    "verify_at",
]

VERIFY_TRIES = 3  # second looks that could not tell before giving up (the record stays flagged)


def lookup_absent(record: Record, s: Situation) -> Transition:
    """Not found: once more after a gap, then (twice absent) a resend cannot duplicate."""
    absent = record.lookups_absent + 1
    superseded_by = record.extra.get("superseded_by")
    if absent >= 2 and superseded_by:
        return skipped(f"superseded: {superseded_by} delivered")
    if absent >= 2:
        return Transition(
            state=State.RETRY_WAIT,
            next_attempt_at=s.now,
            last_class=None,
            changes={"lookups_absent": absent},
        )
    gap = s.policy.reconcile_delays[1] - s.policy.reconcile_delays[0]
    return Transition(
        state=State.RECONCILING, next_attempt_at=s.now + gap, changes={"lookups_absent": absent}
    )


def lookup_unknown(reason: str) -> Transition:
    text = f"could not prove whether it was published: {reason}"
    return hold_ambiguous(reason, ErrorClass.AMBIGUOUS.value, last_error=text)


def unclaimed_match(platform_id: str, claimed_by: str) -> Transition:
    """A lookup found an object another record already owns: not ours, and not proof of absence."""
    return lookup_unknown(f"the matching post {platform_id} belongs to record {claimed_by}")


def recovered(record: Record, caps: Capabilities, now: float) -> Transition:
    """A ``sending`` record whose lease ran out: its process died mid-attempt."""
    ways = caps.idempotency
    reason = "the process stopped during an attempt"
    if Idempotency.KEY in ways or Idempotency.CLIENT_ID in ways:
        return Transition(
            state=State.RETRY_WAIT,
            next_attempt_at=now,
            last_class=ErrorClass.AMBIGUOUS.value,
            last_error=reason,
        )
    if Idempotency.LOOKUP in ways:
        return Transition(
            state=State.RECONCILING,
            next_attempt_at=now,
            last_class=ErrorClass.AMBIGUOUS.value,
            last_error=reason,
            changes={"lookups_absent": 0},
        )
    return hold_ambiguous(
        "process stopped during an attempt", ErrorClass.AMBIGUOUS.value, last_error=reason
    )


def key_unprotected(
    record: Record, caps: Capabilities, now: float, *, ignored: str | None = None
) -> Transition | None:
    """A same-key resend its key would not protect (window passed, or ``ignored``): reconcile."""
    if (
        record.last_class != ErrorClass.AMBIGUOUS.value
        or Idempotency.KEY not in caps.idempotency
        or Idempotency.CLIENT_ID in caps.idempotency
    ):
        return None
    window = caps.idempotency_window
    if ignored is None and (window is None or now - record.started_at < window):
        return None
    reason = ignored or "idempotency key window passed"
    if Idempotency.LOOKUP in caps.idempotency:
        return Transition(
            state=State.RECONCILING,
            next_attempt_at=now,
            changes={"lookups_absent": 0},
            event="ambiguous",
            details={"action": "reconcile", "reason": reason},
        )
    text = f"{reason}: the post could not be confirmed and is not resent"
    return hold_ambiguous(text, ErrorClass.AMBIGUOUS.value, last_error=text)


# -- the second look after a resend ------------------------------------------------------------


def verify_at(record: Record, caps: Capabilities, now: float, delay: float) -> float:
    """When to look again for an extra copy: after a resend that two lookups allowed, else never."""
    if record.lookups_absent >= 2 and Idempotency.LOOKUP in caps.idempotency:
        return now + delay
    return 0.0


def _note(**changes: object) -> Transition:
    return Transition(state=State.DELIVERED, note_only=True, changes=changes)


def verified() -> Transition:
    """The second look saw no copy but ours: nothing more to do."""
    return _note(verify_at=0.0)


def copies_found(record: Record, copies: Sequence[Receipt]) -> Transition:
    """Copies no record owns: the post went out more than once. Flagged, kept, never deleted."""
    known = {entry.get("platform_id") for entry in record.extra.get("duplicates", [])}
    listed = list(record.extra.get("duplicates", []))
    listed += [
        {"platform_id": copy.platform_id, "url": copy.url}
        for copy in copies
        if copy.platform_id not in known
    ]
    return attrs.evolve(
        _note(verify_at=0.0, possible_duplicate=True, extra={**record.extra, "duplicates": listed}),
        event="duplicate.found",
        details={"copies": len(listed), "urls": [entry["url"] or "" for entry in listed]},
    )


def look_again(record: Record, at: float, reason: str) -> Transition:
    """The second look could not tell: once more later, a few times, then the record says so."""
    tries = int(record.extra.get("verify_tries", 0)) + 1
    extra = {**record.extra, "verify_tries": tries}
    if tries < VERIFY_TRIES:
        return _note(verify_at=at, extra=extra)
    extra["verify_unsettled"] = reason
    return _note(verify_at=0.0, extra=extra)


def copy_removed(record: Record, platform_id: str, now: float) -> Transition:
    """A person had the extra copy ``platform_id`` deleted: the flag stays while another remains."""
    listed = [
        {**entry, "removed_at": now} if entry.get("platform_id") == platform_id else entry
        for entry in record.extra.get("duplicates", [])
    ]
    left = any("removed_at" not in entry for entry in listed)
    return attrs.evolve(
        _note(possible_duplicate=left, extra={**record.extra, "duplicates": listed}),
        event="duplicate.removed",
        details={"platform_id": platform_id},
    )
