"""unipost's conformance suite for the Slack channel."""

from __future__ import annotations

from typing import Any, ClassVar

from unipost_slack import SlackChannel

from unipost.testing import ChannelContract

from .conftest import API, CHANNEL, ERRORS, TOKEN, permalink, posted


class TestSlackContract(ChannelContract):
    channel_class = SlackChannel
    settings: ClassVar[dict[str, str]] = {"token": TOKEN, "channel": CHANNEL}
    secrets = (TOKEN,)
    error_body = ERRORS["invalid_blocks"]["body"]

    def arrange_success(self, httpx_mock: Any) -> None:
        httpx_mock.add_response(method="POST", url=f"{API}/chat.postMessage", json=posted())
        httpx_mock.add_response(
            method="GET",
            url=f"{API}/chat.getPermalink?channel={CHANNEL}&message_ts=1764770000.000100",
            json=permalink(),
        )
