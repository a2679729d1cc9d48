"""The Listmonk channel: campaign requests, tags carrying the key, scheduling, errors."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, ClassVar

import pytest
from unipost_listmonk import ListmonkChannel

from unipost import Media, Post
from unipost.channel import Absent, Found
from unipost.errors import ConfigurationError, Forbidden, Permanent, Transient
from unipost.testing import ChannelContract, check, deliver, lookup

from .conftest import BASE, TOKEN, FakeListmonk, error

pytest_plugins = ["unipost.testing.pytest_plugin"]

SETTINGS: dict[str, Any] = {
    "base_url": BASE + "/api",
    "api_user": "unipost",
    "token": TOKEN,
    "list_ids": [3],
}


def channel(**settings: Any) -> ListmonkChannel:
    return ListmonkChannel.from_settings("newsletter", SETTINGS | settings)


class TestListmonkContract(ChannelContract):
    channel_class = ListmonkChannel
    settings = SETTINGS
    secrets = (TOKEN,)
    error_body: ClassVar[Any] = {"message": "invalid request"}

    def arrange_success(self, httpx_mock: Any) -> None:
        FakeListmonk().install(httpx_mock)


def test_campaign_is_created_and_started(httpx_mock: Any) -> None:
    fake = FakeListmonk()
    fake.install(httpx_mock)
    post = Post(
        title="Croissant day",
        text="All pastries 20% off.",
        link="https://bakery.example/offer",
        media=[Media.from_url("https://cdn.bakery.example/c.jpg", alt="Croissants")],
    )
    ch = channel(from_email="Bakery <news@bakery.example>", template_id=2)
    receipt = deliver(ch, post, delivery_key="up1-abc")
    create = json.loads(httpx_mock.get_requests(method="POST")[0].content)
    assert create["name"] == "Croissant day [up1-abc]"
    assert create["tags"] == ["unipost", "up1-abc"]
    assert create["lists"] == [3]
    assert create["content_type"] == "html"
    assert create["altbody"].startswith("Croissant day")
    assert create["template_id"] == 2
    status = httpx_mock.get_requests(method="PUT")[0]
    assert json.loads(status.content) == {"status": "running"}
    assert status.headers["Authorization"] == f"token unipost:{TOKEN}"
    assert receipt.platform_id == "1"
    assert receipt.url == f"{BASE}/admin/campaigns/1"
    assert fake.started == 1


def test_a_lost_status_answer_starts_the_campaign_once(
    httpx_mock: Any, unipost_dispatcher: Any, unipost_clock: Any, unipost_recorder: Any
) -> None:
    fake = FakeListmonk(lose=True)
    fake.install(httpx_mock)
    dispatcher = unipost_dispatcher(channel())
    dispatcher.publish(Post(text="Storm: closed today", id="storm"), "newsletter")
    dispatcher.drain(until=unipost_clock.now() + 3600)
    assert dispatcher.report("storm")["newsletter"].ok, str(dispatcher.report("storm"))
    assert "ambiguous" in unipost_recorder.names()
    assert fake.started == 1
    assert len(fake.campaigns) == 1


def test_scheduled_with_send_at(httpx_mock: Any) -> None:
    fake = FakeListmonk()
    fake.install(httpx_mock)
    when = dt.datetime(2030, 5, 1, 9, 0, tzinfo=dt.UTC)
    deliver(channel(native_scheduling=True), Post(text="Brunch", publish_at=when))
    create = json.loads(httpx_mock.get_requests(method="POST")[0].content)
    assert create["send_at"] == "2030-05-01T09:00:00Z"
    assert json.loads(httpx_mock.get_requests(method="PUT")[0].content) == {"status": "scheduled"}


def test_found_again_by_its_tag(httpx_mock: Any) -> None:
    fake = FakeListmonk()
    fake.install(httpx_mock)
    deliver(channel(), Post(text="Open"), delivery_key="up1-k")
    deliver(channel(), Post(text="Open"), delivery_key="up1-k")  # another process
    assert fake.started == 1
    assert isinstance(lookup(channel(), Post(text="Open"), delivery_key="up1-k"), Found)
    assert isinstance(lookup(channel(), Post(text="Open"), delivery_key="up1-x"), Absent)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("auth", Forbidden),
        ("permission", Permanent),
        ("validation", Permanent),
        ("server", Transient),
    ],
)
def test_documented_errors(httpx_mock: Any, name: str, expected: type[Exception]) -> None:
    httpx_mock.add_response(method="GET", **error(name))
    with pytest.raises(expected):
        deliver(channel(), Post(text="x"))


def test_check_names_the_lists(httpx_mock: Any) -> None:
    httpx_mock.add_response(
        url=f"{BASE}/api/lists/3",
        json={"data": {"id": 3, "name": "Customers", "subscriber_count": 412}},
    )
    assert check(channel()) == "Listmonk lists.bakery.example: 'Customers' (412 subscribers)"


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"base_url": "lists.example"}, "base_url must be your Listmonk's URL"),
        ({"list_ids": []}, "give list_ids"),
        ({"from_email": "Bakery <not-an-address>"}, "from_email must be an address"),
    ],
)
def test_bad_settings(settings: dict[str, Any], problem: str) -> None:
    with pytest.raises(ConfigurationError, match=problem):
        channel(**settings)


def test_failure_domain_is_the_server() -> None:
    assert channel().failure_domain == "listmonk:lists.bakery.example"
