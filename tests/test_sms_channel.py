"""unipost.sms.SmsChannel: recipients, the segment budget and the opt-out phrase, shared by SMS plugins."""

from __future__ import annotations

from typing import ClassVar

import attrs
import pytest

from unipost import Capabilities, Media, Post
from unipost.errors import ContentRejected
from unipost.sms import SmsChannel
from unipost.text import TextUnit, sms_segments


@attrs.frozen(kw_only=True)
class DemoSms(SmsChannel):
    name: ClassVar[str] = "demo-sms"
    capabilities: ClassVar[Capabilities] = Capabilities(
        text_limit=1600, text_unit=TextUnit.CHARACTERS
    )


def test_body_fits_the_segments_with_link_and_opt_out() -> None:
    channel = DemoSms(to=["+4915112345678"], max_segments=1, opt_out="STOP=end")
    prepared = channel.prepare(Post(text="word " * 100, link="https://b.example/x"))
    body = channel.body_for(prepared, "+4915112345678")
    assert sms_segments(body).segments == 1
    assert body.endswith("https://b.example/x\nSTOP=end")
    kinds = [c.kind for c in prepared.changes]
    assert {"truncated", "sms_segments", "opt_out"} <= set(kinds)


def test_opt_out_only_for_listed_countries_and_media_dropped() -> None:
    channel = DemoSms(
        to=["+15558675310"], opt_out="Reply STOP", opt_out_countries=["+33"], drop_media=True
    )
    image = Media.from_url("https://b.example/a.jpg", mime_type="image/jpeg")
    prepared = channel.prepare(Post(text="Hi", media=[image]))
    assert channel.body_for(prepared, "+15558675310") == "Hi"
    assert channel.body_for(prepared, "+33612345678") == "Hi\nReply STOP"
    assert "media_dropped" in [c.kind for c in prepared.changes]
    assert prepared.payload["encoding"] == "GSM-7"


def test_images_are_refused_unless_dropping_is_chosen() -> None:
    image = Media.from_url("https://b.example/a.jpg", mime_type="image/jpeg")
    with pytest.raises(ContentRejected, match="without media, or set drop_media = true"):
        DemoSms(to=["+15558675310"]).prepare(Post(text="Hi", media=[image]))


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"to": []}, "give recipients"),
        ({"to": ["12345"]}, "not a phone number"),
        ({"to": ["+15558675310"], "max_segments": 0}, "max_segments"),
        ({"to": ["+15558675310"], "opt_out_countries": ["33"]}, "calling code"),
    ],
)
def test_bad_settings(settings: dict[str, object], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        DemoSms(**settings)  # type: ignore[arg-type]
