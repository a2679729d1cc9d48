"""Plugins name their status feeds through ``unipost_status_sources``; the config turns them on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import unipost
from unipost.api import build_dispatcher
from unipost.channels.webhook import WebhookChannel
from unipost.config import load_config
from unipost.plugins import PluginHost
from unipost.status_feeds import StatusSource

CONFIG = """
allow_inline_secrets = true

[channels.facebook]
type = "facebook"
page_id = "1234567890"
token = "EAAG-page-token-for-tests"

[channels.whatsapp]
type = "whatsapp"
phone_number_id = "106540352242922"
token = "EAAG-whatsapp-token-for-tests"
to = ["+4915112345601"]

[channels.mastodon]
type = "mastodon"
instance = "https://mastodon.social"
token = "mastodon-token-123"

[channels.bluesky]
type = "bluesky"
handle = "bakery.bsky.social"
app_password = "abcd-efgh-ijkl-mnop"

[channels.discord]
type = "discord"
webhook_url = "https://discord.com/api/webhooks/1234567890123456789/hK3s9_Zq-T0kEnPart0fTheWebhookUrl-abcdefghijklmnopqrstuvwxyz012345"

[channels.reddit]
type = "reddit"
subreddit = "r/smallbusiness"
client_id = "p-jcoLKBynTLew"
client_secret = "reddit-client-secret-123"
username = "bakery_owner"
password = "reddit-password-456"

[channels.sms]
type = "twilio-sms"
account_sid = "AC00000000000000000000000000000001"
auth_token = "twilio-auth-token-0123456789abcdef"
from_number = "+4915112345600"
to = ["+4915112345601"]

[channels.newsletter]
type = "sendgrid"
api_key = "SG.test-key-0123456789"
from_email = "news@bakery.example"
to = ["ana@example.com"]

[channels.linkedin]
type = "linkedin"
access_token = "linkedin-access-token-0123456789"
author = "urn:li:organization:5515715"
version = "202611"
"""

EXPECTED = {
    ("meta", "https://metastatus.com/data/orgs.json", "metastatus", ("graph-api",)),
    ("meta", "https://metastatus.com/data/orgs.json", "metastatus", ("whatsapp-business-api",)),
    ("mastodon.social", "https://mastodon.social/health", "health", ()),
    ("bsky.social", "https://bsky.social/xrpc/_health", "health", ()),
    (
        "discord",
        "https://discordstatus.com/api/v2/components.json",
        "statuspage-components",
        ("API",),
    ),
    ("reddit", "https://www.redditstatus.com/api/v2/status.json", "statuspage", ()),
    ("twilio", "https://status.twilio.com/api/v2/status.json", "statuspage", ()),
    ("twilio", "https://status.sendgrid.com/api/v2/status.json", "statuspage", ()),
    ("linkedin", "https://www.linkedin-apistatus.com/api/v2/status.json", "statuspage", ()),
}


@pytest.fixture
def host() -> PluginHost:
    """A plugin host of this test's own: the installed plugins, nothing shared."""
    return PluginHost()


def _shape(source: StatusSource) -> tuple[str, str, str, tuple[str, ...]]:
    return (source.domain, source.url, source.format, source.components)


def test_hook_status_sources(host: PluginHost, tmp_path: Path) -> None:
    """The installed plugins name their feeds; a plugin of one's own adds its own; a broken
    one is skipped, never fatal."""

    class OwnStatus:
        @unipost.hookimpl
        def unipost_status_sources(self, channel: Any) -> list[StatusSource] | None:
            if not isinstance(channel, WebhookChannel):
                return None
            return [
                StatusSource(
                    domain=channel.failure_domain,
                    url="https://status.crm.example/api/v2/status.json",
                    format="statuspage",
                    label="CRM",
                )
            ]

    class Broken:
        @unipost.hookimpl
        def unipost_status_sources(self, channel: Any) -> None:
            raise RuntimeError("no idea")

    host.register_plugin(OwnStatus(), "own-status")
    host.register_plugin(Broken(), "broken-status")
    (tmp_path / "unipost.toml").write_text(
        CONFIG + '\n[channels.crm]\ntype = "webhook"\nurl = "https://hooks.crm.example/in"\n'
        'secret = "whsec_c2VjcmV0LWZyb20tdGhlLXZhdWx0"\n',
        encoding="utf-8",
    )
    config = load_config(tmp_path / "unipost.toml", host=host)
    dispatcher = build_dispatcher(config, host=host)
    try:
        sources = dispatcher.status_sources
        shapes = {_shape(s) for s in sources if s.scope == "domain"}
        assert shapes == {
            *EXPECTED,
            (
                "webhook:hooks.crm.example",
                "https://status.crm.example/api/v2/status.json",
                "statuspage",
                (),
            ),
        }
        (number,) = [s for s in sources if s.scope == "account"]
        assert number.channel == "whatsapp"
        assert number.url.startswith("https://graph.facebook.com/v23.0/106540352242922?")
        assert "fields=health_status" in number.url
        assert dict(number.headers)["Authorization"] == "Bearer EAAG-whatsapp-token-for-tests"
        assert "EAAG" not in repr(number)
        # Facebook and WhatsApp read one document: the poller fetches it once.
        urls = [f.url for f in dispatcher.status_poller.feeds]
        assert urls.count("https://metastatus.com/data/orgs.json") == 1
    finally:
        dispatcher.close()


def test_status_can_be_turned_off_in_the_config(host: PluginHost, tmp_path: Path) -> None:
    (tmp_path / "unipost.toml").write_text(
        CONFIG + "\n[status]\nenabled = false\n", encoding="utf-8"
    )
    config = load_config(tmp_path / "unipost.toml", host=host)
    dispatcher = build_dispatcher(config, host=host)
    try:
        assert dispatcher.status_sources == ()
        assert dispatcher.status_poller.feeds == []
    finally:
        dispatcher.close()


def test_a_channel_pointed_at_another_server_has_no_vendor_status(host: PluginHost) -> None:
    from unipost_meta import FacebookChannel

    local = FacebookChannel(
        id="facebook", page_id="1234567890", token="EAAG-t", base_url="http://127.0.0.1:9"
    )
    assert host.status_sources({"facebook": local}) == ()
