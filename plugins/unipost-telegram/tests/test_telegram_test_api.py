"""Against telegram-test-api (a third-party fake of the Bot API; it implements text only)."""

from __future__ import annotations

import httpx
import pytest
from unipost_telegram import TelegramChannel

from unipost import Post
from unipost.testing import deliver

from .conftest import check_call

pytestmark = pytest.mark.integration

BOT_TOKEN = "123456:TEST-TOKEN-for-the-fake"


def sent(base: str, chat: str) -> list[dict[str, object]]:
    """What the bot sent to ``chat``, as the fake's test-client API returns it."""
    response = httpx.post(f"{base}/getUpdates", json={"token": BOT_TOKEN, "chatId": chat})
    response.raise_for_status()
    return [update["message"] for update in response.json()["result"]]


def test_messages_arrive_in_order_and_validate(telegram_test_api: str) -> None:
    channel = TelegramChannel(token=BOT_TOKEN, chat_id="@bakery_news", base_url=telegram_test_api)
    prepared = channel.prepare(Post(text="Rye bread. " * 500, link="https://bakery.example/rye"))
    assert len(prepared.parts) == 2
    receipt = deliver(channel, prepared)
    messages = sent(telegram_test_api, "@bakery_news")
    assert [m["text"] for m in messages] == list(prepared.parts)
    assert messages[-1]["link_preview_options"] == {"url": "https://bakery.example/rye"}
    for message in messages:  # what the fake stored is what was sent: check it against the spec
        request = httpx.Request(
            "POST", f"{telegram_test_api}/bot{BOT_TOKEN}/sendMessage", json=message
        )
        check_call(request)
    assert receipt.platform_id
    assert len(receipt.extra["messages"]) == 2
