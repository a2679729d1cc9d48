"""The Telegram channel: requests, limits, rate limits, migration, receipts."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from unipost_telegram import TelegramChannel, classify_response

from unipost import Media, Post, errors
from unipost.channel import Overflow
from unipost.redact import redact
from unipost.testing import check, deliver, png

from .conftest import API, ERRORS, TOKEN, call_params, check_call, error, message, ok

NOW = 1764770000.0  # the dispatcher's clock, as classify() is given it

CHANNEL = TelegramChannel(token=TOKEN, chat_id="@bakery_news")


def photo(name: str = "bread.png", **kwargs: Any) -> Media:
    return Media.from_bytes(png(), filename=name, **kwargs)


def test_a_text_post_is_one_send_message_and_its_link_is_the_receipt(httpx_mock: Any) -> None:
    httpx_mock.add_response(url=f"{API}/sendMessage", json=ok(message(42)))
    receipt = deliver(CHANNEL, Post(text="Fresh bread", link="https://bakery.example/bread"))
    params = check_call(httpx_mock.get_request())
    assert params == {
        "chat_id": "@bakery_news",
        "text": "Fresh bread\n\nhttps://bakery.example/bread",
        "link_preview_options": {"url": "https://bakery.example/bread"},
    }
    assert receipt.platform_id == "42"
    assert receipt.url == "https://t.me/bakery_news/42"


def test_a_private_supergroup_link_uses_t_me_c(httpx_mock: Any) -> None:
    chat = {"id": -1001557912345, "title": "Staff", "type": "supergroup"}
    httpx_mock.add_response(url=f"{API}/sendMessage", json=ok(message(7, chat)))
    channel = TelegramChannel(token=TOKEN, chat_id="-1001557912345", disable_notification=True)
    receipt = deliver(channel, Post(text="Staff meeting at 8"))
    params = check_call(httpx_mock.get_request())
    assert params["chat_id"] == -1001557912345
    assert params["disable_notification"] is True
    assert receipt.url == "https://t.me/c/1557912345/7"


def test_text_over_4096_utf16_units_becomes_several_messages(httpx_mock: Any) -> None:
    text = "🥐 croissant " * 400  # 12 UTF-16 units each (the emoji is a surrogate pair)
    prepared = CHANNEL.prepare(Post(text=text))
    assert CHANNEL.capabilities.overflow is Overflow.MESSAGES
    assert len(prepared.parts) == 2
    assert all(len(p.encode("utf-16-le")) // 2 <= 4096 for p in prepared.parts)
    for message_id in (1, 2):
        httpx_mock.add_response(url=f"{API}/sendMessage", json=ok(message(message_id)))
    receipt = deliver(CHANNEL, prepared)
    sent = [check_call(r)["text"] for r in httpx_mock.get_requests()]
    assert sent == list(prepared.parts)
    assert receipt.platform_id == "1"
    assert receipt.extra["messages"] == [1, 2]


def test_one_photo_is_send_photo_with_the_caption(httpx_mock: Any) -> None:
    httpx_mock.add_response(url=f"{API}/sendPhoto", json=ok(message(50, photo=[{"file_id": "x"}])))
    receipt = deliver(CHANNEL, Post(text="Croissants are out", media=[photo(alt="A tray")]))
    request = httpx_mock.get_request()
    params = check_call(request)
    assert params == {"chat_id": "@bakery_news", "caption": "Croissants are out"}
    assert call_params(request)[1]["photo"] == png()
    assert receipt.url == "https://t.me/bakery_news/50"


def test_a_photo_by_url_is_fetched_by_telegram(httpx_mock: Any) -> None:
    httpx_mock.add_response(url=f"{API}/sendPhoto", json=ok(message(51)))
    media = Media.from_url("https://bakery.example/bread.jpg")
    deliver(CHANNEL, Post(text="Bread", media=[media]))
    params = check_call(httpx_mock.get_request())
    assert params["photo"] == "https://bakery.example/bread.jpg"


def test_an_album_is_send_media_group_with_attach_parts(httpx_mock: Any) -> None:
    httpx_mock.add_response(
        url=f"{API}/sendMediaGroup", json=ok([message(60), message(61), message(62)])
    )
    media = [photo("a.png"), Media.from_url("https://bakery.example/b.jpg"), photo("c.png")]
    receipt = deliver(CHANNEL, Post(text="Three breads", media=media))
    request = httpx_mock.get_request()
    params = check_call(request)
    entries = json.loads(params["media"])
    assert [e["media"] for e in entries] == [
        "attach://photo0",
        "https://bakery.example/b.jpg",
        "attach://photo2",
    ]
    assert entries[0]["caption"] == "Three breads"
    assert all("caption" not in e for e in entries[1:])
    assert set(call_params(request)[1]) == {"photo0", "photo2"}
    assert receipt.platform_id == "60"
    assert receipt.extra["messages"] == [60, 61, 62]


def test_text_over_the_1024_caption_limit_follows_the_photo(httpx_mock: Any) -> None:
    text = "Butter " * 200  # 1,400 units: over a caption, under a message
    httpx_mock.add_response(url=f"{API}/sendPhoto", json=ok(message(70)))
    httpx_mock.add_response(url=f"{API}/sendMessage", json=ok(message(71)))
    prepared = CHANNEL.prepare(Post(text=text, media=[photo()]))
    assert "caption_moved" in [c.kind for c in prepared.changes]
    receipt = deliver(CHANNEL, prepared)
    photo_call, text_call = httpx_mock.get_requests()
    assert "caption" not in check_call(photo_call)
    assert check_call(text_call)["text"] == text.strip()
    assert receipt.extra["messages"] == [70, 71]


def test_photos_telegram_refuses_are_rejected_before_sending() -> None:
    tall = Media.from_bytes(png(width=1, height=30), filename="tall.png")
    with pytest.raises(errors.ContentRejected, match="aspect ratio"):
        CHANNEL.prepare(Post(text="x", media=[tall]))
    gif = Media(mime_type="image/gif", data=b"GIF89a", size=6, filename="a.gif")
    with pytest.raises(errors.ContentRejected, match="image/gif"):
        CHANNEL.prepare(Post(text="x", media=[gif]))
    with pytest.raises(errors.ContentRejected, match="at most 10"):
        CHANNEL.prepare(Post(text="x", media=[photo()] * 11))


def test_retry_after_comes_from_parameters_and_from_old_descriptions() -> None:
    request = httpx.Request("POST", f"{API}/sendMessage")
    new = classify_response(httpx.Response(request=request, **error("flood_wait")), now=NOW)
    old = classify_response(httpx.Response(request=request, **error("flood_wait_old")), now=NOW)
    assert isinstance(new, errors.RateLimited)
    assert new.retry_after == 2282
    assert isinstance(old, errors.RateLimited)
    assert old.retry_after == 3


def test_a_migrated_group_is_followed_and_remembered(httpx_mock: Any) -> None:
    channel = TelegramChannel(token=TOKEN, chat_id="-4012345678")
    httpx_mock.add_response(url=f"{API}/sendMessage", **error("migrated"))
    chat = {"id": -1001557912345, "title": "Bakery", "type": "supergroup"}
    httpx_mock.add_response(url=f"{API}/sendMessage", json=ok(message(9, chat)))
    httpx_mock.add_response(url=f"{API}/sendMessage", json=ok(message(10, chat)))
    receipt = deliver(channel, Post(text="We moved"))
    first, second = (check_call(r)["chat_id"] for r in httpx_mock.get_requests())
    assert (first, second) == (-4012345678, -1001557912345)
    assert receipt.extra["migrated_to_chat_id"] == -1001557912345
    assert receipt.url == "https://t.me/c/1557912345/9"
    deliver(channel, Post(text="Still here"))  # later posts go straight to the new id
    assert check_call(httpx_mock.get_requests()[-1])["chat_id"] == -1001557912345


def test_a_429_on_a_follow_up_message_is_waited_out_in_the_attempt(httpx_mock: Any) -> None:
    prepared = CHANNEL.prepare(Post(text="word " * 1000))
    assert len(prepared.parts) == 2
    httpx_mock.add_response(url=f"{API}/sendMessage", json=ok(message(1)))
    httpx_mock.add_response(url=f"{API}/sendMessage", **error("flood_wait_old"))
    httpx_mock.add_response(url=f"{API}/sendMessage", json=ok(message(2)))
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    receipt = deliver(CHANNEL, prepared, sleep=sleep)
    assert slept == [3.0]
    texts = [check_call(r)["text"] for r in httpx_mock.get_requests()]
    assert texts == [prepared.parts[0], prepared.parts[1], prepared.parts[1]]
    assert receipt.extra["messages"] == [1, 2]


def test_a_429_on_the_first_message_goes_to_the_dispatcher(httpx_mock: Any) -> None:
    httpx_mock.add_response(url=f"{API}/sendMessage", **error("flood_wait"))
    with pytest.raises(errors.RateLimited) as caught:
        deliver(CHANNEL, Post(text="hi"))
    assert caught.value.retry_after == 2282
    assert caught.value.platform_code == "429"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("not_a_member", errors.Forbidden),
        ("not_enough_rights", errors.Permanent),
        ("unauthorized", errors.AuthFailed),
        ("not_found", errors.AuthFailed),
    ],
)
def test_real_error_bodies_map_to_classes(
    httpx_mock: Any, name: str, expected: type[errors.DeliveryError]
) -> None:
    httpx_mock.add_response(url=f"{API}/sendMessage", **error(name))
    with pytest.raises(expected) as caught:
        deliver(CHANNEL, Post(text="hi"))
    assert ERRORS[name]["body"]["description"].split(":")[0] in str(caught.value)


def test_the_token_in_the_url_never_shows() -> None:
    channel = TelegramChannel(token=TOKEN, chat_id="@bakery_news")
    assert TOKEN not in repr(channel)
    assert TOKEN not in redact(f"POST {API}/sendMessage failed")


def test_bad_settings_name_the_field() -> None:
    with pytest.raises(errors.ConfigurationError, match="chat_id"):
        TelegramChannel.from_settings("tg", {"token": TOKEN, "chat_id": "bakery news"})
    with pytest.raises(errors.ConfigurationError, match="token"):
        TelegramChannel.from_settings("tg", {"chat_id": "@bakery_news"})


def test_check_names_the_bot_and_the_chat(httpx_mock: Any) -> None:
    httpx_mock.add_response(
        url=f"{API}/getMe",
        json=ok({"id": 123456, "is_bot": True, "first_name": "B", "username": "bakery_bot"}),
    )
    httpx_mock.add_response(
        url=f"{API}/getChat?chat_id=%40bakery_news",
        json=ok({"id": -1001234567890, "type": "channel", "title": "Bakery news"}),
    )
    assert check(CHANNEL) == "@bakery_bot posting to channel 'Bakery news'"
    for request in httpx_mock.get_requests():
        check_call(request)


def test_the_spec_check_is_not_vacuous() -> None:
    from .conftest import SPEC, check_object

    spec = SPEC["methods"]["sendMessage"]
    assert check_object(spec, {"chat_id": "@a", "text": "x"}) == []
    assert check_object(spec, {"chat_id": "@a"}) == ["missing required 'text'"]
    assert check_object(spec, {"chat_id": "@a", "text": "x", "colour": 1}) == [
        "unknown field 'colour'"
    ]
    assert check_object(spec, {"chat_id": 1.5, "text": "x"})


def test_a_failure_after_the_first_message_is_held_not_repeated(httpx_mock: Any) -> None:
    prepared = CHANNEL.prepare(Post(text="word " * 1000))
    httpx_mock.add_response(url=f"{API}/sendMessage", json=ok(message(1)))
    httpx_mock.add_response(url=f"{API}/sendMessage", status_code=502)
    with pytest.raises(errors.Ambiguous, match=r"partly published \(messages 1\)"):
        deliver(CHANNEL, prepared)
