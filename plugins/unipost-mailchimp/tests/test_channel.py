"""The Mailchimp channel: campaign requests, found-again idempotency, scheduling, errors."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, ClassVar

import pytest
from unipost_mailchimp import MailchimpChannel

from unipost import Media, Post
from unipost.channel import Absent, Found, Unknown
from unipost.errors import AuthFailed, ConfigurationError, Permanent, RateLimited
from unipost.testing import ChannelContract, deliver, lookup

from .conftest import API, KEY, FakeMailchimp, error

pytest_plugins = ["unipost.testing.pytest_plugin"]

SETTINGS: dict[str, Any] = {
    "api_key": KEY,
    "list_id": "a1b2c3d4e5",
    "from_name": "Corner Bakery",
    "reply_to": "hello@bakery.example",
}


def channel(**settings: Any) -> MailchimpChannel:
    return MailchimpChannel.from_settings("newsletter", SETTINGS | settings)


class TestMailchimpContract(ChannelContract):
    channel_class = MailchimpChannel
    settings = SETTINGS
    secrets = (KEY,)
    error_body: ClassVar[Any] = {"title": "Bad Request", "status": 400, "detail": "no"}

    def arrange_success(self, httpx_mock: Any) -> None:
        FakeMailchimp().install(httpx_mock)


def test_campaign_content_and_send(httpx_mock: Any) -> None:
    fake = FakeMailchimp()
    fake.install(httpx_mock)
    post = Post(
        title="Croissant day",
        text="All pastries 20% off.",
        link="https://bakery.example/offer",
        media=[Media.from_url("https://cdn.bakery.example/c.jpg", alt="Croissants")],
    )
    receipt = deliver(channel(segment_id=4021), post, delivery_key="up1-abc")
    create = json.loads(httpx_mock.get_requests(method="POST")[0].content)
    assert create == {
        "type": "regular",
        "recipients": {"list_id": "a1b2c3d4e5", "segment_opts": {"saved_segment_id": 4021}},
        "settings": {
            "subject_line": "Croissant day",
            "preview_text": "All pastries 20% off.",
            "title": "Croissant day [up1-abc]",
            "from_name": "Corner Bakery",
            "reply_to": "hello@bakery.example",
        },
    }
    content = fake.campaigns["c000000001"]["content"]
    assert "*|UNSUB|*" in content["html"]  # Mailchimp's own unsubscribe link
    assert '<img src="https://cdn.bakery.example/c.jpg"' in content["html"]
    assert "Read more: https://bakery.example/offer" in content["plain_text"]
    assert fake.actions == ["send"]
    assert receipt.platform_id == "c000000001"
    assert receipt.url == "https://us6.campaign-archive.com/?u=abc&id=c000000001"
    auth = httpx_mock.get_requests()[0].headers["Authorization"]
    assert auth.startswith("Basic ")
    assert str(httpx_mock.get_requests()[0].url).startswith(API)


def test_a_lost_send_answer_sends_the_campaign_exactly_once(
    httpx_mock: Any, unipost_dispatcher: Any, unipost_clock: Any, unipost_recorder: Any
) -> None:
    fake = FakeMailchimp(unipost_clock, lose="send")
    fake.install(httpx_mock)
    dispatcher = unipost_dispatcher(channel())
    dispatcher.publish(Post(text="Storm: closed today", id="storm"), "newsletter")
    dispatcher.drain(until=unipost_clock.now() + 3600)
    outcome = dispatcher.report("storm")["newsletter"]
    assert "ambiguous" in unipost_recorder.names()  # the answer to "send" was lost
    assert unipost_recorder.of("reconcile.result")[0].fields["result"] == "Found"
    assert outcome.ok, str(dispatcher.report("storm"))
    assert fake.actions == ["send"]
    assert len(fake.campaigns) == 1
    assert outcome.platform_id == "c000000001"


def test_a_draft_from_an_earlier_attempt_is_completed_not_recreated(httpx_mock: Any) -> None:
    fake = FakeMailchimp()
    fake.install(httpx_mock)
    fake.campaigns["c000000007"] = {
        "id": "c000000007",
        "status": "save",
        "create_time": "2030-01-01T00:00:00+00:00",
        "archive_url": "https://eepurl.com/x",
        "settings": {"title": "Open today [up1-k]"},
    }
    receipt = deliver(channel(), Post(text="Open today"), delivery_key="up1-k")
    assert receipt.platform_id == "c000000007"
    assert len(fake.campaigns) == 1
    assert fake.actions == ["send"]
    assert isinstance(lookup(channel(), Post(text="Open today"), delivery_key="up1-k"), Found)
    assert isinstance(lookup(channel(), Post(text="Open today"), delivery_key="up1-z"), Absent)


def test_publish_at_goes_to_the_next_15_minute_slot(httpx_mock: Any) -> None:
    fake = FakeMailchimp()
    fake.install(httpx_mock)
    when = dt.datetime(2030, 5, 1, 9, 7, tzinfo=dt.UTC)
    post = Post(text="Brunch", publish_at=when)
    prepared = channel(native_scheduling=True).prepare(post)
    change = next(c for c in prepared.changes if c.kind == "scheduled")
    assert change.detail == "Mailchimp sends it at 2030-05-01 09:15 UTC (the next 15-minute slot)"
    deliver(channel(native_scheduling=True), post)
    schedule = httpx_mock.get_requests(method="POST")[-1]
    assert json.loads(schedule.content) == {"schedule_time": "2030-05-01T09:15:00+00:00"}
    assert fake.actions == ["schedule"]


def test_send_checklist_errors_stop_before_sending(httpx_mock: Any) -> None:
    fake = FakeMailchimp(ready=False)
    fake.install(httpx_mock)
    with pytest.raises(Permanent, match="not ready: Sender: verify your domain"):
        deliver(channel(), Post(text="x"))
    assert fake.actions == []


@pytest.mark.parametrize(
    ("name", "expected", "words"),
    [
        ("auth", AuthFailed, "API Key Invalid"),
        ("rate_limit", RateLimited, "10 simultaneous connections"),
        ("validation", Permanent, "email_address: Schema describes string"),
        ("not_found", Permanent, "Resource Not Found"),
    ],
)
def test_documented_errors(
    httpx_mock: Any, name: str, expected: type[Exception], words: str
) -> None:
    httpx_mock.add_response(method="GET", **error(name))
    with pytest.raises(expected, match=words):
        deliver(channel(), Post(text="x"))


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"api_key": "nodatacenter"}, "must end in its data center"),
        ({"api_key": None}, "give api_key"),
        ({"api_key": None, "access_token": "oauth-token-123"}, "needs server_prefix"),
        ({"reply_to": "not an address"}, "reply_to must be a plain address"),
    ],
)
def test_bad_settings(settings: dict[str, Any], problem: str) -> None:
    with pytest.raises(ConfigurationError, match=problem):
        channel(**settings)


def test_oauth_token_uses_the_server_prefix(httpx_mock: Any) -> None:
    httpx_mock.add_response(
        url="https://us19.api.mailchimp.com/3.0/lists/a1b2c3d4e5?fields=name%2Cstats.member_count",
        json={"name": "Customers", "stats": {"member_count": 812}},
    )
    ch = channel(api_key=None, access_token="oauth-token-123", server_prefix="us19")
    from unipost.testing import check

    assert check(ch) == "Mailchimp us19: audience 'Customers', 812 members"
    assert httpx_mock.get_request().headers["Authorization"] == "Bearer oauth-token-123"


def test_lookup_that_cannot_read_back_far_enough_is_unknown(httpx_mock: Any) -> None:
    page = {"campaigns": [{"id": "x", "status": "sent", "settings": {"title": "other"}}] * 3}
    httpx_mock.add_response(method="GET", json=page | {"total_items": 50_000}, is_reusable=True)
    assert isinstance(lookup(channel(), Post(text="x")), Unknown)
    assert len(httpx_mock.get_requests()) == 10
