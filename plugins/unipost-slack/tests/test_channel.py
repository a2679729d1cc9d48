"""The Slack channel: blocks, files upload v2, 200 + ok:false by code, Retry-After."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest
from unipost_slack import SlackChannel, classify_response

from unipost import Media, Post, errors
from unipost.testing import check, deliver, png

from .conftest import (
    API,
    CHANNEL,
    TOKEN,
    UPLOAD,
    check_form_call,
    error,
    permalink,
    posted,
)

NOW = 1764770000.0  # the dispatcher's clock, as classify() is given it

PERMALINK = re.compile(rf"^{re.escape(API)}/chat\.getPermalink\?.*$")


def slack() -> SlackChannel:
    return SlackChannel(token=TOKEN, channel=CHANNEL)


def test_a_post_is_blocks_and_its_permalink_is_the_receipt(httpx_mock: Any) -> None:
    httpx_mock.add_response(url=f"{API}/chat.postMessage", json=posted())
    httpx_mock.add_response(url=PERMALINK, json=permalink())
    post = Post(title="Open today", text="Croissants & <b>rolls</b>", link="https://bakery.example")
    receipt = deliver(slack(), post)
    create, link = httpx_mock.get_requests()
    body = check_form_call(create, "/chat.postMessage")
    assert body["blocks"] == [
        {"type": "header", "text": {"type": "plain_text", "text": "Open today"}},
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": "Croissants &amp; &lt;b&gt;rolls&lt;/b&gt;\n\nhttps://bakery.example",
            },
        },
    ]
    assert body["text"].startswith("Open today\n\nCroissants &amp;")
    assert check_form_call(link, "/chat.getPermalink") == {
        "channel": CHANNEL,
        "message_ts": "1764770000.000100",
    }
    assert receipt.platform_id == f"{CHANNEL}:1764770000.000100"
    assert receipt.url == f"https://bakery.slack.com/archives/{CHANNEL}/p1764770000000100"


def test_long_text_is_split_over_section_blocks() -> None:
    prepared = slack().prepare(Post(text="Baguette " * 440))  # 3,960 characters
    sections = [b["text"]["text"] for b in prepared.payload["blocks"]]
    assert len(sections) == 2
    assert all(len(s) <= 3000 for s in sections)
    assert "sections" in [c.kind for c in prepared.changes]


def test_text_over_4000_is_truncated_with_the_link_kept() -> None:
    prepared = slack().prepare(Post(text="Rye " * 1500, link="https://bakery.example/rye"))
    assert len(prepared.text) <= 4000
    assert prepared.text.endswith("https://bakery.example/rye")
    assert "truncated" in [c.kind for c in prepared.changes]


def test_a_failed_permalink_read_keeps_the_delivery(httpx_mock: Any) -> None:
    httpx_mock.add_response(url=f"{API}/chat.postMessage", json=posted())
    httpx_mock.add_response(url=PERMALINK, status_code=503)
    receipt = deliver(slack(), Post(text="hi"))
    assert receipt.platform_id == f"{CHANNEL}:1764770000.000100"
    assert receipt.url is None


def test_images_use_files_upload_v2_in_one_message(httpx_mock: Any) -> None:
    media = [
        Media.from_bytes(png(), filename="croissants.png", alt="A tray of croissants"),
        Media.from_bytes(png(3, 2), filename="bread.png"),
    ]
    for number in (1, 2):
        httpx_mock.add_response(
            url=f"{API}/files.getUploadURLExternal",
            json={"ok": True, "upload_url": f"{UPLOAD}{number}", "file_id": f"F0FILE000{number}"},
        )
        httpx_mock.add_response(url=f"{UPLOAD}{number}", text=f"OK - {len(png())}")
    httpx_mock.add_response(
        url=f"{API}/files.completeUploadExternal",
        json={
            "ok": True,
            "files": [
                {
                    "id": "F0FILE0001",
                    "title": "A tray of croissants",
                    "permalink": "https://bakery.slack.com/files/U0BOT0001/F0FILE0001/croissants.png",
                },
                {
                    "id": "F0FILE0002",
                    "title": "bread.png",
                    "permalink": "https://bakery.slack.com/files/U0BOT0001/F0FILE0002/bread.png",
                },
            ],
        },
    )
    receipt = deliver(slack(), Post(text="Fresh out of the oven", media=media))
    get1, up1, get2, up2, complete = httpx_mock.get_requests()
    first = dict(httpx.QueryParams(get1.read().decode()))
    assert first == {
        "filename": "croissants.png",
        "length": str(len(png())),
        "alt_txt": "A tray of croissants",
    }
    assert "authorization" not in up1.headers  # the upload URL is pre-signed
    assert b"\x89PNG" in up1.read()
    assert dict(httpx.QueryParams(get2.read().decode()))["filename"] == "bread.png"
    assert up2.url == f"{UPLOAD}2"
    done = dict(httpx.QueryParams(complete.read().decode()))
    assert done["channel_id"] == CHANNEL
    assert json.loads(done["files"]) == [
        {"id": "F0FILE0001", "title": "A tray of croissants"},
        {"id": "F0FILE0002"},
    ]
    assert json.loads(done["blocks"])[0]["text"]["text"] == "Fresh out of the oven"
    assert complete.headers["authorization"] == f"Bearer {TOKEN}"
    assert receipt.platform_id == f"{CHANNEL}:file:F0FILE0001"
    assert receipt.extra["files"] == ["F0FILE0001", "F0FILE0002"]


@pytest.mark.parametrize(
    ("name", "expected", "may_have_applied"),
    [
        ("channel_not_found", errors.Permanent, False),
        ("invalid_blocks", errors.Permanent, False),
        ("not_in_channel", errors.Forbidden, False),
        ("invalid_auth", errors.AuthFailed, False),
        ("internal_error", errors.Transient, True),
    ],
)
def test_200_with_ok_false_is_classified_by_its_code(
    httpx_mock: Any, name: str, expected: type[errors.DeliveryError], may_have_applied: bool
) -> None:
    httpx_mock.add_response(url=f"{API}/chat.postMessage", **error(name))
    with pytest.raises(expected) as caught:
        deliver(slack(), Post(text="hi"))
    assert caught.value.platform_code == name
    assert caught.value.status == 200
    assert caught.value.may_have_applied is may_have_applied


def test_the_block_error_detail_is_in_the_message(httpx_mock: Any) -> None:
    httpx_mock.add_response(url=f"{API}/chat.postMessage", **error("invalid_blocks"))
    with pytest.raises(errors.Permanent, match=r"json-pointer:/blocks/0/slack_file"):
        deliver(slack(), Post(text="hi"))


def test_a_429_waits_for_retry_after(httpx_mock: Any) -> None:
    httpx_mock.add_response(url=f"{API}/chat.postMessage", **error("ratelimited"))
    with pytest.raises(errors.RateLimited) as caught:
        deliver(slack(), Post(text="hi"))
    assert caught.value.retry_after == 30
    assert caught.value.platform_code == "ratelimited"


def test_the_slack_request_id_is_kept() -> None:
    request = httpx.Request("POST", f"{API}/chat.postMessage")
    response = httpx.Response(
        200,
        json={"ok": False, "error": "msg_too_long"},
        headers={"x-slack-req-id": "abc123"},
        request=request,
    )
    classified = classify_response(response, now=NOW)
    assert isinstance(classified, errors.Permanent)
    assert classified.request_id == "abc123"


def test_bad_settings_name_the_field() -> None:
    with pytest.raises(errors.ConfigurationError, match="channel must be a channel ID"):
        SlackChannel.from_settings("slack", {"token": TOKEN, "channel": "#general"})
    with pytest.raises(errors.ConfigurationError, match="xoxb"):
        SlackChannel.from_settings("slack", {"token": "hunter2-secret", "channel": CHANNEL})


def test_check_names_the_bot(httpx_mock: Any) -> None:
    httpx_mock.add_response(
        url=f"{API}/auth.test",
        json={
            "ok": True,
            "url": "https://bakery.slack.com/",
            "team": "Bakery",
            "user": "bakerybot",
            "team_id": "T1",
            "user_id": "U1",
            "bot_id": "B1",
        },
    )
    assert (
        check(slack()) == f"bakerybot in Bakery (https://bakery.slack.com/), posting to {CHANNEL}"
    )
