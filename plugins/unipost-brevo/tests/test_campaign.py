"""``brevo``: campaigns created, sent now or scheduled, found again so nothing is sent twice."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, ClassVar

import pytest
from unipost_brevo import BrevoCampaignChannel

from unipost import Media, Post
from unipost.channel import Absent, Found
from unipost.errors import AuthFailed, ConfigurationError, Permanent, RateLimited
from unipost.testing import ChannelContract, deliver, lookup

from .conftest import API, KEY, FakeBrevo, error

pytest_plugins = ["unipost.testing.pytest_plugin"]

SETTINGS: dict[str, Any] = {
    "api_key": KEY,
    "sender_email": "news@bakery.example",
    "sender_name": "Corner Bakery",
    "list_ids": [7],
}


def channel(**settings: Any) -> BrevoCampaignChannel:
    return BrevoCampaignChannel.from_settings("brevo", SETTINGS | settings)


class TestBrevoContract(ChannelContract):
    channel_class = BrevoCampaignChannel
    settings = SETTINGS
    secrets = (KEY,)
    error_body: ClassVar[Any] = {"code": "bad_request", "message": "bad"}

    def arrange_success(self, httpx_mock: Any) -> None:
        FakeBrevo().install(httpx_mock)


def test_campaign_is_created_and_sent_now(httpx_mock: Any) -> None:
    fake = FakeBrevo()
    fake.install(httpx_mock)
    post = Post(
        title="Croissant day",
        text="All pastries 20% off.",
        link="https://bakery.example/offer",
        media=[Media.from_url("https://cdn.bakery.example/c.jpg", alt="Croissants")],
    )
    receipt = deliver(channel(reply_to="hello@bakery.example"), post, delivery_key="up1-abc")
    create = json.loads(httpx_mock.get_requests(method="POST")[0].content)
    assert create["name"] == "Croissant day [up1-abc]"
    assert create["sender"] == {"email": "news@bakery.example", "name": "Corner Bakery"}
    assert create["recipients"] == {"listIds": [7]}
    assert create["replyTo"] == "hello@bakery.example"
    assert "{{ unsubscribe }}" in create["htmlContent"]  # Brevo's own link
    assert httpx_mock.get_requests()[0].headers["api-key"] == KEY
    assert fake.sends == 1
    assert receipt.platform_id == "1"
    assert receipt.url == "http://dhh.brevo.com/share/1"


def test_a_lost_send_now_answer_sends_exactly_once(
    httpx_mock: Any, unipost_dispatcher: Any, unipost_clock: Any, unipost_recorder: Any
) -> None:
    fake = FakeBrevo(unipost_clock, lose_send=True)
    fake.install(httpx_mock)
    dispatcher = unipost_dispatcher(channel())
    dispatcher.publish(Post(text="Storm: closed today", id="storm"), "brevo")
    dispatcher.drain(until=unipost_clock.now() + 3600)
    outcome = dispatcher.report("storm")["brevo"]
    assert outcome.ok, str(dispatcher.report("storm"))
    assert "ambiguous" in unipost_recorder.names()
    assert fake.sends == 1
    assert len(fake.campaigns) == 1


def test_scheduled_campaign_is_not_sent_now(httpx_mock: Any) -> None:
    fake = FakeBrevo()
    fake.install(httpx_mock)
    when = dt.datetime(2030, 5, 1, 9, 0, tzinfo=dt.UTC)
    deliver(channel(native_scheduling=True), Post(text="Brunch", publish_at=when))
    create = json.loads(httpx_mock.get_requests(method="POST")[0].content)
    assert create["scheduledAt"] == "2030-05-01T09:00:00.000Z"
    assert fake.sends == 0
    assert len(httpx_mock.get_requests(method="POST")) == 1


def test_a_draft_is_sent_and_a_sent_campaign_is_found(httpx_mock: Any) -> None:
    fake = FakeBrevo()
    fake.install(httpx_mock)
    deliver(channel(), Post(text="Open today"), delivery_key="up1-k")
    deliver(channel(), Post(text="Open today"), delivery_key="up1-k")  # a second process
    assert fake.sends == 1
    assert len(fake.campaigns) == 1
    assert isinstance(lookup(channel(), Post(text="Open today"), delivery_key="up1-k"), Found)
    assert isinstance(lookup(channel(), Post(text="Open today"), delivery_key="up1-x"), Absent)


@pytest.mark.parametrize(
    ("name", "expected", "retry"),
    [
        ("auth", AuthFailed, None),
        ("validation", Permanent, None),
        ("rate_limit", RateLimited, 17.0),
    ],
)
def test_documented_errors(
    httpx_mock: Any, name: str, expected: type[Exception], retry: float | None
) -> None:
    httpx_mock.add_response(method="GET", **error(name))
    with pytest.raises(expected) as caught:
        deliver(channel(), Post(text="x"))
    assert getattr(caught.value, "retry_after", None) == retry


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"list_ids": []}, "give list_ids"),
        ({"sender_id": 3}, "sender_email .* or sender_id, not both"),
        ({"sender_email": "Bakery <a@b.example>"}, "sender_email must be a plain address"),
    ],
)
def test_bad_settings(settings: dict[str, Any], problem: str) -> None:
    with pytest.raises(ConfigurationError, match=problem):
        channel(**settings)


def test_base_url() -> None:
    assert channel().base_url == API
