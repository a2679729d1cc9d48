"""unipost's conformance suite for the Discord channel."""

from __future__ import annotations

from typing import Any, ClassVar

from unipost_discord import DiscordChannel

from unipost.testing import ChannelContract

from .conftest import (
    ERRORS,
    EXECUTE,
    EXECUTE_WAIT,
    WEBHOOK_TOKEN,
    WEBHOOK_URL,
    add_webhook,
    message,
)


class TestDiscordContract(ChannelContract):
    channel_class = DiscordChannel
    settings: ClassVar[dict[str, str]] = {"webhook_url": WEBHOOK_URL}
    secrets = (WEBHOOK_URL, WEBHOOK_TOKEN, EXECUTE)
    error_body = ERRORS["too_long"]["body"]

    def arrange_success(self, httpx_mock: Any) -> None:
        add_webhook(httpx_mock)
        httpx_mock.add_response(method="POST", url=EXECUTE_WAIT, json=message("1100"))
