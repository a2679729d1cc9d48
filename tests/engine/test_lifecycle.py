"""The decision table of unipost.lifecycle, row by row (reference/resilience.md A.4–A.11)."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from unipost import lifecycle, reconciling
from unipost.channel import Capabilities, Idempotency, Receipt
from unipost.errors import (
    Ambiguous,
    AuthFailed,
    DeliveryError,
    DuplicateSignal,
    Forbidden,
    NotSent,
    Permanent,
    QuotaExhausted,
    RateLimited,
    Transient,
)
from unipost.lifecycle import Situation
from unipost.operations import retry_requested
from unipost.records import Record, State
from unipost.retry import BACKGROUND, INLINE

NOW = 1_800_000_000.0
SRC = Path(__file__).parents[2] / "src" / "unipost"

NONE = Idempotency.NONE
KEY = Idempotency.KEY
CLIENT = Idempotency.CLIENT_ID
LOOKUP = Idempotency.LOOKUP


def record(**fields: object) -> Record:
    base: dict[str, object] = {
        "id": "r1",
        "publication_id": "p1",
        "post_id": "post",
        "revision": 1,
        "channel": "c",
        "path": "0",
        "delivery_key": "up1-k",
        "ttl_at": NOW + 86_400,
        "state": State.SENDING,
        "attempts": 1,
        "started_at": NOW - 1,
    }
    base.update(fields)
    return Record(**base)  # type: ignore[arg-type]


def situation(ways: Idempotency = NONE, **fields: object) -> Situation:
    caps = Capabilities(text_limit=None, idempotency=ways, idempotency_window=3600.0)
    base: dict[str, object] = {
        "now": NOW,
        "caps": caps,
        "policy": INLINE,
        "inline": True,
        "attempts_here": 1,
        "rng": random.Random(7),
    }
    base.update(fields)
    return Situation(**base)  # type: ignore[arg-type]


# (row, error, idempotency, situation overrides, expected state, expected class, moves on, defers)
ROWS: list[tuple[str, DeliveryError, Idempotency, dict[str, object], State, str, bool, bool]] = [
    ("not sent: retry", NotSent("refused"), NONE, {}, State.RETRY_WAIT, "not_sent", False, False),
    (
        "503: retry",
        Transient("down", status=503),
        NONE,
        {},
        State.RETRY_WAIT,
        "transient",
        False,
        False,
    ),
    (
        "transient, attempts used up: background",
        Transient("down"),
        NONE,
        {"attempts_here": 3},
        State.RETRY_WAIT,
        "transient",
        True,
        True,
    ),
    (
        "transient, budget empty: background",
        Transient("down"),
        NONE,
        {"budget_ok": False},
        State.RETRY_WAIT,
        "transient",
        True,
        True,
    ),
    (
        "429 with a wait",
        RateLimited("slow", retry_after=30.0),
        NONE,
        {},
        State.RETRY_WAIT,
        "rate_limited",
        False,
        False,
    ),
    (
        "429 beyond the inline cap: background",
        RateLimited("slow", retry_after=600.0),
        NONE,
        {},
        State.RETRY_WAIT,
        "rate_limited",
        True,
        True,
    ),
    (
        "maybe applied, KEY: same-key retry",
        Ambiguous("timeout"),
        KEY,
        {},
        State.RETRY_WAIT,
        "ambiguous",
        False,
        False,
    ),
    (
        "maybe applied, CLIENT_ID: same-key retry",
        Transient("500", may_have_applied=True),
        CLIENT,
        {},
        State.RETRY_WAIT,
        "ambiguous",
        False,
        False,
    ),
    (
        "maybe applied, LOOKUP: reconcile",
        Ambiguous("timeout"),
        LOOKUP,
        {},
        State.RECONCILING,
        "ambiguous",
        False,
        False,
    ),
    (
        "maybe applied, nothing: hold",
        Ambiguous("timeout"),
        NONE,
        {},
        State.AMBIGUOUS,
        "ambiguous",
        True,
        False,
    ),
    (
        "maybe applied, opted in: resend",
        Ambiguous("timeout"),
        NONE,
        {"retry_ambiguous": True},
        State.RETRY_WAIT,
        "ambiguous",
        False,
        False,
    ),
    (
        "duplicate, KEY only: hold",
        DuplicateSignal("exists"),
        KEY,
        {},
        State.AMBIGUOUS,
        "duplicate_signal",
        True,
        False,
    ),
    (
        "duplicate, LOOKUP: reconcile",
        DuplicateSignal("exists"),
        LOOKUP,
        {},
        State.RECONCILING,
        "duplicate_signal",
        False,
        False,
    ),
    (
        "quota: background",
        QuotaExhausted("daily", retry_after=7200.0),
        NONE,
        {},
        State.RETRY_WAIT,
        "quota_exhausted",
        True,
        True,
    ),
    (
        "temporary block: background",
        Forbidden("368", retry_after=3600.0),
        NONE,
        {},
        State.RETRY_WAIT,
        "forbidden",
        True,
        True,
    ),
    (
        "forbidden: fail",
        Forbidden("no permission"),
        NONE,
        {},
        State.FAILED,
        "forbidden",
        True,
        False,
    ),
    ("auth: block", AuthFailed("expired"), KEY, {}, State.BLOCKED, "auth", True, False),
    ("permanent: fail", Permanent("bad"), KEY, {}, State.FAILED, "permanent", True, False),
]


@pytest.mark.parametrize(
    ("row", "error", "ways", "overrides", "state", "error_class", "moves_on", "defers"),
    ROWS,
    ids=[row[0] for row in ROWS],
)
def test_decision_table(
    row: str,
    error: DeliveryError,
    ways: Idempotency,
    overrides: dict[str, object],
    state: State,
    error_class: str,
    moves_on: bool,
    defers: bool,
) -> None:
    rec = record()
    transition = lifecycle.on_error(rec, error, situation(ways, **overrides))
    assert transition.state is state, row
    lifecycle.apply(rec, transition, NOW)
    assert rec.state is state
    assert rec.last_class == error_class
    assert rec.lease_owner is None
    assert transition.move_on is moves_on, row
    assert transition.defer is defers, row
    if state is State.RETRY_WAIT:
        assert rec.next_attempt_at >= NOW + INLINE.floor, "every wait has a floor"


def test_a_rate_limit_of_unknown_length_waits_the_429_floor() -> None:
    """#14.1: a reset already past is 'unknown', never a wait of zero (a tight loop)."""
    for lane, policy in ((True, INLINE), (False, BACKGROUND)):
        t = lifecycle.on_error(record(), RateLimited("slow"), situation(inline=lane, policy=policy))
        assert t.next_attempt_at is not None
        assert t.next_attempt_at - NOW >= policy.rate_floor


def test_a_rate_limit_counts_against_the_attempts() -> None:
    """#14.1: the third 429 in a row hands over to the background lane."""
    t = lifecycle.on_error(record(), RateLimited("slow"), situation(attempts_here=3))
    assert t.defer


def test_a_rate_limit_past_the_ttl_fails() -> None:
    t = lifecycle.on_error(
        record(ttl_at=NOW + 10), RateLimited("slow", retry_after=60.0), situation()
    )
    assert t.state is State.FAILED


def test_a_key_past_its_window_reconciles_or_holds() -> None:
    old = record(state=State.RETRY_WAIT, last_class="ambiguous", started_at=NOW - 7200)
    caps = Capabilities(text_limit=None, idempotency=KEY | LOOKUP, idempotency_window=3600.0)
    passed = reconciling.key_unprotected(old, caps, NOW)
    assert passed is not None
    assert passed.state is State.RECONCILING
    caps = Capabilities(text_limit=None, idempotency=KEY, idempotency_window=3600.0)
    passed = reconciling.key_unprotected(old, caps, NOW)
    assert passed is not None
    assert passed.state is State.AMBIGUOUS
    fresh = record(state=State.RETRY_WAIT, last_class="ambiguous", started_at=NOW - 60)
    assert reconciling.key_unprotected(fresh, caps, NOW) is None


def test_a_key_the_server_ignores_reconciles_or_holds_even_inside_its_window() -> None:
    fresh = record(state=State.RETRY_WAIT, last_class="ambiguous", started_at=NOW - 60)
    why = "GoToSocial 0.17 ignores Idempotency-Key"
    caps = Capabilities(text_limit=None, idempotency=KEY | LOOKUP, idempotency_window=3600.0)
    unsafe = reconciling.key_unprotected(fresh, caps, NOW, ignored=why)
    assert unsafe is not None
    assert unsafe.state is State.RECONCILING
    assert unsafe.details["reason"] == why
    caps = Capabilities(text_limit=None, idempotency=KEY, idempotency_window=3600.0)
    unsafe = reconciling.key_unprotected(fresh, caps, NOW, ignored=why)
    assert unsafe is not None
    assert unsafe.state is State.AMBIGUOUS
    assert why in unsafe.last_error
    # A record that is not about to resend on the key's promise is left alone.
    failed_before = record(state=State.RETRY_WAIT, last_class="transient", started_at=NOW - 60)
    assert reconciling.key_unprotected(failed_before, caps, NOW, ignored=why) is None


def test_lookups_absent_twice_allow_a_resend_and_found_delivers() -> None:
    rec = record(state=State.RECONCILING, last_class="ambiguous")
    first = reconciling.lookup_absent(rec, situation(LOOKUP))
    assert first.state is State.RECONCILING
    lifecycle.apply(rec, first, NOW)
    second = reconciling.lookup_absent(rec, situation(LOOKUP))
    assert second.state is State.RETRY_WAIT
    assert second.last_class is None  # proven absent: a resend cannot duplicate
    done = lifecycle.delivered(Receipt(platform_id="x1", url="https://x/1"))
    lifecycle.apply(rec, done, NOW)
    assert rec.state is State.DELIVERED
    assert rec.platform_id == "x1"


def test_an_unknown_lookup_holds_and_a_claimed_match_is_not_ours() -> None:
    assert reconciling.lookup_unknown("page limit").state is State.AMBIGUOUS
    claimed = reconciling.unclaimed_match("post-9", "other-record")
    assert claimed.state is State.AMBIGUOUS
    assert "other-record" in str(claimed.last_error)


@pytest.mark.parametrize(
    ("ways", "state"),
    [
        (KEY, State.RETRY_WAIT),
        (CLIENT, State.RETRY_WAIT),
        (LOOKUP, State.RECONCILING),
        (NONE, State.AMBIGUOUS),
    ],
)
def test_recovery_after_a_crash_follows_the_idempotency_kind(
    ways: Idempotency, state: State
) -> None:
    caps = Capabilities(text_limit=None, idempotency=ways)
    assert reconciling.recovered(record(), caps, NOW).state is state


def test_ttl_expiry_holds_what_may_have_posted() -> None:
    assert lifecycle.expired(record(state=State.RETRY_WAIT)).state is State.EXPIRED
    assert lifecycle.expired(record(state=State.RECONCILING)).state is State.AMBIGUOUS
    maybe = record(state=State.RETRY_WAIT, last_class="ambiguous")
    assert lifecycle.expired(maybe).state is State.AMBIGUOUS


def test_terminal_states_stay_terminal_except_for_a_person() -> None:
    rec = record()
    lifecycle.apply(rec, lifecycle.delivered(Receipt(platform_id="1")), NOW)
    with pytest.raises(lifecycle.TerminalState):
        lifecycle.apply(rec, lifecycle.on_error(rec, Transient("x"), situation()), NOW)
    failed = record()
    lifecycle.apply(failed, lifecycle.rejected("too long"), NOW)
    lifecycle.apply(failed, retry_requested(failed, NOW, 3600.0), NOW)
    assert failed.state is State.RETRY_WAIT


def test_superseded_while_unproven_is_settled_not_left_sending() -> None:
    """#14.15: a record left `sending` by a killed process when a sibling delivered."""
    looked = lifecycle.superseded_unproven("email", lookup=True, now=NOW)
    assert looked.state is State.RECONCILING
    held = lifecycle.superseded_unproven("email", lookup=False, now=NOW)
    assert held.state is State.AMBIGUOUS
    assert "email" in str(held.last_error)


def test_exactly_one_place_assigns_a_record_state() -> None:
    """Every state change goes through lifecycle.apply; the stores only persist it."""
    assignment = re.compile(
        r"\b(?:record|rec|r|sibling|self\.record)\.state\s*=[^=]|\.state\s*=\s*State\."
    )
    places = []
    for path in SRC.rglob("*.py"):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if assignment.search(line):
                places.append(f"{path.relative_to(SRC)}:{number}")
    assert places == ["lifecycle.py:" + str(_apply_line())], places


def _apply_line() -> int:
    lines = (SRC / "lifecycle.py").read_text(encoding="utf-8").splitlines()
    return next(i for i, line in enumerate(lines, 1) if "record.state = transition.state" in line)
