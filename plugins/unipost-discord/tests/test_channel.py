"""The Discord channel: ?wait=true, messages in a row, embeds, buckets, Cloudflare, secrets."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest
from unipost_discord import DiscordChannel, classify_response

from unipost import Media, Post, errors
from unipost.channel import Overflow
from unipost.redact import redact
from unipost.testing import check, deliver, png

from .conftest import (
    CHANNEL,
    EXECUTE,
    EXECUTE_WAIT,
    GUILD,
    WEBHOOK_ID,
    WEBHOOK_TOKEN,
    WEBHOOK_URL,
    add_webhook,
    check_execute,
    error,
    execute_body,
    message,
)

NOW = 1764770000.0  # the dispatcher's clock, as classify() is given it


def channel(**settings: Any) -> DiscordChannel:
    return DiscordChannel(webhook_url=WEBHOOK_URL, **settings)


def test_a_post_waits_for_the_message_and_links_to_it(httpx_mock: Any) -> None:
    add_webhook(httpx_mock)
    httpx_mock.add_response(url=EXECUTE_WAIT, json=message("1100"))
    receipt = deliver(channel(), Post(text="Fresh bread", link="https://bakery.example/bread"))
    execute = httpx_mock.get_requests()[-1]
    payload = check_execute(execute)
    assert execute.url.params["wait"] == "true"
    assert payload == {
        "content": "Fresh bread\n\nhttps://bakery.example/bread",
        "allowed_mentions": {"parse": []},
    }
    assert receipt.platform_id == "1100"
    assert receipt.url == f"https://discord.com/channels/{GUILD}/{CHANNEL}/1100"


def test_the_webhook_is_read_once_per_channel(httpx_mock: Any) -> None:
    add_webhook(httpx_mock)
    httpx_mock.add_response(url=EXECUTE_WAIT, json=message("1"))
    httpx_mock.add_response(url=EXECUTE_WAIT, json=message("2"))
    discord = channel()
    deliver(discord, Post(text="one"))
    deliver(discord, Post(text="two"))
    assert [r.method for r in httpx_mock.get_requests()] == ["GET", "POST", "POST"]


def test_over_2000_characters_become_several_plain_messages(httpx_mock: Any) -> None:
    discord = channel()
    assert discord.capabilities.overflow is Overflow.MESSAGES
    prepared = discord.prepare(Post(text="Sourdough " * 450))  # 4,500 characters
    assert len(prepared.parts) == 3
    assert all(len(part) <= 2000 for part in prepared.parts)
    add_webhook(httpx_mock)
    for message_id in ("1", "2", "3"):
        httpx_mock.add_response(url=EXECUTE_WAIT, json=message(message_id))
    receipt = deliver(discord, prepared)
    payloads = [check_execute(r) for r in httpx_mock.get_requests()[1:]]
    assert [p["content"] for p in payloads] == list(prepared.parts)
    assert all("thread_name" not in p and "thread_id" not in str(p) for p in payloads)
    assert receipt.extra["messages"] == ["1", "2", "3"]


def test_images_are_files_shown_by_embeds_with_the_title_and_link(httpx_mock: Any) -> None:
    add_webhook(httpx_mock)
    httpx_mock.add_response(url=EXECUTE_WAIT, json=message("7"))
    media = [
        Media.from_bytes(png(), filename="croissants é.png", alt="A tray of croissants"),
        Media.from_bytes(png(3, 2), filename="bread.png"),
    ]
    post = Post(
        title="Open today", text="20% off", link="https://bakery.example/offer", media=media
    )
    prepared = channel().prepare(post)
    assert "embeds" in [c.kind for c in prepared.changes]
    deliver(channel(), prepared)
    request = httpx_mock.get_requests()[-1]
    payload = check_execute(request)
    _, files = execute_body(request)
    assert payload["content"] == "20% off\n\nhttps://bakery.example/offer"
    assert payload["embeds"] == [
        {
            "image": {"url": "attachment://unipost-0.png"},
            "title": "Open today",
            "url": "https://bakery.example/offer",
        },
        {"image": {"url": "attachment://unipost-1.png"}, "url": "https://bakery.example/offer"},
    ]
    assert payload["attachments"] == [
        {"id": "0", "filename": "unipost-0.png", "description": "A tray of croissants"},
        {"id": "1", "filename": "unipost-1.png"},
    ]
    assert files["files[0]"] == ("unipost-0.png", png())


def test_a_title_alone_is_a_linked_embed(httpx_mock: Any) -> None:
    add_webhook(httpx_mock)
    httpx_mock.add_response(url=EXECUTE_WAIT, json=message("8"))
    deliver(
        channel(username="Bakery bot"),
        Post(title="New menu", text="See it", link="https://b.example/m"),
    )
    payload = check_execute(httpx_mock.get_requests()[-1])
    assert payload["embeds"] == [{"title": "New menu", "url": "https://b.example/m"}]
    assert payload["username"] == "Bakery bot"


def test_an_empty_bucket_is_waited_out_between_messages(httpx_mock: Any) -> None:
    bucket = {
        "X-RateLimit-Limit": "5",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset-After": "1.75",
        "X-RateLimit-Bucket": "41f9cd5d28af77da04563bcb1d67fdfd",
    }
    add_webhook(httpx_mock)
    httpx_mock.add_response(url=EXECUTE_WAIT, json=message("1"), headers=bucket)
    httpx_mock.add_response(url=EXECUTE_WAIT, json=message("2"))
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    deliver(channel(), Post(text="Rye " * 600), sleep=sleep)
    assert slept == [1.75]


def test_a_429_body_gives_the_wait_and_the_scope() -> None:
    request = httpx.Request("POST", EXECUTE)
    limited = classify_response(httpx.Response(request=request, **error("rate_limited")), now=NOW)
    assert isinstance(limited, errors.RateLimited)
    assert limited.retry_after == pytest.approx(64.57)
    assert "scope user" in str(limited)


@pytest.mark.parametrize("name", ["cloudflare_json", "cloudflare_1015"])
def test_a_cloudflare_429_without_headers_is_a_ban_with_no_wait(httpx_mock: Any, name: str) -> None:
    add_webhook(httpx_mock)
    httpx_mock.add_response(url=EXECUTE_WAIT, **error(name))
    with pytest.raises(errors.RateLimited) as caught:
        deliver(channel(), Post(text="hi"))
    assert caught.value.platform_code == "cloudflare"
    assert caught.value.retry_after is None
    assert "Cloudflare" in str(caught.value)


def test_a_follow_up_429_is_waited_out_inside_the_attempt(httpx_mock: Any) -> None:
    add_webhook(httpx_mock)
    httpx_mock.add_response(url=EXECUTE_WAIT, json=message("1"))
    httpx_mock.add_response(url=EXECUTE_WAIT, **error("rate_limited"))
    httpx_mock.add_response(url=EXECUTE_WAIT, json=message("2"))
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    receipt = deliver(channel(), Post(text="Rye " * 600), sleep=sleep, timeout=120)
    assert slept == [pytest.approx(64.57)]
    assert receipt.extra["messages"] == ["1", "2"]


def test_a_deleted_webhook_blocks_the_account(httpx_mock: Any) -> None:
    httpx_mock.add_response(method="GET", url=EXECUTE, **error("unknown_webhook"))
    with pytest.raises(errors.AuthFailed, match="create a new webhook") as caught:
        deliver(channel(), Post(text="hi"))
    assert caught.value.platform_code == "10015"


def test_an_invalid_form_body_names_the_field(httpx_mock: Any) -> None:
    add_webhook(httpx_mock)
    httpx_mock.add_response(url=EXECUTE_WAIT, **error("too_long"))
    with pytest.raises(errors.Permanent, match="content: Must be 2000 or fewer") as caught:
        deliver(channel(), Post(text="hi"))
    assert caught.value.platform_code == "50035"


def test_the_webhook_url_is_redacted_whole_and_in_parts(caplog: pytest.LogCaptureFixture) -> None:
    discord = channel()
    assert WEBHOOK_URL not in repr(discord)
    assert WEBHOOK_TOKEN not in repr(discord)
    for leak in (
        f"POST {WEBHOOK_URL} failed",
        f"POST {EXECUTE}?wait=true failed",
        f"token={WEBHOOK_TOKEN}",
        f"https://discordapp.com/api/webhooks/{WEBHOOK_ID}/{WEBHOOK_TOKEN}",
    ):
        cleaned = redact(leak)
        assert WEBHOOK_TOKEN not in cleaned, cleaned


def test_a_bad_webhook_url_names_the_setting() -> None:
    with pytest.raises(errors.ConfigurationError, match="webhook_url must look like"):
        DiscordChannel.from_settings("discord", {"webhook_url": "https://example.com/hook"})
    with pytest.raises(errors.ConfigurationError, match="allowed_mentions"):
        DiscordChannel.from_settings(
            "discord", {"webhook_url": WEBHOOK_URL, "allowed_mentions": ["here"]}
        )


def test_a_thread_id_goes_in_the_query(httpx_mock: Any) -> None:
    add_webhook(httpx_mock)
    httpx_mock.add_response(url=EXECUTE_WAIT, json=message("9"))
    deliver(channel(thread_id="998877665544332211", allowed_mentions=["users"]), Post(text="hi"))
    request = httpx_mock.get_requests()[-1]
    payload = check_execute(request)
    assert request.url.params["thread_id"] == "998877665544332211"
    assert payload["allowed_mentions"] == {"parse": ["users"]}


def test_check_names_the_webhook(httpx_mock: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    add_webhook(httpx_mock)
    assert check(channel()) == f"webhook 'Bakery' posting to channel {CHANNEL} of server {GUILD}"
    assert WEBHOOK_TOKEN not in caplog.text


def test_a_failure_after_the_first_message_is_held_not_repeated(httpx_mock: Any) -> None:
    add_webhook(httpx_mock)
    httpx_mock.add_response(url=EXECUTE_WAIT, json=message("1"))
    httpx_mock.add_response(url=EXECUTE_WAIT, **error("too_long"))
    with pytest.raises(errors.Ambiguous, match=r"partly published \(messages 1\)") as caught:
        deliver(channel(), Post(text="Rye " * 600))
    assert caught.value.platform_code == "50035"
