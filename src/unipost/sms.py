"""A post as a text message, for the SMS channels (Twilio, Brevo...).

:class:`SmsChannel` holds what every SMS service needs the same way: the
recipient list (validated E.164 numbers, from settings and a CSV file), the
text and link cut to a budget of billed segments, and the opt-out phrase some
countries require, added only for the numbers of those countries.
"""

from __future__ import annotations

import re
from typing import Any

import attrs

from unipost import text as textmod
from unipost.channel import Change, Channel, Prepared
from unipost.errors import ContentRejected
from unipost.models import Post
from unipost.recipients import Recipient, load_recipients

__all__ = ["SmsChannel"]

_CALLING_CODE = re.compile(r"\+[1-9]\d{0,3}")


def _numbers(value: Any) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(str(v) for v in value or ())


@attrs.frozen(kw_only=True)
class SmsChannel(Channel):
    """Base of the SMS channels: ``prepare`` leaves ``payload["body"]`` within ``max_segments``."""

    to: tuple[str, ...] = attrs.field(default=(), converter=_numbers)
    recipients_csv: str | None = None
    max_segments: int = 10
    #: e.g. "Reply STOP to opt out"; added on its own line, for ``opt_out_countries`` (or all)
    opt_out: str | None = None
    opt_out_countries: tuple[str, ...] = attrs.field(default=(), converter=_numbers)
    #: send the text alone when a post has images (a Change says so); else they are refused
    drop_media: bool = False
    _recipients: tuple[Recipient, ...] = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        if not 1 <= self.max_segments <= 24:
            raise ValueError("max_segments must be between 1 and 24")
        for prefix in self.opt_out_countries:
            if not _CALLING_CODE.fullmatch(prefix):
                raise ValueError(f"opt_out_countries: {prefix!r} is not a calling code like +1")
        recipients = load_recipients(self.to, self.recipients_csv, kind="phone")
        if not recipients:
            raise ValueError(
                "give recipients: to = ['+15558675310'] or recipients_csv = 'list.csv'"
            )
        object.__setattr__(self, "_recipients", recipients)

    @property
    def recipients(self) -> tuple[Recipient, ...]:
        return self._recipients

    def takes_media(self) -> bool:
        """Whether images go out (MMS); otherwise they are refused, or dropped by choice."""
        return False

    def _opt_out_suffix(self) -> str:
        return f"\n{self.opt_out}" if self.opt_out else ""

    def gets_opt_out(self, number: str) -> bool:
        if not self.opt_out:
            return False
        return not self.opt_out_countries or number.startswith(self.opt_out_countries)

    def body_for(self, prepared: Prepared, number: str) -> str:
        """The text ``number`` receives: the prepared body, plus the opt-out phrase if due."""
        body = str(prepared.payload["body"])
        return body + self._opt_out_suffix() if self.gets_opt_out(number) else body

    def prepare(self, post: Post) -> Prepared:
        """Text and link within ``max_segments``; images only as MMS; segments counted."""
        post = post.for_channel(self.id)
        dropped = len(post.media) if post.media and not self.takes_media() else 0
        if dropped and not self.drop_media:
            raise ContentRejected(
                f"{self.id}.media",
                f"{self.name} sends text only and the post has {dropped} image(s)",
                f"give a variant for {self.id!r} without media, or set drop_media = true "
                "to send the text alone",
            )
        if dropped:
            post = attrs.evolve(post, media=(), variants={})
        prepared = super().prepare(post)
        changes = list(prepared.changes)
        if dropped:
            changes.append(
                Change(
                    kind="media_dropped", detail=f"{dropped} file(s) left out: SMS has no images"
                )
            )
        tail = self._opt_out_suffix()
        body = prepared.text
        if textmod.sms_segments(body + tail).segments > self.max_segments:
            body = self._fit_segments(prepared.post, tail)
            changes.append(
                Change(kind="truncated", detail=f"cut to {self.max_segments} SMS segments")
            )
        worst = textmod.sms_segments(body + tail)
        changes.append(
            Change(
                kind="sms_segments",
                detail=f"{worst.segments} segment(s) per recipient, {worst.cost_driver}",
            )
        )
        if tail:
            who = ", ".join(self.opt_out_countries) or "every recipient"
            changes.append(Change(kind="opt_out", detail=f"{self.opt_out!r} added for {who}"))
        payload = {
            **prepared.payload,
            "body": body,
            "segments": worst.segments,
            "encoding": worst.encoding,
        }
        return attrs.evolve(prepared, parts=(body,), changes=tuple(changes), payload=payload)

    def _fit_segments(self, post: Post, tail: str) -> str:
        body, _ = self.compose(post)
        suffix = self.link_suffix(post, body)
        unit = textmod.TextUnit.CHARACTERS
        lo, hi = 1, textmod.count(body, unit)
        while lo < hi:  # the longest cut whose text, link and opt-out fit the segments
            mid = (lo + hi + 1) // 2
            candidate = textmod.truncate(body, mid, unit, suffix=suffix)
            if textmod.sms_segments(candidate + tail).segments <= self.max_segments:
                lo = mid
            else:
                hi = mid - 1
        return textmod.truncate(body, lo, unit, suffix=suffix)
