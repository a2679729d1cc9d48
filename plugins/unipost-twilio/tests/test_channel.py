"""The Twilio SMS channel: requests, per-recipient results, segments, quiet hours, errors."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
from unipost_twilio import TwilioSmsChannel

from unipost import Media, Post, first_of
from unipost.channel import Absent, Found, Unknown
from unipost.errors import (
    AuthFailed,
    ConfigurationError,
    ContentRejected,
    Permanent,
    RateLimited,
)
from unipost.testing import ChannelContract, deliver, fake_channel, lookup

from .conftest import (
    ACCOUNT,
    MESSAGES,
    SERVICE,
    TOKEN,
    FakeTwilio,
    error,
    form,
    message,
    sid,
)

pytest_plugins = ["unipost.testing.pytest_plugin"]

A, B, C = "+4915112345601", "+4915112345602", "+15558675310"
SETTINGS: dict[str, Any] = {
    "account_sid": ACCOUNT,
    "auth_token": TOKEN,
    "messaging_service_sid": SERVICE,
    "to": [A],
}


def channel(**settings: Any) -> TwilioSmsChannel:
    return TwilioSmsChannel.from_settings("sms", SETTINGS | settings)


class TestTwilioContract(ChannelContract):
    channel_class = TwilioSmsChannel
    settings = SETTINGS
    secrets = (TOKEN,)
    error_body: ClassVar[Any] = {
        "code": 21602,
        "message": "Message body is required.",
        "status": 400,
    }

    def arrange_success(self, httpx_mock: Any) -> None:
        body = "We're open today 9-5! 20% off all pastries."
        httpx_mock.add_response(
            method="POST", url=MESSAGES, status_code=201, json=message(sid(1), A, body)
        )
        # A retried attempt first lists what an earlier one sent.
        httpx_mock.add_response(
            method="GET",
            url=httpx.URL(MESSAGES, params={"PageSize": "1000"}),
            json={"messages": [], "next_page_uri": None},
            is_optional=True,
        )


def test_one_message_per_recipient_with_service_and_callback(httpx_mock: Any) -> None:
    for number, to in enumerate((A, B), 1):
        httpx_mock.add_response(
            method="POST", url=MESSAGES, status_code=201, json=message(sid(number), to, "x")
        )
    ch = channel(to=[A, B], status_callback="https://bakery.example/twilio/status")
    receipt = deliver(ch, Post(text="Fresh bread", link="https://bakery.example/b"))
    sent = [form(r) for r in httpx_mock.get_requests()]
    assert [s["To"] for s in sent] == [[A], [B]]
    assert sent[0]["Body"] == ["Fresh bread\n\nhttps://bakery.example/b"]
    assert sent[0]["MessagingServiceSid"] == [SERVICE]
    assert sent[0]["StatusCallback"] == ["https://bakery.example/twilio/status"]
    assert "From" not in sent[0]
    assert httpx_mock.get_requests()[0].headers["Authorization"].startswith("Basic ")
    assert receipt.platform_id == sid(1)
    assert [r.platform_id for r in receipt.recipients] == [sid(1), sid(2)]
    assert all(r.ok for r in receipt.recipients)
    assert A not in repr(receipt)  # numbers are masked in results


def test_unsubscribed_and_invalid_numbers_fail_only_themselves(httpx_mock: Any) -> None:
    httpx_mock.add_response(method="POST", url=MESSAGES, **error("unsubscribed"))
    httpx_mock.add_response(method="POST", url=MESSAGES, **error("invalid_to"))
    httpx_mock.add_response(
        method="POST", url=MESSAGES, status_code=201, json=message(sid(3), C, "x")
    )
    receipt = deliver(channel(to=[A, B, C]), Post(text="Open late tonight"))
    assert [r.ok for r in receipt.recipients] == [False, False, True]
    assert receipt.recipients[0].reason is not None
    assert receipt.recipients[0].reason.startswith("21610")
    assert receipt.recipients[1].reason is not None
    assert receipt.recipients[1].reason.startswith("21211")
    assert receipt.extra == {"sent": 1, "failed": 2}


def test_every_recipient_refused_is_permanent(httpx_mock: Any) -> None:
    httpx_mock.add_response(method="POST", url=MESSAGES, **error("unsubscribed"))
    httpx_mock.add_response(method="POST", url=MESSAGES, **error("not_mobile"))
    with pytest.raises(Permanent) as caught:
        deliver(channel(to=[A, B]), Post(text="Open late tonight"))
    assert "21610" in str(caught.value)
    assert "21614" in str(caught.value)


@pytest.mark.parametrize(
    ("name", "expected", "code"),
    [
        ("auth", AuthFailed, "20003"),
        ("rate_limit", RateLimited, "20429"),
        ("validation", Permanent, "21602"),
        ("from_not_capable", Permanent, "21606"),
    ],
)
def test_documented_errors_map_to_classes(
    httpx_mock: Any, name: str, expected: type[Exception], code: str
) -> None:
    httpx_mock.add_response(method="POST", url=MESSAGES, **error(name))
    with pytest.raises(expected) as caught:
        deliver(channel(to=[A, B]), Post(text="hi"))
    assert caught.value.platform_code == code  # type: ignore[attr-defined]
    assert len(httpx_mock.get_requests()) == 1  # an account-wide error stops the broadcast


def test_mms_sends_media_urls_and_sms_drops_them(httpx_mock: Any) -> None:
    image = Media.from_url("https://cdn.bakery.example/bread.jpg", mime_type="image/jpeg")
    post = Post(text="Fresh bread", media=[image])
    with pytest.raises(ContentRejected, match="drop_media = true"):
        channel().prepare(post)
    prepared = channel(drop_media=True).prepare(post)
    assert "media_dropped" in [c.kind for c in prepared.changes]
    assert prepared.post.media == ()
    httpx_mock.add_response(
        method="POST", url=MESSAGES, status_code=201, json=message(sid(1), A, "x")
    )
    deliver(channel(mms=True), post)
    assert form(httpx_mock.get_request())["MediaUrl"] == ["https://cdn.bakery.example/bread.jpg"]


def test_preview_shows_segments_and_the_cost_driver() -> None:
    gsm = channel().prepare(Post(text="Fresh bread today, 20% off!"))
    detail = next(c.detail for c in gsm.changes if c.kind == "sms_segments")
    assert detail.startswith("1 segment(s) per recipient, GSM-7")
    ucs = channel().prepare(Post(text="Frische Brötchen 🥐 " * 5))
    detail = next(c.detail for c in ucs.changes if c.kind == "sms_segments")
    assert "UCS-2 because of '🥐'" in detail
    assert ucs.payload["segments"] == 2


def test_text_is_cut_to_max_segments_keeping_link_and_opt_out() -> None:
    ch = channel(max_segments=2, opt_out="Reply STOP to opt out")
    prepared = ch.prepare(Post(text="word " * 400, link="https://bakery.example/offer"))
    body = ch.body_for(prepared, A)
    from unipost.text import sms_segments

    assert sms_segments(body).segments == 2
    assert body.endswith("https://bakery.example/offer\nReply STOP to opt out")
    assert "truncated" in [c.kind for c in prepared.changes]


def test_opt_out_only_where_configured(httpx_mock: Any) -> None:
    for number, to in enumerate((A, C), 1):
        httpx_mock.add_response(
            method="POST", url=MESSAGES, status_code=201, json=message(sid(number), to, "x")
        )
    ch = channel(to=[A, C], opt_out="Reply STOP to opt out", opt_out_countries=["+1"])
    deliver(ch, Post(text="Sale"))
    bodies = [form(r)["Body"][0] for r in httpx_mock.get_requests()]
    assert bodies == ["Sale", "Sale\nReply STOP to opt out"]


NIGHT = dt.datetime(2027, 3, 1, 22, 30, tzinfo=dt.UTC).timestamp()  # 23:30 in Berlin


def _night(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("unipost.testing._drive.time.time", lambda: NIGHT)


def test_quiet_hours_schedule_for_the_morning_through_the_service(
    httpx_mock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _night(monkeypatch)
    httpx_mock.add_response(
        method="POST", url=MESSAGES, status_code=201, json=message(sid(1), A, "x")
    )
    ch = channel(quiet_hours="21:00-08:00", timezone="Europe/Berlin")
    deliver(ch, Post(text="Sale"))
    sent = form(httpx_mock.get_request())
    assert sent["SendAt"] == ["2027-03-02T07:00:00Z"]  # 08:00 in Berlin
    assert sent["ScheduleType"] == ["fixed"]


def test_quiet_hours_without_a_service_refuse_unless_forced(
    httpx_mock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _night(monkeypatch)
    settings = {"messaging_service_sid": None, "from_number": "+15017122661"}
    ch = channel(quiet_hours="21:00-08:00", timezone="Europe/Berlin", **settings)
    with pytest.raises(Permanent, match="quiet hours 21:00-08:00 in Europe/Berlin"):
        deliver(ch, Post(text="Sale"))
    httpx_mock.add_response(
        method="POST", url=MESSAGES, status_code=201, json=message(sid(1), A, "x")
    )
    deliver(ch, Post(text="Storm: closed today", metadata={"force_quiet_hours": "true"}))
    assert form(httpx_mock.get_request())["From"] == ["+15017122661"]


def test_recipient_time_zone_from_the_csv(
    tmp_path: Path, httpx_mock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _night(monkeypatch)  # 17:30 in New York: not quiet there
    csv = tmp_path / "list.csv"
    csv.write_text(f"name,phone,timezone\nAna,{C},America/New_York\nBo,{A},Europe/Berlin\n")
    httpx_mock.add_response(
        method="POST", url=MESSAGES, status_code=201, json=message(sid(1), C, "x")
    )
    httpx_mock.add_response(
        method="POST", url=MESSAGES, status_code=201, json=message(sid(2), A, "x")
    )
    ch = channel(to=[], recipients_csv=str(csv), quiet_hours="21:00-08:00")
    deliver(ch, Post(text="Sale"))
    first, second = (form(r) for r in httpx_mock.get_requests())
    assert "SendAt" not in first
    assert second["SendAt"] == ["2027-03-02T07:00:00Z"]


def test_csv_is_validated_before_anything_is_sent(tmp_path: Path) -> None:
    csv = tmp_path / "list.csv"
    csv.write_text(f"phone\n{A}\n0151 1234567\n")
    with pytest.raises(ConfigurationError, match=r"row 3: 01\*+4567 is not a phone number") as bad:
        channel(to=[], recipients_csv=str(csv))
    assert "01511234567" not in str(bad.value).replace(" ", ""), "the number is masked"
    csv.write_text(f"phone,timezone\n{A},Mars/Base\n")
    with pytest.raises(ConfigurationError, match="not an IANA time zone"):
        channel(to=[], recipients_csv=str(csv))


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"account_sid": "AC123"}, "account_sid must look like AC"),
        ({"messaging_service_sid": None}, "from_number or messaging_service_sid"),
        ({"auth_token": None}, "auth_token, or api_key_sid"),
        ({"status_callback": "http://x.example/cb"}, "https://"),
        ({"quiet_hours": "late"}, "quiet_hours must look like"),
        ({"to": []}, "give recipients"),
    ],
)
def test_bad_settings_name_the_fix(settings: dict[str, Any], problem: str) -> None:
    with pytest.raises(ConfigurationError, match=problem):
        channel(**settings)


def test_api_key_credentials(httpx_mock: Any) -> None:
    httpx_mock.add_response(
        method="POST", url=MESSAGES, status_code=201, json=message(sid(1), A, "x")
    )
    key = "SK" + "a" * 32
    deliver(
        channel(auth_token=None, api_key_sid=key, api_key_secret="key-secret-123456"),
        Post(text="x"),
    )


def test_a_lost_answer_in_a_batch_sends_each_recipient_exactly_once(
    httpx_mock: Any, unipost_dispatcher: Any, unipost_clock: Any, unipost_recorder: Any
) -> None:
    twilio = FakeTwilio(unipost_clock, lose=(B,))
    twilio.install(httpx_mock)
    ch = channel(to=[A, B, C])
    dispatcher = unipost_dispatcher(ch)
    report = dispatcher.publish(Post(text="Storm warning: closed today", id="storm"), "sms")
    dispatcher.drain(until=unipost_clock.now() + 3600)
    assert not report["sms"].ok  # publish() returned while the answer was in doubt
    outcome = dispatcher.report("storm")["sms"]
    assert outcome.ok, str(dispatcher.report("storm"))
    assert "ambiguous" in unipost_recorder.names()
    assert [twilio.sent_to(n) for n in (A, B, C)] == [1, 1, 1]
    assert twilio.posts == 3


def test_shares_the_twilio_failure_domain_with_sendgrid(unipost_dispatcher: Any) -> None:
    sendgrid = fake_channel("sendgrid", domain="twilio")
    dispatcher = unipost_dispatcher(channel(), sendgrid)
    plan = dispatcher.plan(Post(text="x"), to=first_of("sendgrid", "sms"))
    assert any("share the failure domain 'twilio'" in w for w in plan.warnings)


def test_lookup_that_cannot_read_back_far_enough_is_unknown(httpx_mock: Any) -> None:
    page = {
        "messages": [message(sid(9), C, "someone else's")],
        "next_page_uri": f"/2010-04-01/Accounts/{ACCOUNT}/Messages.json?PageSize=1000&Page=1",
    }
    httpx_mock.add_response(method="GET", json=page, is_reusable=True)
    result = lookup(channel(), Post(text="Sale"))
    assert isinstance(result, Unknown)
    assert len(httpx_mock.get_requests()) == 20


def test_lookup_found_only_when_every_recipient_has_it(httpx_mock: Any) -> None:
    page = {"messages": [message(sid(1), A, "Sale")], "next_page_uri": None}
    httpx_mock.add_response(method="GET", json=page, is_reusable=True)
    assert isinstance(lookup(channel(), Post(text="Sale")), Found)
    assert isinstance(lookup(channel(to=[A, B]), Post(text="Sale")), Absent)
    assert isinstance(lookup(channel(), Post(text="Other")), Absent)
