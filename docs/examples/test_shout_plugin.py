"""How a plugin is tested (see docs/testing-a-plugin.md)."""

from __future__ import annotations

import json
from typing import ClassVar

from shout_plugin import ShoutChannel

import unipost
from unipost.testing import ChannelContract, deliver

pytest_plugins = ["unipost.testing.pytest_plugin"]

TOKEN = "shout-test-token-0123456789"  # noqa: S105 - a fake, for the secrecy tests


class TestShoutContract(ChannelContract):
    channel_class = ShoutChannel
    settings: ClassVar[dict[str, str]] = {"token": TOKEN, "base_url": "https://api.shout.test"}
    secrets = (TOKEN,)

    def arrange_success(self, httpx_mock):
        httpx_mock.add_response(
            method="POST",
            url="https://api.shout.test/statuses",
            json={"id": 1, "url": "https://shout.test/@bakery/1"},
        )


def test_sends_the_text_and_the_delivery_key(httpx_mock):
    httpx_mock.add_response(json={"id": 2, "url": "https://shout.test/@bakery/2"})
    channel = ShoutChannel(token=TOKEN)
    receipt = deliver(channel, unipost.Post(text="Fresh bread"), delivery_key="up1-abc")
    request = httpx_mock.get_request()
    assert json.loads(request.content) == {"status": "Fresh bread"}
    assert request.headers["Idempotency-Key"] == "up1-abc"
    assert receipt.platform_id == "2"


def test_a_503_is_retried_then_delivered(httpx_mock, unipost_dispatcher, unipost_recorder):
    httpx_mock.add_response(status_code=503)
    httpx_mock.add_response(json={"id": 3, "url": "https://shout.test/@bakery/3"})
    dispatcher = unipost_dispatcher(ShoutChannel(token=TOKEN))
    report = dispatcher.publish(unipost.Post(text="Fresh bread", id="bread-1"), "shout")
    assert report.status is unipost.ReportStatus.SUCCEEDED
    assert unipost_recorder.names().count("attempt.start") == 2
