"""The requests the channel builds validate against Mastodon's OpenAPI request schemas."""

from __future__ import annotations

import json
from email.parser import BytesParser
from email.policy import HTTP
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
from referencing import Registry
from referencing.jsonschema import DRAFT202012
from unipost_mastodon import MastodonChannel

from unipost import Media, Post
from unipost.testing import png

from .fake_instance import check_delete

SPEC = json.loads((Path(__file__).parent / "data" / "mastodon-openapi-subset.json").read_text())
REGISTRY = Registry().with_resource("urn:mastodon", DRAFT202012.create_resource(SPEC))


def validate(instance: Any, schema: dict[str, Any]) -> None:
    jsonschema.Draft202012Validator(schema, registry=REGISTRY).validate(instance)


def status_alternatives(payload: dict[str, Any]) -> list[str]:
    """Which of oneOf [TextStatus, MediaStatus, PollStatus] the body satisfies."""
    matched = []
    for name in ("TextStatus", "MediaStatus", "PollStatus"):
        try:
            validate(payload, {"$ref": f"urn:mastodon#/components/schemas/{name}"})
        except jsonschema.ValidationError:
            continue
        matched.append(name)
    return matched


def form_fields(request: httpx.Request) -> dict[str, Any]:
    """A multipart body as a dict: text fields as strings, files as their bytes."""
    request.read()
    head = f"Content-Type: {request.headers['content-type']}\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(head + request.content)
    fields: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        fields[str(name)] = payload if part.get_filename() else payload.decode()
    return fields


CHANNEL = MastodonChannel(instance="https://social.example", token="schema-token-123")


@pytest.mark.parametrize(
    ("settings", "post", "index", "media_ids", "reply_to", "expected"),
    [
        ({}, Post(text="Open 9-5"), 0, [], None, {"TextStatus"}),
        ({"spoiler_text": "cw", "language": "en"}, Post(text="Soup"), 0, [], None, {"TextStatus"}),
        ({"visibility": "direct"}, Post(text="a reply"), 0, [], "109", {"TextStatus"}),
        ({}, Post(text="with media"), 0, ["m1", "m2"], None, {"TextStatus", "MediaStatus"}),
    ],
)
def test_status_body_matches_the_schema(
    settings: dict[str, Any],
    post: Post,
    index: int,
    media_ids: list[str],
    reply_to: str | None,
    expected: set[str],
) -> None:
    # The generated oneOf overlaps (a body with text and media_ids satisfies both Text and
    # MediaStatus, which oneOf forbids), so each alternative is checked on its own.
    channel = MastodonChannel(
        instance="https://social.example", token="schema-token-123", **settings
    )
    payload = channel.status_body(channel.prepare(post), index, media_ids, reply_to)
    request = channel.status_request(payload, "key-1")
    assert set(status_alternatives(json.loads(request.content))) == expected
    assert request.headers["content-type"] == "application/json"


def test_media_upload_matches_the_schema() -> None:
    media = Media.from_bytes(png(), filename="a.png", alt="A tray of croissants", focus=(0.1, 0.9))
    request = CHANNEL.media_request(media)
    fields = form_fields(request)
    assert fields["file"] == png()
    schema = SPEC["paths"]["/api/v2/media"]["post"]["requestBody"]["content"][
        "multipart/form-data"
    ]["schema"]
    validate({k: v if isinstance(v, str) else "<binary>" for k, v in fields.items()}, schema)
    assert fields["description"] == "A tray of croissants"
    assert fields["focus"] == "0.1,0.9"


def test_an_invalid_body_is_caught_by_the_schema() -> None:
    """Guard against a vacuous check: a wrong visibility must fail."""
    assert status_alternatives({"status": "x", "visibility": "everyone"}) == []


def test_status_delete_matches_the_spec() -> None:
    request = CHANNEL.delete_request("109384")
    assert check_delete(request) == "109384"
    assert request.url.params["delete_media"] == "true"


def test_a_wrong_delete_is_caught_by_the_spec() -> None:
    """Guard against a vacuous check: an undeclared parameter must fail."""
    wrong = httpx.Request("DELETE", "https://social.example/api/v1/statuses/1?purge=1")
    with pytest.raises(AssertionError, match="purge"):
        check_delete(wrong)
