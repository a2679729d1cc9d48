"""The conformance suite unipost ships, plus this platform's own details.

``TestContract`` inherits a dozen tests from ``ChannelContract``: registration
through the entry point, valid capabilities, secrets kept out of reprs and
logs, over-long text, receipts, sync/async, and the mapping of 429, 503, 401,
400 and timeouts. When one fails, its docstring says what to fix.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

import pytest
import unipost
from unipost.channel import Absent, Found
from unipost.errors import Ambiguous, DuplicateSignal, QuotaExhausted
from unipost.testing import ChannelContract, check, deliver, lookup

from {{ cookiecutter.package }} import {{ cookiecutter.class_name }}

BASE = "https://api.{{ cookiecutter.platform }}.test/v1"
TOKEN = "test-token-0123456789abcdef"
SETTINGS = {"token": TOKEN, "base_url": BASE}


def make_channel() -> {{ cookiecutter.class_name }}:
    return {{ cookiecutter.class_name }}.from_settings("{{ cookiecutter.platform }}", SETTINGS)


class TestContract(ChannelContract):
    channel_class = {{ cookiecutter.class_name }}
    settings = SETTINGS
    secrets = (TOKEN,)
    error_body: ClassVar[Any] = {
        "error": {"code": "bad_request", "message": "rejected by the test"}
    }

    def arrange_success(self, httpx_mock):
        httpx_mock.add_response(
            method="POST",
            url=f"{BASE}/posts",
            match_headers={"Authorization": f"Bearer {TOKEN}"},
            json={"id": "1001", "url": "https://{{ cookiecutter.platform }}.test/p/1001"},
        )


def test_posts_text_as_json_with_the_delivery_key(httpx_mock):
    httpx_mock.add_response(method="POST", url=f"{BASE}/posts", json={"id": "7", "url": "u"})
    post = unipost.Post(text="Fresh bread at 7.", language="en")
    receipt = deliver(make_channel(), post, delivery_key="up1-key-for-this-test")
    request = httpx_mock.get_request()
    assert json.loads(request.content) == {"text": "Fresh bread at 7.", "language": "en"}
    assert request.headers["Idempotency-Key"] == "up1-key-for-this-test"
    assert receipt == unipost.Receipt(platform_id="7", url="u")


def test_media_is_sent_by_url_with_alt_text(httpx_mock):
    httpx_mock.add_response(method="POST", url=f"{BASE}/posts", json={"id": "8", "url": "u"})
    photo = unipost.Media.from_url(
        "https://cdn.test/bread.jpg", alt="A loaf", mime_type="image/jpeg"
    )
    deliver(make_channel(), unipost.Post(text="New loaf", media=[photo]))
    sent = json.loads(httpx_mock.get_request().content)
    assert sent["media"] == [{"url": "https://cdn.test/bread.jpg", "alt": "A loaf"}]


def test_a_success_without_an_id_is_ambiguous(httpx_mock):
    httpx_mock.add_response(method="POST", url=f"{BASE}/posts", text="<html>OK</html>")
    with pytest.raises(Ambiguous):
        deliver(make_channel(), unipost.Post(text="hello"))


@pytest.mark.parametrize(
    ("code", "expected"),
    [("daily_quota_exceeded", QuotaExhausted), ("duplicate_post", DuplicateSignal)],
)
def test_platform_error_codes(httpx_mock, code, expected):
    httpx_mock.add_response(
        method="POST",
        url=f"{BASE}/posts",
        status_code=429 if code == "daily_quota_exceeded" else 409,
        json={"error": {"code": code, "message": "from the platform"}},
    )
    with pytest.raises(expected) as caught:
        deliver(make_channel(), unipost.Post(text="hello"))
    assert caught.value.platform_code == code


def test_lookup_finds_a_post_by_its_delivery_key(httpx_mock):
    httpx_mock.add_response(
        method="GET",
        url=f"{BASE}/posts?idempotency_key=up1-k",
        json={"posts": [{"id": "9", "url": "u9"}]},
    )
    httpx_mock.add_response(
        method="GET", url=f"{BASE}/posts?idempotency_key=up1-other", json={"posts": []}
    )
    post = unipost.Post(text="hello")
    assert lookup(make_channel(), post, delivery_key="up1-k") == Found(
        unipost.Receipt(platform_id="9", url="u9")
    )
    assert lookup(make_channel(), post, delivery_key="up1-other") == Absent()


def test_check_names_the_account(httpx_mock):
    httpx_mock.add_response(method="GET", url=f"{BASE}/me", json={"username": "bakery"})
    assert check(make_channel()) == "authenticated as bakery"


def test_publish_through_a_dispatcher_retries_a_503(
    httpx_mock, unipost_dispatcher, unipost_recorder
):
    """The whole core around the channel: a 503 is retried in virtual time, then it succeeds."""
    httpx_mock.add_response(method="POST", url=f"{BASE}/posts", status_code=503)
    httpx_mock.add_response(method="POST", url=f"{BASE}/posts", json={"id": "10", "url": "u10"})
    dispatcher = unipost_dispatcher(make_channel())
    report = dispatcher.publish(unipost.Post(text="hello", id="post-1"), "{{ cookiecutter.platform }}")
    assert report.status is unipost.ReportStatus.SUCCEEDED
    assert "retry.scheduled" in unipost_recorder.names()
