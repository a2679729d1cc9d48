"""unipost's conformance suite for the Telegram channel."""

from __future__ import annotations

from typing import Any, ClassVar

from unipost_telegram import TelegramChannel

from unipost.testing import ChannelContract

from .conftest import API, ERRORS, TOKEN, message, ok


class TestTelegramContract(ChannelContract):
    channel_class = TelegramChannel
    settings: ClassVar[dict[str, str]] = {"token": TOKEN, "chat_id": "@bakery_news"}
    secrets = (TOKEN,)
    error_body = ERRORS["not_enough_rights"]["body"]

    def arrange_success(self, httpx_mock: Any) -> None:
        httpx_mock.add_response(method="POST", url=f"{API}/sendMessage", json=ok(message(42)))
