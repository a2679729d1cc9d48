"""A status feed's word in the breaker: it opens before anything fails, never closes it."""

from __future__ import annotations

from unipost.breaker import Admission, BreakerData, BreakerSettings, BreakerState, Severity, step

CFG = BreakerSettings()
NOW = 1_800_000_000.0
NOTE = "Meta reports a major outage of the Graph API"


def advise(
    data: BreakerData, severity: Severity, now: float = NOW, since: float = 0.0
) -> BreakerData:
    note = NOTE if severity is not Severity.OK else ""
    return step(data, f"advise_{severity.value}", now, CFG, since, note)[0]


def allow(data: BreakerData, now: float, *, inline: bool) -> tuple[BreakerData, Admission | None]:
    return step(data, "allow", now, CFG, 1.0 if inline else 0.0)


def test_a_major_outage_pre_opens_a_closed_breaker() -> None:
    data = advise(BreakerData(), Severity.MAJOR, since=NOW - 120)
    assert data.state is BreakerState.OPEN
    assert data.advised_open
    assert data.advisory_since == NOW - 120
    assert data.open_until == NOW + CFG.open_base
    assert data.advice() == NOTE + " since 07:58 UTC"
    # The same word again (the next poll) changes nothing: it does not re-open or move "since".
    assert advise(data, Severity.MAJOR, NOW + 300, since=NOW + 300) == data


def test_inline_attempts_skip_it_while_the_background_lane_probes() -> None:
    data = advise(BreakerData(), Severity.MAJOR)
    later = NOW + CFG.open_base + 1
    assert allow(data, NOW + 1, inline=False)[1] is Admission.REFUSED  # open time first
    assert allow(data, later, inline=True)[1] is Admission.REFUSED  # inline: never, while advised
    probing, answer = allow(data, later, inline=False)
    assert answer is Admission.PROBE
    assert probing.state is BreakerState.HALF_OPEN
    assert allow(probing, later, inline=True)[1] is Admission.REFUSED


def test_a_green_feed_clears_the_advice_but_never_closes_the_breaker() -> None:
    data = advise(BreakerData(), Severity.MAJOR)
    green = advise(data, Severity.OK, NOW + 60)
    assert green.state is BreakerState.OPEN  # still open: only a real delivery closes it
    assert green.open_until == data.open_until
    assert (green.advisory, green.advisory_note, green.advisory_since) == ("", "", 0.0)
    # With the advice gone the inline lane may take the half-open probe itself.
    later = NOW + CFG.open_base + 1
    assert allow(green, later, inline=True)[1] is Admission.PROBE


def test_only_a_real_probe_closes_it_and_the_advice_is_kept() -> None:
    data = advise(BreakerData(), Severity.MAJOR)
    probing, _ = allow(data, NOW + CFG.open_base + 1, inline=False)
    closed, _ = step(probing, "ok", NOW + CFG.open_base + 2, CFG, 1.0)
    assert closed.state is BreakerState.CLOSED
    assert closed.advisory == "major"  # the feed still says so; inline may send again now
    assert allow(closed, NOW + CFG.open_base + 3, inline=True)[1] is Admission.ALLOWED
    failed, _ = step(probing, "fail", NOW + CFG.open_base + 2, CFG, 1.0)
    assert failed.state is BreakerState.OPEN
    assert failed.open_for == 2 * CFG.open_base


def test_a_degraded_status_lowers_the_failure_threshold() -> None:
    def failures(data: BreakerData, n: int) -> BreakerData:
        for i in range(n):
            data = step(data, "fail", NOW + i, CFG)[0]
        return data

    assert failures(BreakerData(), CFG.degraded_threshold).state is BreakerState.CLOSED
    degraded = advise(BreakerData(), Severity.MINOR)
    assert degraded.state is BreakerState.CLOSED  # minor never opens by itself
    assert failures(degraded, CFG.degraded_threshold).state is BreakerState.OPEN
    assert failures(BreakerData(), CFG.failure_threshold).state is BreakerState.OPEN


def test_an_open_breaker_keeps_its_own_timing_when_advice_arrives() -> None:
    opened = BreakerData(state=BreakerState.OPEN, open_until=NOW + 500, open_for=240)
    advised = advise(opened, Severity.MAJOR)
    assert (advised.open_until, advised.open_for) == (NOW + 500, 240)
    assert advised.advised_open
    isolated = advise(BreakerData(state=BreakerState.ISOLATED, open_until=NOW + 9), Severity.MAJOR)
    assert isolated.state is BreakerState.ISOLATED


def test_advice_survives_json_and_an_operator_reset_clears_it() -> None:
    data = advise(BreakerData(), Severity.MAJOR, since=NOW - 60)
    assert BreakerData.from_json(data.to_json()) == data
    assert step(data, "reset", NOW, CFG)[0] == BreakerData()
