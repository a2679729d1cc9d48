"""Requests and fixtures against Slack's Web API spec and method pages."""

from __future__ import annotations

import json
from typing import Any

import httpx
import jsonschema
import pytest
from unipost_slack import SlackChannel

from unipost import Media, Post
from unipost.testing import png

from .conftest import CHANNEL, ERRORS, TOKEN, check_form_call, permalink, posted, validate_response

# files.getUploadURLExternal and files.completeUploadExternal are newer than the stored spec
# (2021): their arguments, from docs.slack.dev/reference/methods/<method> ("Arguments").
GET_UPLOAD_URL = {"required": {"filename", "length"}, "optional": {"alt_txt", "snippet_type"}}
COMPLETE_UPLOAD = {
    "required": {"files"},
    "optional": {"channel_id", "channels", "initial_comment", "thread_ts", "blocks"},
}


def channel() -> SlackChannel:
    return SlackChannel(token=TOKEN, channel=CHANNEL)


def test_post_message_matches_the_spec() -> None:
    request = channel().post_message(channel().prepare(Post(title="T", text="hello")))
    body = check_form_call(request, "/chat.postMessage")
    assert body["channel"] == CHANNEL


def test_get_permalink_matches_the_spec() -> None:
    request = channel().get_permalink("1764770000.000100")
    assert check_form_call(request, "/chat.getPermalink")["message_ts"] == "1764770000.000100"


def test_the_success_fixtures_match_the_spec() -> None:
    validate_response("/chat.postMessage", "post", "200", posted())
    validate_response("/chat.getPermalink", "get", "200", permalink())


@pytest.mark.parametrize("name", ["channel_not_found", "not_in_channel", "invalid_auth"])
def test_error_bodies_match_the_spec(name: str) -> None:
    validate_response("/chat.postMessage", "post", "default", ERRORS[name]["body"])


def test_codes_newer_than_the_spec_are_outside_its_enum() -> None:
    """The 2021 spec's error enum misses invalid_blocks: classification cannot rely on it."""
    with pytest.raises(jsonschema.ValidationError):
        validate_response("/chat.postMessage", "post", "default", ERRORS["invalid_blocks"]["body"])


def _form(request: httpx.Request) -> dict[str, Any]:
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    return dict(httpx.QueryParams(request.read().decode()))


def _check_args(given: dict[str, Any], arguments: dict[str, set[str]]) -> None:
    assert arguments["required"] <= set(given)
    assert set(given) <= arguments["required"] | arguments["optional"]


def test_upload_calls_match_the_method_pages() -> None:
    media = Media.from_bytes(png(), filename="a.png", alt="alt")
    given = _form(channel().get_upload_url(media, 0))
    _check_args(given, GET_UPLOAD_URL)
    assert given["length"].isdigit()
    prepared = channel().prepare(Post(text="hello", media=[media]))
    done = _form(channel().complete_upload(prepared, [{"id": "F1", "title": "alt"}]))
    _check_args(done, COMPLETE_UPLOAD)
    assert json.loads(done["files"]) == [{"id": "F1", "title": "alt"}]
    assert isinstance(json.loads(done["blocks"]), list)


def test_the_spec_check_is_not_vacuous() -> None:
    request = httpx.Request(
        "POST",
        "https://slack.com/api/chat.postMessage",
        headers={"Authorization": f"Bearer {TOKEN}"},
        json={"text": "no channel"},
    )
    with pytest.raises(AssertionError, match="missing required channel"):
        check_form_call(request, "/chat.postMessage")
