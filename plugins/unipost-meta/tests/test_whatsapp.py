"""WhatsApp channel: recipients, text, images, templates, per-recipient results, masking."""

from __future__ import annotations

import json
from typing import Any, ClassVar

import httpx
import pytest
from unipost_meta import WhatsAppChannel

from unipost import Media, Post, errors
from unipost.testing import ChannelContract, check, deliver

from .conftest import Graph

TOKEN = "EAAwhatsapptoken123"
PHONE_ID = "106540352242922"
ROOT = "https://graph.facebook.com/v23.0"
GRAPH = Graph(ROOT)
url = GRAPH.url
gerror = Graph.error
ALICE = "+4915112345678"
BOB = "+14155550123"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def accepted(number: str, message_id: str) -> dict[str, Any]:
    return {
        "messaging_product": "whatsapp",
        "contacts": [{"input": number.lstrip("+"), "wa_id": number.lstrip("+")}],
        "messages": [{"id": message_id}],
    }


def channel(**settings: Any) -> WhatsAppChannel:
    return WhatsAppChannel.from_settings(
        "whatsapp", {"phone_number_id": PHONE_ID, "token": TOKEN, "to": [ALICE], **settings}
    )


def sent(httpx_mock: Any) -> list[dict[str, Any]]:
    return [
        json.loads(r.read()) for r in httpx_mock.get_requests() if r.url.path.endswith("/messages")
    ]


class TestWhatsAppContract(ChannelContract):
    channel_class = WhatsAppChannel
    settings: ClassVar[dict[str, Any]] = {
        "phone_number_id": PHONE_ID,
        "token": TOKEN,
        "to": [ALICE],
    }
    secrets = (TOKEN,)
    error_body: ClassVar[Any] = {
        "error": {"message": "(#9999) test", "type": "OAuthException", "fbtrace_id": "T1"}
    }

    def arrange_success(self, httpx_mock: Any) -> None:
        httpx_mock.add_response(
            method="POST", url=url(f"{PHONE_ID}/messages"), json=accepted(ALICE, "wamid.A1")
        )

    def test_success_returns_a_receipt(self, httpx_mock: Any) -> None:
        """A WhatsApp message has no public URL: the receipt carries one result per recipient."""
        self.arrange_success(httpx_mock)
        receipt = deliver(self.make_channel(), self.sample_post)
        assert receipt.platform_id == "wamid.A1"
        assert receipt.url is None
        assert [r.recipient for r in receipt.recipients] == ["+49*******5678"]


def test_text_message_with_link_preview(httpx_mock: Any) -> None:
    httpx_mock.add_response(
        method="POST", url=url(f"{PHONE_ID}/messages"), json=accepted(ALICE, "wamid.A1")
    )
    deliver(channel(), Post(text="Open today", link="https://bakery.example/offer"))
    (message,) = sent(httpx_mock)
    assert message == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "4915112345678",
        "type": "text",
        "text": {"body": "Open today\n\nhttps://bakery.example/offer", "preview_url": True},
    }


def test_text_without_link_has_no_preview(httpx_mock: Any) -> None:
    httpx_mock.add_response(
        method="POST", url=url(f"{PHONE_ID}/messages"), json=accepted(ALICE, "wamid.A1")
    )
    deliver(channel(), Post(text="Open today"))
    assert sent(httpx_mock)[0]["text"]["preview_url"] is False


def test_image_by_link(httpx_mock: Any) -> None:
    httpx_mock.add_response(
        method="POST", url=url(f"{PHONE_ID}/messages"), json=accepted(ALICE, "wamid.A1")
    )
    deliver(channel(), Post(text="Croissants", media=[Media.from_url("https://cdn.example/c.jpg")]))
    assert sent(httpx_mock)[0]["image"] == {
        "link": "https://cdn.example/c.jpg",
        "caption": "Croissants",
    }


def test_local_image_is_uploaded_once_for_all_recipients(httpx_mock: Any, params: Any) -> None:
    httpx_mock.add_response(method="POST", url=url(f"{PHONE_ID}/media"), json={"id": "media-77"})
    httpx_mock.add_response(
        method="POST", url=url(f"{PHONE_ID}/messages"), json=accepted(ALICE, "wamid.A1")
    )
    httpx_mock.add_response(
        method="POST", url=url(f"{PHONE_ID}/messages"), json=accepted(BOB, "wamid.B1")
    )
    receipt = deliver(
        channel(to=[ALICE, BOB]),
        Post(text="Croissants", media=[Media.from_bytes(PNG, filename="c.png")]),
    )
    upload = httpx_mock.get_requests()[0]
    fields, files = params(upload)
    assert fields == {"messaging_product": "whatsapp", "type": "image/png"}
    assert files == {"file"}
    assert upload.extensions.get("unipost.safe") is True
    assert [m["image"] for m in sent(httpx_mock)] == [
        {"id": "media-77", "caption": "Croissants"}
    ] * 2
    assert receipt.platform_id == "wamid.A1"
    assert [r.ok for r in receipt.recipients] == [True, True]


def test_long_caption_is_cut_to_1024() -> None:
    prepared = channel().prepare(
        Post(text="word " * 400, media=[Media.from_url("https://cdn.example/c.jpg")])
    )
    assert len(prepared.text) <= 1024
    assert any("1024" in c.detail for c in prepared.changes)


def test_template_message(httpx_mock: Any) -> None:
    httpx_mock.add_response(
        method="POST", url=url(f"{PHONE_ID}/messages"), json=accepted(ALICE, "wamid.A1")
    )
    template = {"name": "weekly_offer", "language": "de", "parameters": ["{text}", "{link}"]}
    post = Post(text="20% off\nall pastries", link="https://bakery.example/offer")
    prepared = channel(template=template).prepare(post)
    assert any(c.kind == "template" for c in prepared.changes)
    deliver(channel(template=template), prepared)
    assert sent(httpx_mock)[0]["template"] == {
        "name": "weekly_offer",
        "language": {"code": "de"},
        "components": [
            {
                "type": "body",
                "parameters": [
                    {
                        "type": "text",
                        "text": "20% off all pastries",
                    },  # WhatsApp refuses newlines in parameters
                    {"type": "text", "text": "https://bakery.example/offer"},
                ],
            }
        ],
    }


def test_template_parameter_empty_for_post_is_rejected() -> None:
    template = {"name": "weekly_offer", "language": "de", "parameters": ["{link}"]}
    with pytest.raises(errors.ContentRejected, match=r"template.parameters\[0\]"):
        channel(template=template).prepare(Post(text="no link"))


@pytest.mark.parametrize(
    ("template", "field"),
    [
        ({"language": "de"}, "template.name"),
        ({"name": "x"}, "template.language"),
        ({"name": "x", "language": "de", "parameters": "{text}"}, "template.parameters"),
        ({"name": "x", "language": "de", "colour": "red"}, "template.colour"),
    ],
)
def test_template_settings_are_checked(template: dict[str, Any], field: str) -> None:
    with pytest.raises(errors.ConfigurationError) as caught:
        channel(template=template)
    assert caught.value.field == f"channels.whatsapp.{field}"


def test_bad_number_is_named_masked() -> None:
    with pytest.raises(errors.ConfigurationError) as caught:
        channel(to=[ALICE, "0151 98765432"])
    assert caught.value.field == "channels.whatsapp.to[1]"
    assert "01******5432" in str(caught.value)
    assert "98765432" not in str(caught.value)


def test_numbers_are_normalised_and_masked_in_repr() -> None:
    whatsapp = channel(to=["+49 151 1234-5678"])
    assert whatsapp.to == (ALICE,)
    assert "12345678" not in repr(whatsapp)


def test_no_recipients() -> None:
    with pytest.raises(errors.ConfigurationError, match="no recipients"):
        channel(to=[])


def test_one_recipient_outside_the_window(httpx_mock: Any) -> None:
    httpx_mock.add_response(
        method="POST",
        url=url(f"{PHONE_ID}/messages"),
        status_code=400,
        json=gerror(131047, message="Re-engagement message"),
    )
    httpx_mock.add_response(
        method="POST", url=url(f"{PHONE_ID}/messages"), json=accepted(BOB, "wamid.B1")
    )
    receipt = deliver(channel(to=[ALICE, BOB]), Post(text="Open today"))
    alice, bob = receipt.recipients
    assert not alice.ok
    assert alice.recipient == "+49*******5678"
    assert alice.reason
    assert "outside the 24-hour window: configure a template" in alice.reason
    assert bob.ok
    assert bob.platform_id == "wamid.B1"
    assert receipt.platform_id == "wamid.B1"
    assert receipt.extra == {"delivered": 1, "failed": 1}


def test_single_recipient_outside_the_window_fails_permanently(httpx_mock: Any) -> None:
    httpx_mock.add_response(
        method="POST", url=url(f"{PHONE_ID}/messages"), status_code=400, json=gerror(131047)
    )
    with pytest.raises(errors.Permanent, match="configure a template"):
        deliver(channel(), Post(text="Open today"))


def test_all_recipients_failing_is_one_error_naming_each_masked(httpx_mock: Any) -> None:
    for _ in range(2):
        httpx_mock.add_response(
            method="POST",
            url=url(f"{PHONE_ID}/messages"),
            status_code=400,
            json=gerror(131026, message=f"Message undeliverable to {ALICE}"),
        )
    with pytest.raises(errors.Permanent) as caught:
        deliver(channel(to=[ALICE, BOB]), Post(text="Open today"))
    text = str(caught.value)
    assert "all 2 recipients failed" in text
    assert "+49*******5678" in text
    assert "+14*****0123" in text
    assert "4915112345678" not in text


def test_channel_wide_failure_before_anyone_got_it_fails_the_delivery(httpx_mock: Any) -> None:
    """Nothing was sent, so the whole delivery may be retried later."""
    httpx_mock.add_response(
        method="POST", url=url(f"{PHONE_ID}/messages"), status_code=400, json=gerror(130429)
    )
    with pytest.raises(errors.RateLimited):
        deliver(channel(to=[ALICE, BOB]), Post(text="Open today"))
    assert len(sent(httpx_mock)) == 1


def test_rate_limit_after_someone_got_it_is_waited_out(httpx_mock: Any) -> None:
    """A retry of the delivery would message Alice twice; wait and go on instead."""
    httpx_mock.add_response(
        method="POST", url=url(f"{PHONE_ID}/messages"), json=accepted(ALICE, "wamid.A1")
    )
    httpx_mock.add_response(
        method="POST", url=url(f"{PHONE_ID}/messages"), status_code=400, json=gerror(131056)
    )
    httpx_mock.add_response(
        method="POST", url=url(f"{PHONE_ID}/messages"), json=accepted(BOB, "wamid.B1")
    )
    pauses: list[float] = []

    async def sleep(seconds: float) -> None:
        pauses.append(seconds)

    receipt = deliver(channel(to=[ALICE, BOB]), Post(text="Open today"), sleep=sleep)
    assert pauses == [6.0]
    assert [r.ok for r in receipt.recipients] == [True, True]


def test_token_failure_after_someone_got_it_stops_and_reports(httpx_mock: Any) -> None:
    carol = "+33612345699"
    httpx_mock.add_response(
        method="POST", url=url(f"{PHONE_ID}/messages"), json=accepted(ALICE, "wamid.A1")
    )
    httpx_mock.add_response(
        method="POST",
        url=url(f"{PHONE_ID}/messages"),
        status_code=401,
        json={
            "error": {
                "message": "expired",
                "type": "OAuthException",
                "code": 190,
                "error_subcode": 463,
            }
        },
    )
    receipt = deliver(channel(to=[ALICE, BOB, carol]), Post(text="Open today"))
    assert [r.ok for r in receipt.recipients] == [True, False, False]
    assert receipt.recipients[2].reason
    assert receipt.recipients[2].reason.startswith("not sent")
    assert len(sent(httpx_mock)) == 2


def test_timeout_for_one_recipient_is_never_resent(httpx_mock: Any) -> None:
    httpx_mock.add_exception(
        httpx.ReadTimeout("timed out"), method="POST", url=url(f"{PHONE_ID}/messages")
    )
    httpx_mock.add_response(
        method="POST", url=url(f"{PHONE_ID}/messages"), json=accepted(BOB, "wamid.B1")
    )
    receipt = deliver(channel(to=[ALICE, BOB]), Post(text="Open today"))
    alice, bob = receipt.recipients
    assert alice.reason
    assert "may have been delivered" in alice.reason
    assert bob.ok


def test_answer_without_message_id_is_ambiguous(httpx_mock: Any) -> None:
    httpx_mock.add_response(
        method="POST", url=url(f"{PHONE_ID}/messages"), json={"messaging_product": "whatsapp"}
    )
    with pytest.raises(errors.Ambiguous):
        deliver(channel(), Post(text="Open today"))


def test_check(httpx_mock: Any) -> None:
    httpx_mock.add_response(
        method="GET",
        url=url(PHONE_ID),
        json={"display_phone_number": "+49 30 1234567", "verified_name": "Bakery"},
    )
    httpx_mock.add_response(
        method="GET",
        url=url("debug_token"),
        json={"data": {"is_valid": True, "scopes": ["whatsapp_business_messaging"]}},
    )
    assert check(channel()) == "WhatsApp Bakery (+49*****4567); permissions ok"
