"""Each real feed format read into a reading: severity, the words people see, and since when."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from tests.status.conftest import document
from unipost.errors import ConfigurationError
from unipost.status_feeds import Severity, StatusFeedError, StatusSource, parse_feed
from unipost.status_poll import StatusSettings, parse_status


def source(fmt: str, *components: str, **extra: object) -> StatusSource:
    values: dict[str, object] = {"domain": "d", "url": "https://status.example/x", "label": "Acme"}
    return StatusSource(format=fmt, components=components, **(values | extra))  # type: ignore[arg-type]


def at(text: str) -> float:
    return dt.datetime.fromisoformat(text).timestamp()


def test_statuspage_indicator_maps_to_severity() -> None:
    major = parse_feed(source("statuspage"), 200, document("statuspage-status-major.json"))
    assert major.severity is Severity.MAJOR
    assert major.note("Discord") == "Discord reports a major outage (Partial System Outage)"
    ok = parse_feed(source("statuspage"), 200, document("statuspage-status-ok.json"))
    assert ok.severity is Severity.OK
    for indicator, severity in (("minor", Severity.MINOR), ("critical", Severity.MAJOR)):
        body = json.dumps({"page": {}, "status": {"indicator": indicator, "description": "x"}})
        assert parse_feed(source("statuspage"), 200, body.encode()).severity is severity


def test_statuspage_components_reads_only_the_named_ones() -> None:
    body = document("statuspage-components-discord.json")
    api = parse_feed(source("statuspage-components", "API"), 200, body)
    assert api.severity is Severity.MAJOR
    assert api.summary == "a major outage of API (API: major outage)"
    assert api.since == at("2026-12-03T14:02:10.911-08:00")
    media = parse_feed(source("statuspage-components", "Media Proxy"), 200, body)
    assert media.severity is Severity.OK
    # No names: every component that is not a group; Voice is a group here.
    assert parse_feed(source("statuspage-components"), 200, body).severity is Severity.MAJOR
    with pytest.raises(StatusFeedError, match="none of the components"):
        parse_feed(source("statuspage-components", "Gateway"), 200, body)


def test_metastatus_reads_the_products_asked_for() -> None:
    body = document("metastatus-orgs-major.json")
    graph = parse_feed(source("metastatus", "graph-api"), 200, body)
    assert graph.severity is Severity.MAJOR
    assert graph.note("Meta") == (
        "Meta reports a major outage of the Graph API (Graph API: High disruptions)"
    )
    assert graph.since == at("2026-12-03T14:02:00+00:00")
    whatsapp = parse_feed(source("metastatus", "whatsapp-business-api"), 200, body)
    assert whatsapp.severity is Severity.MINOR  # "Low disruptions"
    assert "Account Management: Low disruptions" in whatsapp.summary
    assert parse_feed(source("metastatus", "marketing-api"), 200, body).severity is Severity.OK
    calm = parse_feed(source("metastatus", "graph-api"), 200, document("metastatus-orgs-ok.json"))
    assert calm.severity is Severity.OK


def test_health_checks_of_mastodon_and_a_pds() -> None:
    assert parse_feed(source("health"), 200, b"OK").severity is Severity.OK
    assert parse_feed(source("health"), 200, document("pds-health-ok.json")).severity is Severity.OK
    down = parse_feed(source("health"), 503, document("pds-health-down.json"))
    assert down.severity is Severity.MAJOR
    assert down.summary == "a major outage (health check answered HTTP 503: Service Unavailable)"
    with pytest.raises(StatusFeedError, match="HTTP 404"):
        parse_feed(source("health"), 404, b"")


def test_whatsapp_number_health_names_the_blocking_entity() -> None:
    blocked = parse_feed(source("whatsapp-number"), 200, document("whatsapp-health-blocked.json"))
    assert blocked.severity is Severity.MAJOR
    assert blocked.summary.startswith("the number can send: BLOCKED (WABA: There is an error")
    limited = {"health_status": {"can_send_message": "LIMITED", "entities": []}}
    reading = parse_feed(source("whatsapp-number"), 200, json.dumps(limited).encode())
    assert reading.severity is Severity.MINOR


@pytest.mark.parametrize(
    ("fmt", "status", "body", "problem"),
    [
        ("statuspage", 200, b"<html>", "not JSON"),
        ("statuspage", 200, b'{"status": {"indicator": "purple"}}', "not none/minor/major"),
        ("statuspage", 502, b"", "HTTP 502"),
        ("statuspage-components", 200, b'{"components": {}}', "not a list"),
        ("metastatus", 200, b'{"graph-api": 1}', "not a list of products"),
        ("whatsapp-number", 200, b'{"health_status": {}}', "can_send_message None"),
    ],
)
def test_a_malformed_document_is_an_error_not_a_verdict(
    fmt: str, status: int, body: bytes, problem: str
) -> None:
    with pytest.raises(StatusFeedError, match=problem):
        parse_feed(source(fmt), status, body)


def test_a_source_names_a_known_format_and_hides_its_headers() -> None:
    with pytest.raises(ValueError, match="format 'rss'"):
        source("rss")
    secret = source("whatsapp-number", headers={"Authorization": "Bearer EAAG-very-secret"})
    assert "EAAG" not in repr(secret)
    assert secret.name == "Acme"
    assert source("metastatus", "graph-api").name == "Acme graph-api"


def test_status_configuration_is_checked_key_by_key() -> None:
    settings = parse_status(
        {
            "interval": 120,
            "off": ["Reddit"],
            "sources": [
                {
                    "domain": "meta",
                    "url": "https://metastatus.com/data/orgs.json",
                    "format": "metastatus",
                    "label": "Meta",
                    "components": ["marketing-api"],
                }
            ],
        }
    )
    assert settings.interval == 120
    assert settings.extra[0].components == ("marketing-api",)
    assert not settings.wanted(source("statuspage", label="Reddit"))
    assert StatusSettings(enabled=False).wanted(source("statuspage")) is False
    for raw, field in (
        ({"interval": 0}, "status.interval"),
        ({"every": 5}, "status.every"),
        ({"off": "Reddit"}, "status.off"),
        ({"sources": [{"url": "https://x", "format": "metastatus", "label": "M"}]}, "domain"),
        (
            {"sources": [{"domain": "d", "url": "ftp://x", "format": "health", "label": "x"}]},
            "status.sources[0].url",
        ),
        (
            {"sources": [{"domain": "d", "url": "https://x", "format": "rss", "label": "x"}]},
            "status.sources[0]",
        ),
    ):
        with pytest.raises(ConfigurationError) as caught:
            parse_status(raw)
        assert field in caught.value.field
