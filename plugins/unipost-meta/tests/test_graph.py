"""The shared Graph layer: error mapping, usage headers, appsecret_proof, settings."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import httpx
import pytest
from unipost_meta import FacebookChannel, InstagramChannel, ThreadsChannel, WhatsAppChannel
from unipost_meta.graph import appsecret_proof, form
from unipost_meta.graph_errors import THROTTLE_WAIT, error_for_graph, usage_wait

from unipost import errors
from unipost.errors import ConfigurationError


def response(status: int, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json=body, headers=headers)


def body(code: int, subcode: int | None = None, **extra: Any) -> dict[str, Any]:
    error: dict[str, Any] = {"message": "msg", "type": "OAuthException", "code": code}
    if subcode is not None:
        error["error_subcode"] = subcode
    error.update(extra)
    return {"error": error}


@pytest.mark.parametrize(
    ("status", "payload", "expected"),
    [
        (500, body(1), errors.Transient),
        (500, body(2), errors.Transient),
        (400, body(4), errors.RateLimited),
        (400, body(17), errors.RateLimited),
        (400, body(32), errors.RateLimited),
        (400, body(613), errors.RateLimited),
        (400, body(80001), errors.RateLimited),
        (400, body(80002), errors.RateLimited),
        (403, body(10), errors.Forbidden),
        (403, body(200), errors.Forbidden),
        (403, body(299), errors.Forbidden),
        (400, body(100), errors.Permanent),
        (400, body(190, 463), errors.AuthFailed),
        (400, body(190, 460), errors.AuthFailed),
        (400, body(102), errors.AuthFailed),
        (400, body(341), errors.QuotaExhausted),
        (400, body(368), errors.Forbidden),
        (400, body(506), errors.DuplicateSignal),
        (400, body(9, 2207042), errors.QuotaExhausted),
        (400, body(36003, 2207009), errors.Permanent),
        (400, body(100, 2207052), errors.Permanent),
        (400, body(9007, 2207027), errors.Transient),
        (400, body(24, 4279009), errors.Transient),
        (400, body(130429), errors.RateLimited),
        (400, body(131056), errors.RateLimited),
        (400, body(131047), errors.Permanent),
        (400, body(131026), errors.Permanent),
        (400, body(131000), errors.Transient),
        (400, body(99999, is_transient=True), errors.Transient),
        (200, body(99999), errors.Permanent),  # an error body with HTTP 200
        (500, body(99999), errors.Transient),
        (500, "<html>oops</html>", errors.Transient),
    ],
)
def test_error_codes_map_onto_shared_classes(
    status: int, payload: Any, expected: type[errors.DeliveryError]
) -> None:
    """Codes decide, not the HTTP status or the ``type`` (rate limits say OAuthException too)."""
    error = error_for_graph(response(status, payload), now=0.0)
    assert type(error) is expected


def test_success_body_is_not_an_error() -> None:
    assert error_for_graph(response(200, {"id": "1_2"}), now=0.0) is None


def test_code_1_may_have_applied_and_code_2_not() -> None:
    applied = error_for_graph(response(500, body(1)), now=0.0)
    assert applied is not None
    assert applied.may_have_applied
    unapplied = error_for_graph(response(500, body(2)), now=0.0)
    assert unapplied is not None
    assert not unapplied.may_have_applied


def test_expired_token_says_so_and_keeps_codes() -> None:
    error = error_for_graph(response(400, body(190, 463, fbtrace_id="Trace9")), now=0.0)
    assert isinstance(error, errors.AuthFailed)
    assert "expired" in error.message
    assert error.platform_code == "190/463"
    assert error.request_id == "Trace9"


def test_24_hour_window_names_the_fix() -> None:
    error = error_for_graph(response(400, body(131047)), now=0.0)
    assert error is not None
    assert "outside the 24-hour window: configure a template" in error.message


def test_policy_block_is_forbidden_with_long_wait() -> None:
    error = error_for_graph(response(400, body(368)), now=0.0)
    assert isinstance(error, errors.Forbidden)
    assert error.retry_after is not None
    assert error.retry_after >= 3600


def test_buc_header_gives_retry_after_in_seconds() -> None:
    usage = {
        "1234": [
            {
                "type": "pages",
                "call_count": 100,
                "total_cputime": 12,
                "total_time": 40,
                "estimated_time_to_regain_access": 7,
            }
        ]
    }
    error = error_for_graph(
        response(400, body(32), {"X-Business-Use-Case-Usage": json.dumps(usage)}), now=0.0
    )
    assert isinstance(error, errors.RateLimited)
    assert error.retry_after == pytest.approx(420)


def test_app_usage_at_100_percent_waits_default() -> None:
    headers = {"X-App-Usage": json.dumps({"call_count": 100, "total_time": 20, "total_cputime": 9})}
    error = error_for_graph(response(400, body(4), headers), now=0.0)
    assert isinstance(error, errors.RateLimited)
    assert error.retry_after == THROTTLE_WAIT


def test_retry_after_header_when_usage_headers_are_silent() -> None:
    error = error_for_graph(response(429, body(613), {"Retry-After": "12"}), now=0.0)
    assert isinstance(error, errors.RateLimited)
    assert error.retry_after == 12


def test_pair_rate_defaults_to_six_seconds() -> None:
    error = error_for_graph(response(400, body(131056)), now=0.0)
    assert error is not None
    assert error.retry_after == 6


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),
        (
            {"X-App-Usage": json.dumps({"call_count": 28, "total_time": 25, "total_cputime": 25})},
            None,
        ),
        ({"X-App-Usage": "not json"}, None),
        ({"X-Business-Use-Case-Usage": json.dumps({"1": [{"call_count": 100}]})}, THROTTLE_WAIT),
        (
            {
                "X-Business-Use-Case-Usage": json.dumps(
                    {
                        "1": [{"call_count": 5, "estimated_time_to_regain_access": 2}],
                        "2": [{"call_count": 5, "estimated_time_to_regain_access": 10}],
                    }
                )
            },
            600,
        ),
    ],
)
def test_usage_wait(headers: dict[str, str], expected: float | None) -> None:
    assert usage_wait(httpx.Headers(headers)) == expected


def test_appsecret_proof_is_hmac_sha256_hex() -> None:
    expected = hmac.new(b"app-secret", b"token-value", hashlib.sha256).hexdigest()
    assert appsecret_proof("token-value", "app-secret") == expected


def test_every_call_carries_appsecret_proof_and_bearer() -> None:
    channel = FacebookChannel(page_id="1", token="EAAtoken12345", app_secret="s3cr3t-app")
    for request in (
        channel.get("1", params={"fields": "id"}),
        channel.post("1", "feed", data={"message": "hi"}),
    ):
        assert request.url.params["appsecret_proof"] == appsecret_proof(
            "EAAtoken12345", "s3cr3t-app"
        )
        assert request.headers["authorization"] == "Bearer EAAtoken12345"
        assert "access_token" not in request.url.params  # the token never sits in a URL


def test_form_encodes_graph_types() -> None:
    assert form({"published": False, "n": 3, "m": [{"a": "1"}], "skip": None, "s": "x"}) == {
        "published": "false",
        "n": "3",
        "m": '[{"a":"1"}]',
        "s": "x",
    }


def test_api_version_and_base_url_are_configurable() -> None:
    channel = FacebookChannel(
        page_id="1", token="EAAtoken12345", api_version="v24.0", base_url="http://127.0.0.1:8080/"
    )
    assert channel.url("1", "feed") == "http://127.0.0.1:8080/v24.0/1/feed"
    with pytest.raises(ConfigurationError, match="api_version"):
        FacebookChannel.from_settings(
            "facebook", {"page_id": "1", "token": "t" * 10, "api_version": "23"}
        )


def test_threads_has_its_own_host_and_version() -> None:
    channel = ThreadsChannel(token="THtoken12345")
    assert channel.url("me", "threads") == "https://graph.threads.net/v1.0/me/threads"


def test_one_failure_domain_for_all_four() -> None:
    channels = [
        FacebookChannel(page_id="1", token="EAAtoken12345"),
        InstagramChannel(ig_user_id="2", token="EAAtoken12345"),
        WhatsAppChannel(phone_number_id="3", token="EAAtoken12345", to=["+4915112345678"]),
        ThreadsChannel(token="THtoken12345"),
    ]
    assert {c.failure_domain for c in channels} == {"meta"}


def test_secrets_never_in_repr() -> None:
    channel = FacebookChannel(page_id="1", token="EAAtoken12345", app_secret="s3cr3t-app")
    assert "EAAtoken12345" not in repr(channel)
    assert "s3cr3t-app" not in repr(channel)


def test_page_id_must_be_numeric() -> None:
    with pytest.raises(ConfigurationError, match="page_id"):
        FacebookChannel.from_settings("facebook", {"page_id": "bakery", "token": "t" * 10})
