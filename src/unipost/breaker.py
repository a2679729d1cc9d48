"""Circuit breakers, one per failure domain, so an outage costs probes, not retries.

Opens on 5 consecutive counted failures or on a failure rate ≥ 50 % over the
last 60 s (with ≥ 10 calls). Until a success in the last 60 s proves the domain
up, at most the threshold of processes send to it at once (the others wait a
moment), so many processes starting together at a down platform cannot
overshoot; one process's own fan-out still goes out together. After a failure, until a success, requests go one at a time (every
process shares the breaker). While open, deliveries to the domain are not
attempted at all: ``first_of`` moves on at once. After the open time one probe
is let through (half-open); success closes, failure re-opens for twice as long
(30 s doubling to 10 min). Only failures that say "the platform is unwell"
count (``ErrorClass.counts_for_breaker``); a 400 or a 429 never opens it.

A platform's own status feed (:mod:`unipost.status_poll`) adds *advice*: a
major outage it reports pre-opens a closed breaker (inline attempts then skip
the domain while it lasts; the background lane still probes), a degraded
status lowers the failure threshold, and a green feed only clears the advice —
it never closes a breaker: only a real probe or delivery does.

The state is data (:class:`BreakerData`) changed by pure functions
(:func:`step`), kept in a :class:`~unipost.shared_state.SharedState`: every
process using one outbox (or one Redis) sees the same breaker, and a
restarted worker remembers an open one.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Callable
from typing import Protocol

import attrs

__all__ = [
    "Admission",
    "Breaker",
    "BreakerData",
    "BreakerSettings",
    "BreakerState",
    "BreakerStore",
    "Breakers",
    "Severity",
    "step",
]


class BreakerState(enum.Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"
    ISOLATED = "isolated"  # held open by an operator


class Severity(enum.Enum):
    """What a status feed says about a failure domain, worst last."""

    OK = "ok"
    MINOR = "minor"  # degraded, partial outage, maintenance: the threshold drops
    MAJOR = "major"  # a major outage: the breaker opens before anything fails

    @property
    def rank(self) -> int:
        return ("ok", "minor", "major").index(self.value)


class Admission(enum.Enum):
    ALLOWED = "allowed"
    PROBE = "probe"  # the one half-open request; report it with probe=True
    SINGLE = "single"  # failing, not open: the one request in flight; report with probe=True
    TRIAL = "trial"  # not proven up: one of the few senders; report the verdict as a trial
    WAIT = "wait"  # not proven up and enough other processes sending: ask again in a moment
    REFUSED = "refused"

    @property
    def verdict_arg(self) -> float:
        """How a verdict names the claim it releases (``step``'s ``arg``)."""
        return {Admission.PROBE: 1.0, Admission.SINGLE: 1.0, Admission.TRIAL: 2.0}.get(self, 0.0)


@attrs.frozen(kw_only=True)
class BreakerSettings:
    failure_threshold: int = 5
    rate_threshold: float = 0.5
    window: float = 60.0
    min_calls: int = 10
    open_base: float = 30.0
    open_cap: float = 600.0
    probe_wait: float = 1.0  # how soon a delivery refused during a probe asks again
    probe_lease: float = 60.0  # a probe whose process died is given up after this long
    degraded_threshold: int = 2  # consecutive failures that open it while a feed says degraded
    trial_wait: float = 0.2  # how soon a delivery told to WAIT asks again


@attrs.frozen(kw_only=True)
class BreakerData:
    """One domain's breaker, as stored (JSON-friendly)."""

    state: BreakerState = BreakerState.CLOSED
    open_until: float = 0.0
    open_for: float = 0.0
    consecutive: int = 0
    probe_until: float = 0.0  # a probe is in flight until then
    calls: tuple[tuple[float, bool], ...] = ()
    #: What the domain's status feed says ("" when it says nothing or all is well).
    advisory: str = ""
    advisory_since: float = 0.0
    advisory_note: str = ""  # "Meta reports a major outage of the Graph API"
    #: A success proves the domain up until then; before, few requests go at once.
    proven_until: float = 0.0
    #: The processes sending while it is unproven: (claimant, lease end).
    trials: tuple[tuple[str, float], ...] = ()

    @property
    def advised_open(self) -> bool:
        """A feed reports a major outage and no real delivery has closed the breaker since."""
        return self.advisory == Severity.MAJOR.value and self.state is not BreakerState.CLOSED

    def advice(self) -> str:
        """The feed's word in one line: "Meta reports a major outage of … since 14:02 UTC"."""
        if not self.advisory_note:
            return ""
        if not self.advisory_since:
            return self.advisory_note
        moment = dt.datetime.fromtimestamp(self.advisory_since, dt.UTC)
        return f"{self.advisory_note} since {moment:%H:%M} UTC"

    def to_json(self) -> dict[str, object]:
        return {
            **attrs.asdict(self, recurse=False),
            "state": self.state.value,
            "calls": list(self.calls),
            "trials": [list(trial) for trial in self.trials],
        }

    @classmethod
    def from_json(cls, data: dict[str, object] | None) -> BreakerData:
        if not data:
            return cls()
        calls = data.get("calls") or []
        return cls(
            state=BreakerState(str(data.get("state", "closed"))),
            open_until=float(data.get("open_until", 0.0)),  # type: ignore[arg-type]
            open_for=float(data.get("open_for", 0.0)),  # type: ignore[arg-type]
            consecutive=int(data.get("consecutive", 0)),  # type: ignore[call-overload]
            probe_until=float(data.get("probe_until", 0.0)),  # type: ignore[arg-type]
            calls=tuple((float(t), bool(ok)) for t, ok in calls),  # type: ignore[attr-defined]
            advisory=str(data.get("advisory") or ""),
            advisory_since=float(data.get("advisory_since") or 0.0),  # type: ignore[arg-type]
            advisory_note=str(data.get("advisory_note") or ""),
            proven_until=float(data.get("proven_until") or 0.0),  # type: ignore[arg-type]
            trials=tuple(
                (str(who), float(end))
                for who, end in data.get("trials") or []  # type: ignore[attr-defined]
            ),
        )


def _advice_only(data: BreakerData, proven_until: float = 0.0) -> BreakerData:
    """A closed breaker that still remembers what the feed says."""
    return BreakerData(
        advisory=data.advisory,
        advisory_since=data.advisory_since,
        advisory_note=data.advisory_note,
        proven_until=proven_until,
    )


def _open(data: BreakerData, now: float, duration: float) -> BreakerData:
    return attrs.evolve(
        data,
        state=BreakerState.OPEN,
        open_for=duration,
        open_until=now + duration,
        probe_until=0.0,
    )


def _threshold(data: BreakerData, cfg: BreakerSettings) -> int:
    if data.advisory:  # the platform itself says it is unwell: believe failures sooner
        return min(cfg.failure_threshold, cfg.degraded_threshold)
    return cfg.failure_threshold


def _live(data: BreakerData, now: float) -> tuple[tuple[str, float], ...]:
    return tuple(trial for trial in data.trials if trial[1] > now)


def _trial(
    data: BreakerData, now: float, cfg: BreakerSettings, claimant: str
) -> tuple[BreakerData, Admission]:
    """Closed, no failure: free once a recent success proved the domain up. Before that,
    at most the threshold of processes send at once, so a cold start of many cannot
    overshoot it (a process's own fan-out goes together: it is one caller's choice)."""
    if data.proven_until > now:
        return data, Admission.ALLOWED
    live = _live(data, now)
    if any(who == claimant for who, _end in live):
        return data, Admission.TRIAL  # already one of the senders: no write
    if len(live) >= _threshold(data, cfg):
        return data, Admission.WAIT
    return attrs.evolve(data, trials=(*live, (claimant, now + cfg.probe_lease))), Admission.TRIAL


def _trial_done(data: BreakerData, now: float, claimant: str) -> BreakerData:
    """The claimant's first verdict frees its place: a success proves the domain anyway,
    and after a failure nobody starts a trial."""
    kept = tuple(trial for trial in _live(data, now) if trial[0] != claimant)
    return data if kept == data.trials else attrs.evolve(data, trials=kept)


def _tripped(data: BreakerData, cfg: BreakerSettings) -> bool:
    if data.consecutive >= _threshold(data, cfg):
        return True
    if len(data.calls) < cfg.min_calls:
        return False
    failures = sum(1 for _, ok in data.calls if not ok)
    return failures / len(data.calls) >= cfg.rate_threshold


def _advise(
    data: BreakerData, severity: Severity, now: float, cfg: BreakerSettings, since: float, note: str
) -> BreakerData:
    if severity is Severity.OK:  # clears the advice only: a green feed never closes a breaker
        return attrs.evolve(data, advisory="", advisory_since=0.0, advisory_note="")
    same = data.advisory == severity.value
    data = attrs.evolve(
        data,
        advisory=severity.value,
        advisory_since=data.advisory_since if same else (since or now),
        advisory_note=note,
    )
    if severity is Severity.MAJOR and not same and data.state is BreakerState.CLOSED:
        return _open(data, now, cfg.open_base)  # pre-opened: the background lane probes it
    return data


def step(
    data: BreakerData,
    op: str,
    now: float,
    cfg: BreakerSettings,
    arg: float = 0.0,
    note: str = "",
) -> tuple[BreakerData, Admission | None]:
    """Apply one operation; the answer is an :class:`Admission` for ``"allow"``.

    Operations: ``allow`` (``arg`` 1.0 for the inline lane, ``note`` the claimant: the
    process); ``ok``, ``fail``, ``none`` (a verdict, ``arg`` 1.0 when it is the probe's,
    2.0 a trial's, ``note`` the claimant); ``isolate``
    (until ``arg``); ``reset``; ``advise_ok``, ``advise_minor``,
    ``advise_major`` (a status feed's word, ``arg`` since when, ``note`` why).
    """
    if op.startswith("advise_"):
        return _advise(data, Severity(op.removeprefix("advise_")), now, cfg, arg, note), None
    if op == "allow":
        if arg == 1.0 and data.advised_open:
            return data, Admission.REFUSED  # inline attempts skip a reported outage

        if data.state is BreakerState.CLOSED and not data.consecutive:
            return _trial(data, now, cfg, note)
        if data.state is BreakerState.CLOSED:
            # Failing but not open yet: one request at a time finds out, so processes that
            # share the breaker cannot send a burst past the threshold meanwhile.
            if data.probe_until > now or _live(data, now):
                return data, Admission.REFUSED
            return attrs.evolve(data, probe_until=now + cfg.probe_lease), Admission.SINGLE
        if data.state in (BreakerState.OPEN, BreakerState.ISOLATED):
            if now < data.open_until:
                return data, Admission.REFUSED
            data = attrs.evolve(data, state=BreakerState.HALF_OPEN, probe_until=0.0)
        if data.probe_until > now:
            return data, Admission.REFUSED
        return attrs.evolve(data, probe_until=now + cfg.probe_lease), Admission.PROBE
    if op == "isolate":
        return attrs.evolve(
            data, state=BreakerState.ISOLATED, open_until=arg, probe_until=0.0
        ), None
    if op == "reset":
        return BreakerData(), None
    probe = arg == 1.0
    if probe:
        data = attrs.evolve(data, probe_until=0.0)
    if arg == 2.0 and data.trials:  # a trial's verdict
        data = _trial_done(data, now, note)
    if op == "none":
        return data, None
    ok = op == "ok"
    proven = now + cfg.window
    if (
        ok
        and data.state is BreakerState.CLOSED
        and not data.consecutive
        and all(fine for _, fine in data.calls)
    ):
        # Nothing to count against: successes are recorded once the window holds a failure,
        # and the proof is renewed at most twice a window, so a healthy domain's
        # deliveries rarely cost a write to the shared state.
        if data.proven_until - now >= cfg.window / 2:
            return data, None
        return attrs.evolve(data, proven_until=proven), None
    calls = tuple(c for c in (*data.calls, (now, ok)) if c[0] >= now - cfg.window)
    data = attrs.evolve(data, calls=calls)
    if ok:
        data = attrs.evolve(data, consecutive=0, proven_until=proven)
        if data.state is BreakerState.HALF_OPEN and probe:
            return _advice_only(data, proven), None
        return data, None
    data = attrs.evolve(data, consecutive=data.consecutive + 1, proven_until=0.0)
    if data.state is BreakerState.HALF_OPEN and probe:
        return _open(data, now, min(cfg.open_cap, max(cfg.open_base, data.open_for * 2))), None
    if data.state is BreakerState.CLOSED and _tripped(data, cfg):
        return _open(data, now, cfg.open_base), None
    return data, None


Transition = Callable[[str, BreakerState, BreakerState, float | None], None]


class BreakerStore(Protocol):
    """Where breakers live (the breaker part of :class:`unipost.shared_state.SharedState`)."""

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
    ) -> tuple[BreakerData, BreakerData, Admission | None]: ...


@attrs.define
class Breaker:
    """One domain's breaker, read and changed through the shared state."""

    domain: str
    _owner: Breakers

    def _apply(self, op: str, now: float, arg: float = 0.0, note: str = "") -> Admission | None:
        return self._owner.apply(self.domain, op, now, arg, note)

    @property
    def data(self) -> BreakerData:
        return self._owner.state.breaker(self.domain)

    @property
    def state(self) -> BreakerState:
        return self.data.state

    def admit(self, now: float, *, inline: bool = False, claimant: str = "") -> Admission:
        """May a request be sent to this domain now? Claims the probe when half-open, a
        trial for ``claimant`` (the process) while the domain is not proven up.

        The inline lane is refused while a status feed's reported outage holds
        the breaker open; the background lane takes the probes."""
        answer = self._apply("allow", now, 1.0 if inline else 0.0, claimant)
        assert answer is not None
        return answer

    def retry_at(self, now: float) -> float:
        """When a delivery refused by :meth:`admit` should come back (never "now")."""
        data = self.data
        if data.open_until > now:
            return data.open_until
        return now + self._owner.settings.probe_wait

    def record(
        self,
        now: float,
        *,
        ok: bool | None,
        admission: Admission = Admission.ALLOWED,
        claimant: str = "",
    ) -> None:
        """Report an attempt: ``ok`` True/False, or None when it says nothing about health;
        ``admission`` is what :meth:`admit` answered (a probe or trial claim is released)."""
        op = "none" if ok is None else ("ok" if ok else "fail")
        self._apply(op, now, admission.verdict_arg, claimant)

    def isolate(self, until: float) -> None:
        self._apply("isolate", 0.0, until)

    def advise(self, severity: Severity, now: float, *, since: float = 0.0, note: str = "") -> None:
        """Record what the domain's status feed says (see :mod:`unipost.status_poll`)."""
        self._owner.apply(self.domain, f"advise_{severity.value}", now, since, note)

    def reset(self) -> None:
        self._apply("reset", 0.0)


@attrs.define
class Breakers:
    """All breakers of a dispatcher, kept in ``state`` (shared by every process using it)."""

    state: BreakerStore
    on_transition: Transition | None = None
    on_recovered: Callable[[str], None] | None = None
    settings: BreakerSettings = attrs.field(factory=BreakerSettings)

    def __getitem__(self, domain: str) -> Breaker:
        return Breaker(domain, self)

    def configure(self, **changes: float) -> None:
        """Change thresholds (tests and tuning): ``breakers.configure(failure_threshold=10)``."""
        self.settings = attrs.evolve(self.settings, **changes)  # type: ignore[arg-type]

    def apply(
        self, domain: str, op: str, now: float, arg: float = 0.0, note: str = ""
    ) -> Admission | None:
        before, after, answer = self.state.breaker_step(domain, op, now, self.settings, arg, note)
        failing = before.state is not BreakerState.CLOSED or before.consecutive > 0
        healed = after.state is BreakerState.CLOSED and not after.consecutive
        if op == "ok" and failing and healed and self.on_recovered is not None:
            self.on_recovered(domain)  # what waited on the failures may go now
        if before.state is not after.state and self.on_transition is not None:
            until = (
                after.open_until
                if after.state in (BreakerState.OPEN, BreakerState.ISOLATED)
                else None
            )
            self.on_transition(domain, before.state, after.state, until)
        return answer

    def isolate(self, domain: str, until: float) -> None:
        """Hold ``domain`` open by hand until ``until`` (epoch seconds)."""
        self[domain].isolate(until)

    def reset(self, domain: str) -> None:
        """Close ``domain``'s breaker by hand."""
        self[domain].reset()

    def states(self) -> dict[str, BreakerState]:
        return {domain: data.state for domain, data in self.state.breakers().items()}
