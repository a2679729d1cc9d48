"""A unipost ``Post`` as a Google ``LocalPost``: What's new, Offer or Event.

The kind and its details come from the post's ``metadata`` (plain strings,
so they survive the outbox):

========================  ===================================================
``google.topic``          ``standard`` (What's new), ``offer`` or ``event``;
                          guessed from the keys below when absent
``google.start``          ISO date or date-time, in the location's local time
``google.end``            the same; required with ``google.start``
``google.coupon``         offer: coupon code
``google.terms``          offer: terms and conditions
``google.redeem_url``     offer: where to redeem online (default: the link)
``google.cta``            button: BOOK, ORDER, SHOP, LEARN_MORE, SIGN_UP, CALL
========================  ===================================================

The post's ``title`` is the event's or offer's title; its ``link`` is the
button's target (or the offer's redeem URL).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import attrs

from unipost.plugin import (
    ContentRejected,
    Post,
)

__all__ = ["ACTIONS", "TITLE_LIMIT", "Details", "details"]

ACTIONS = ("BOOK", "ORDER", "SHOP", "LEARN_MORE", "SIGN_UP", "CALL")
TOPICS = ("STANDARD", "OFFER", "EVENT")
TITLE_LIMIT = 58  # event and offer titles (reported by third parties; not in the reference)


@attrs.frozen(kw_only=True)
class Details:
    """What ``prepare`` decided, carried in ``Prepared.payload``."""

    topic: str
    title: str | None
    start: str | None
    end: str | None
    coupon: str | None
    terms: str | None
    redeem_url: str | None
    action: str | None
    action_url: str | None


def _moment(field: str, value: str) -> dt.datetime | dt.date:
    try:
        if "T" in value or " " in value:
            return dt.datetime.fromisoformat(value)
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ContentRejected(
            field,
            f"{value!r} is not an ISO date or date-time",
            "write 2026-12-24 or 2026-12-24T09:00",
        ) from None


def details(post: Post, channel_id: str, default_action: str | None) -> Details:
    """Validate the metadata for one post; every problem names the key and the fix."""
    meta: Mapping[str, str] = post.metadata
    where = f"{channel_id}.metadata"
    offer_keys = ("google.coupon", "google.terms", "google.redeem_url")
    topic = meta.get("google.topic", "").strip().upper()
    if not topic:
        topic = (
            "OFFER"
            if any(k in meta for k in offer_keys)
            else "EVENT"
            if "google.start" in meta
            else "STANDARD"
        )
    if topic == "WHATS_NEW":
        topic = "STANDARD"
    if topic not in TOPICS:
        raise ContentRejected(
            f"{where}.google.topic", f"unknown topic {topic!r}", "use standard, offer or event"
        )
    start = meta.get("google.start")
    end = meta.get("google.end")
    title = post.title
    if topic in ("OFFER", "EVENT"):
        if not title:
            raise ContentRejected(
                f"{channel_id}.title",
                f"a Google {topic.lower()} needs a title",
                "set Post(title=...) (at most 58 characters)",
            )
        if len(title) > TITLE_LIMIT:
            raise ContentRejected(
                f"{channel_id}.title",
                f"{len(title)} characters, Google shows at most {TITLE_LIMIT}",
                "shorten the title",
            )
        if not start or not end:
            raise ContentRejected(
                f"{where}.google.start",
                f"a Google {topic.lower()} needs google.start and google.end",
                "add both, e.g. google.start = 2026-12-20, google.end = 2026-12-24",
            )
        first, last = _moment(f"{where}.google.start", start), _moment(f"{where}.google.end", end)
        if type(first) is not type(last):
            raise ContentRejected(
                f"{where}.google.end",
                "google.start and google.end must both be dates or both date-times",
                "write both the same way",
            )
        if last < first:
            raise ContentRejected(f"{where}.google.end", "ends before it starts", "fix the dates")
    elif start or end:
        raise ContentRejected(
            f"{where}.google.start",
            "dates belong to offers and events",
            "set google.topic = event (or offer), or remove the dates",
        )
    elif any(k in meta for k in offer_keys):
        raise ContentRejected(
            f"{where}.google.topic",
            "coupon, terms and redeem URL need an offer",
            "set google.topic = offer",
        )
    action = meta.get("google.cta", "").strip().upper() or default_action
    if action == "GET_OFFER":
        raise ContentRejected(
            f"{where}.google.cta",
            "GET_OFFER buttons are no longer accepted by Google (since 2021)",
            "use an offer post (google.topic = offer) with google.redeem_url",
        )
    if action is not None and action not in ACTIONS:
        raise ContentRejected(
            f"{where}.google.cta", f"unknown button {action!r}", f"use one of {', '.join(ACTIONS)}"
        )
    if topic == "OFFER":
        action = None  # Google ignores the button on offers; the redeem URL takes its place
    elif action not in (None, "CALL") and not post.link:
        action = None  # a button needs a target
    return Details(
        topic=topic,
        title=title if topic != "STANDARD" else None,
        start=start,
        end=end,
        coupon=meta.get("google.coupon"),
        terms=meta.get("google.terms"),
        redeem_url=meta.get("google.redeem_url") or (post.link if topic == "OFFER" else None),
        action=action,
        action_url=post.link if action not in (None, "CALL") else None,
    )


def _date(value: dt.date) -> dict[str, int]:
    return {"year": value.year, "month": value.month, "day": value.day}


def _schedule(start: str, end: str) -> dict[str, Any]:
    first, last = _moment("start", start), _moment("end", end)
    schedule: dict[str, Any] = {"startDate": _date(first), "endDate": _date(last)}
    if isinstance(first, dt.datetime) and isinstance(last, dt.datetime):
        schedule["startTime"] = {"hours": first.hour, "minutes": first.minute}
        schedule["endTime"] = {"hours": last.hour, "minutes": last.minute}
    return schedule


def local_post(
    summary: str, info: Details, photo_urls: list[str], language: str | None
) -> dict[str, Any]:
    """The ``LocalPost`` JSON for ``localPosts.create`` and ``patch``."""
    body: dict[str, Any] = {"topicType": info.topic, "summary": summary}
    if language:
        body["languageCode"] = language
    if info.action:
        body["callToAction"] = {"actionType": info.action}
        if info.action_url:
            body["callToAction"]["url"] = info.action_url
    if info.topic in ("OFFER", "EVENT"):
        assert info.title is not None
        assert info.start is not None
        assert info.end is not None
        body["event"] = {"title": info.title, "schedule": _schedule(info.start, info.end)}
    if info.topic == "OFFER":
        offer = {
            "couponCode": info.coupon,
            "redeemOnlineUrl": info.redeem_url,
            "termsConditions": info.terms,
        }
        body["offer"] = {k: v for k, v in offer.items() if v}
    if photo_urls:
        body["media"] = [{"mediaFormat": "PHOTO", "sourceUrl": url} for url in photo_urls]
    return body


def update_mask(topic: str) -> str:
    """The fields a revision replaces (an absent one is cleared, e.g. a removed button)."""
    fields = ["summary", "callToAction", "media"]
    if topic in ("EVENT", "OFFER"):
        fields.append("event")
    if topic == "OFFER":
        fields.append("offer")
    return ",".join(fields)
