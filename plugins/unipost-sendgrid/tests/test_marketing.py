"""``sendgrid-marketing``: Single Sends found again by name, so a lost answer sends once."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest
from unipost_sendgrid import SendGridMarketingChannel

from unipost import Post
from unipost.channel import Absent, Found
from unipost.errors import ConfigurationError
from unipost.testing import ChannelContract, deliver, lookup

from .conftest import API, KEY

pytest_plugins = ["unipost.testing.pytest_plugin"]

SINGLE_SENDS = f"{API}/v3/marketing/singlesends"
SEARCH = httpx.URL(f"{SINGLE_SENDS}/search", params={"page_size": "100"})
SS_ID = "27c21bbf-a12c-440b-b8bf-c526975328ca"
SETTINGS: dict[str, Any] = {
    "api_key": KEY,
    "sender_id": 123456,
    "list_ids": ["c0ffee00-0000-4000-8000-000000000001"],
    "suppression_group_id": 42,
}


def channel(**settings: Any) -> SendGridMarketingChannel:
    return SendGridMarketingChannel.from_settings("news", SETTINGS | settings)


class FakeSingleSends:
    """Single Sends in memory: search by name, create, schedule (optionally losing the answer)."""

    def __init__(self, *, lose_schedule: int = 0) -> None:
        self.items: dict[str, dict[str, Any]] = {}
        self.lose_schedule = lose_schedule
        self.scheduled = 0

    def install(self, httpx_mock: Any) -> None:
        httpx_mock.add_callback(self.search, method="POST", url=SEARCH, is_reusable=True)
        httpx_mock.add_callback(
            self.create, method="POST", url=SINGLE_SENDS, is_reusable=True, is_optional=True
        )
        httpx_mock.add_callback(
            self.schedule,
            method="PUT",
            url=re.compile(re.escape(SINGLE_SENDS) + r"/[0-9a-f-]+/schedule"),
            is_reusable=True,
        )

    def search(self, request: httpx.Request) -> httpx.Response:
        name = json.loads(request.content)["name"]
        found = [i for i in self.items.values() if name in i["name"]]
        return httpx.Response(200, json={"result": found, "_metadata": {"count": len(found)}})

    def create(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        ident = f"{len(self.items) + 1:08d}-0000-4000-8000-000000000000"
        self.items[ident] = {"id": ident, "name": body["name"], "status": "draft"}
        return httpx.Response(201, json=self.items[ident] | body)

    def schedule(self, request: httpx.Request) -> httpx.Response:
        ident = request.url.path.split("/")[-2]
        self.items[ident]["status"] = "scheduled"
        self.scheduled += 1
        if self.lose_schedule:
            self.lose_schedule -= 1
            raise httpx.ReadTimeout("the answer was lost", request=request)
        return httpx.Response(201, json={"send_at": "2027-01-15T08:00:00Z", "status": "scheduled"})


class TestSendGridMarketingContract(ChannelContract):
    channel_class = SendGridMarketingChannel
    settings = SETTINGS
    secrets = (KEY,)

    def arrange_success(self, httpx_mock: Any) -> None:
        httpx_mock.add_response(method="POST", url=SEARCH, json={"result": []})
        httpx_mock.add_response(
            method="POST", url=SINGLE_SENDS, status_code=201, json={"id": SS_ID, "status": "draft"}
        )
        httpx_mock.add_response(
            method="PUT",
            url=f"{SINGLE_SENDS}/{SS_ID}/schedule",
            status_code=201,
            json={"send_at": "2027-01-15T08:00:00Z", "status": "scheduled"},
        )


def test_single_send_body(httpx_mock: Any) -> None:
    fake = FakeSingleSends()
    fake.install(httpx_mock)
    post = Post(title="Croissant day", text="20% off", link="https://bakery.example/o")
    receipt = deliver(channel(segment_ids=["s1"]), post, delivery_key="up1-abc")
    create = json.loads(httpx_mock.get_requests(method="POST", url=SINGLE_SENDS)[0].content)
    assert create["name"] == "Croissant day [up1-abc]"
    assert create["send_to"] == {
        "list_ids": ["c0ffee00-0000-4000-8000-000000000001"],
        "segment_ids": ["s1"],
    }
    config = create["email_config"]
    assert config["sender_id"] == 123456
    assert config["suppression_group_id"] == 42
    assert "{{{unsubscribe}}}" in config["html_content"]  # SendGrid's own link, kept
    assert config["plain_content"].startswith("Croissant day")
    schedule = httpx_mock.get_requests(method="PUT")[0]
    assert json.loads(schedule.content) == {"send_at": "now"}
    assert receipt.platform_id == "00000001-0000-4000-8000-000000000000"


def test_a_lost_schedule_answer_sends_exactly_once(
    httpx_mock: Any, unipost_dispatcher: Any, unipost_clock: Any, unipost_recorder: Any
) -> None:
    fake = FakeSingleSends(lose_schedule=1)
    fake.install(httpx_mock)
    dispatcher = unipost_dispatcher(channel())
    dispatcher.publish(Post(text="Storm: closed today", id="storm"), "news")
    dispatcher.drain(until=unipost_clock.now() + 3600)
    outcome = dispatcher.report("storm")["news"]
    assert outcome.ok, str(dispatcher.report("storm"))
    assert "ambiguous" in unipost_recorder.names()  # the answer to "schedule" was lost
    assert fake.scheduled == 1
    assert len(fake.items) == 1


def test_a_draft_left_by_an_earlier_attempt_is_reused(httpx_mock: Any) -> None:
    fake = FakeSingleSends()
    fake.install(httpx_mock)
    name = "Open today [up1-k]"
    fake.items["00000009-0000-4000-8000-000000000000"] = {
        "id": "00000009-0000-4000-8000-000000000000",
        "name": name,
        "status": "draft",
    }
    receipt = deliver(channel(), Post(text="Open today"), delivery_key="up1-k")
    assert receipt.platform_id == "00000009-0000-4000-8000-000000000000"
    assert len(fake.items) == 1
    assert isinstance(lookup(channel(), Post(text="Open today"), delivery_key="up1-k"), Found)
    assert isinstance(lookup(channel(), Post(text="Open today"), delivery_key="up1-x"), Absent)


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"list_ids": []}, "list_ids, segment_ids, or all_contacts"),
        ({"suppression_group_id": None}, "exactly one of suppression_group_id"),
        ({"custom_unsubscribe_url": "https://b.example/u"}, "exactly one of"),
    ],
)
def test_bad_settings(settings: dict[str, Any], problem: str) -> None:
    with pytest.raises(ConfigurationError, match=problem):
        channel(**settings)
