"""Platform status feeds: what a plugin declares, and how each real format is read.

A plugin names the public feeds that speak for a channel's failure domain
(the ``unipost_status_sources`` hook) as :class:`StatusSource` values; the
worker's :class:`~unipost.status_poll.StatusPoller` fetches them and turns
each answer into a :class:`Reading` with one of the parsers below:

``statuspage``
    Atlassian Statuspage ``/api/v2/status.json``: ``status.indicator`` is
    ``none``/``minor``/``major``/``critical`` for the whole page.
``statuspage-components``
    Statuspage ``/api/v2/components.json``: the worst ``status`` of the
    named components (``operational``, ``degraded_performance``,
    ``partial_outage``, ``major_outage``, ``under_maintenance``).
``metastatus``
    Meta's ``https://metastatus.com/data/orgs.json``: one entry per product
    ("org", e.g. ``graph-api``, ``whatsapp-business-api``) with its
    services' states ("No known issues", "Low/Medium/High disruptions").
``health``
    A server's own health check (Mastodon ``GET /health``, a PDS
    ``GET /xrpc/_health``): 2xx is healthy, 5xx or no answer is down.
``whatsapp-number``
    Graph ``GET /{phone-number-id}?fields=health_status``:
    ``can_send_message`` is ``AVAILABLE``/``LIMITED``/``BLOCKED`` for one
    number: an account's standing, not Meta's health (``scope="account"``).

Parsing is pure: bytes and a status code in, a :class:`Reading` out, or
:class:`StatusFeedError` when the document is not what the format says.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import attrs

from unipost.breaker import Severity

__all__ = [
    "FORMATS",
    "Reading",
    "Severity",
    "StatusFeedError",
    "StatusSource",
    "parse_feed",
]


class StatusFeedError(Exception):
    """A feed answered with something its format does not allow (kept out of the breaker)."""


def _headers(value: Mapping[str, str] | Sequence[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    items = value.items() if isinstance(value, Mapping) else value
    return tuple((str(k), str(v)) for k, v in items)


def _strings(value: Iterable[str]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(str(v) for v in value)


def _known_format(value: str) -> None:
    if value not in FORMATS:
        raise ValueError(f"format {value!r} is not one of: {', '.join(sorted(FORMATS))}")


@attrs.frozen(kw_only=True)
class StatusSource:
    """One public status document that speaks for a failure domain (or one account)."""

    domain: str  # the failure domain it speaks for: the channel's ``failure_domain``
    url: str
    format: str = attrs.field(validator=lambda _i, _a, v: _known_format(v))  # one of FORMATS
    label: str  # who reports it, for people: "Meta", "Discord", "mastodon.social"
    #: Statuspage component names / metastatus org ids that matter; empty: the whole page.
    components: tuple[str, ...] = attrs.field(default=(), converter=_strings)
    #: "domain": advises the domain's breaker; "account": one account's standing (events only).
    scope: str = attrs.field(
        default="domain", validator=attrs.validators.in_(("domain", "account"))
    )
    channel: str | None = None  # for an account source: the channel it describes
    #: Request headers (an account source's bearer token): never shown.
    headers: tuple[tuple[str, str], ...] = attrs.field(
        default=(), converter=_headers, repr=False, eq=True
    )
    interval: float | None = None  # seconds between polls; None: the configured default

    @property
    def name(self) -> str:
        """How configuration and events name it: ``label`` plus what it watches."""
        what = ",".join(self.components)
        return f"{self.label} {what}".strip() if what else self.label


@attrs.frozen(kw_only=True)
class Reading:
    """What one source said, once."""

    severity: Severity
    summary: str  # "a major outage of the Graph API (Graph API: High disruptions)"
    since: float | None = None  # when the platform says it began, if it says

    def note(self, label: str) -> str:
        return f"{label} reports {self.summary}"


_WORDS = {
    Severity.OK: "no known issues",
    Severity.MINOR: "degraded service",
    Severity.MAJOR: "a major outage",
}


def _summary(severity: Severity, what: str = "", detail: str = "") -> str:
    text = _WORDS[severity] + (f" of {what}" if what else "")
    return text + (f" ({detail})" if detail else "")


def _time(value: Any) -> float | None:
    """ISO 8601 (Statuspage, metastatus) or epoch seconds/milliseconds, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) / (1000.0 if value > 1e11 else 1.0)
    if isinstance(value, str) and value:
        try:
            moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.UTC)
        return moment.timestamp()
    return None


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError as exc:
        raise StatusFeedError(f"not JSON ({exc})") from None


def _object(value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise StatusFeedError(f"{what} is not an object")
    return value


def _ok(status: int) -> None:
    if not 200 <= status < 300:
        raise StatusFeedError(f"HTTP {status}")


_INDICATORS = {
    "none": Severity.OK,
    "minor": Severity.MINOR,
    "major": Severity.MAJOR,
    "critical": Severity.MAJOR,
}


def _statuspage(source: StatusSource, status: int, body: bytes) -> Reading:
    _ok(status)
    doc = _object(_json(body), "the document")
    page_status = _object(doc.get("status"), "status")
    indicator = page_status.get("indicator")
    if indicator not in _INDICATORS:
        raise StatusFeedError(f"status.indicator {indicator!r} is not none/minor/major/critical")
    severity = _INDICATORS[indicator]
    detail = str(page_status.get("description") or "")
    return Reading(severity=severity, summary=_summary(severity, detail=detail))


_COMPONENT = {
    "operational": Severity.OK,
    "under_maintenance": Severity.MINOR,
    "degraded_performance": Severity.MINOR,
    "partial_outage": Severity.MINOR,
    "major_outage": Severity.MAJOR,
}


def _components(source: StatusSource, status: int, body: bytes) -> Reading:
    _ok(status)
    listed = _object(_json(body), "the document").get("components")
    if not isinstance(listed, list):
        raise StatusFeedError("components is not a list")
    wanted = set(source.components)
    worst: tuple[Severity, list[str], float | None] = (Severity.OK, [], None)
    seen = False
    for item in listed:
        component = _object(item, "a component")
        name = str(component.get("name", ""))
        if (wanted and name not in wanted) or (not wanted and component.get("group")):
            continue
        seen = True
        state = component.get("status")
        if state not in _COMPONENT:
            raise StatusFeedError(f"component {name!r} has an unknown status {state!r}")
        severity = _COMPONENT[state]
        since = _time(component.get("updated_at"))
        if severity.rank > worst[0].rank:
            worst = (severity, [f"{name}: {str(state).replace('_', ' ')}"], since)
        elif severity is worst[0] and severity is not Severity.OK:
            worst[1].append(f"{name}: {str(state).replace('_', ' ')}")
    if wanted and not seen:
        raise StatusFeedError(f"none of the components {sorted(wanted)} is on the page")
    severity, details, since = worst
    what = " and ".join(d.split(":")[0] for d in details)
    return Reading(
        severity=severity, summary=_summary(severity, what, "; ".join(details)), since=since
    )


def _meta_severity(text: str) -> Severity:
    """metastatus.com service states: "No known issues", "Low/Medium/High disruptions"."""
    lowered = text.lower()
    if not lowered or "no known issues" in lowered or "resolved" in lowered:
        return Severity.OK
    if "high" in lowered or "major" in lowered or "outage" in lowered:
        return Severity.MAJOR
    return Severity.MINOR  # low or medium disruptions, degraded, anything else that is not "fine"


def _metastatus(source: StatusSource, status: int, body: bytes) -> Reading:
    _ok(status)
    orgs = _json(body)
    if not isinstance(orgs, list):
        raise StatusFeedError("orgs.json is not a list of products")
    wanted = set(source.components)
    worst: tuple[Severity, str, str, float | None] = (Severity.OK, "", "", None)
    seen = False
    for item in orgs:
        org = _object(item, "a product")
        if wanted and org.get("id") not in wanted and org.get("name") not in wanted:
            continue
        seen = True
        services = org.get("services") or []
        if not isinstance(services, list):
            raise StatusFeedError(f"the services of {org.get('id')!r} are not a list")
        for entry in services:
            service = _object(entry, "a service")
            text = str(service.get("status") or "")
            severity = _meta_severity(text)
            if severity.rank > worst[0].rank:
                org_name = str(org.get("name") or org.get("id"))
                detail = f"{service.get('name', '?')}: {text}"
                worst = (severity, org_name, detail, _time(service.get("time")))
    if wanted and not seen:
        raise StatusFeedError(f"none of the products {sorted(wanted)} is in orgs.json")
    severity, org_name, detail, since = worst
    what = f"the {org_name}" if org_name else ""
    return Reading(severity=severity, summary=_summary(severity, what, detail), since=since)


def _health(source: StatusSource, status: int, body: bytes) -> Reading:
    if 200 <= status < 300:
        return Reading(severity=Severity.OK, summary=_summary(Severity.OK))
    if status >= 500:
        detail = f"health check answered HTTP {status}"
        try:
            error = _object(_json(body), "the answer").get("error")
        except StatusFeedError:
            error = None
        if isinstance(error, str) and error:
            detail += f": {error}"
        return Reading(severity=Severity.MAJOR, summary=_summary(Severity.MAJOR, "", detail))
    raise StatusFeedError(f"HTTP {status} from a health check")


_NUMBER = {"AVAILABLE": Severity.OK, "LIMITED": Severity.MINOR, "BLOCKED": Severity.MAJOR}


def _whatsapp_number(source: StatusSource, status: int, body: bytes) -> Reading:
    _ok(status)
    health = _object(_object(_json(body), "the answer").get("health_status"), "health_status")
    verdict = health.get("can_send_message")
    if verdict not in _NUMBER:
        raise StatusFeedError(f"can_send_message {verdict!r} is not AVAILABLE/LIMITED/BLOCKED")
    reasons = []
    for entity in health.get("entities") or []:
        if isinstance(entity, Mapping) and entity.get("can_send_message") != "AVAILABLE":
            for error in entity.get("errors") or []:
                if isinstance(error, Mapping) and error.get("error_description"):
                    reasons.append(f"{entity.get('entity_type')}: {error['error_description']}")
    severity = _NUMBER[verdict]
    summary = f"the number can send: {verdict}" + (f" ({'; '.join(reasons)})" if reasons else "")
    return Reading(severity=severity, summary=summary)


Parser = Callable[[StatusSource, int, bytes], Reading]

#: Every format a :class:`StatusSource` may name, with its parser.
FORMATS: Mapping[str, Parser] = {
    "statuspage": _statuspage,
    "statuspage-components": _components,
    "metastatus": _metastatus,
    "health": _health,
    "whatsapp-number": _whatsapp_number,
}

#: Formats where no answer at all is itself the news (the server is the service).
UNREACHABLE_IS_DOWN = frozenset({"health"})


def parse_feed(source: StatusSource, status: int, body: bytes) -> Reading:
    """Read one answer of ``source`` (raises :class:`StatusFeedError` when malformed)."""
    return FORMATS[source.format](source, status, body)
