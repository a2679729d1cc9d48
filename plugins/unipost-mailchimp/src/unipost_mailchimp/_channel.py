"""Mailchimp Marketing API 3.0: create a campaign, set its content, send or schedule it.

Mailchimp has no idempotency key. The campaign's internal title ends in
``[<delivery key>]``; every attempt first lists the audience's campaigns
created since the delivery's first attempt and picks up the one with that
title: a draft is completed and sent, one already sending, sent or scheduled
is the receipt. Mailchimp refuses to send a campaign twice, so after a lost
answer to ``send`` the campaign is found, never sent again.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
from collections.abc import Mapping
from typing import Any, ClassVar

import attrs
import httpx

from unipost.mail import IMAGE_TYPES, MailingChannel, email_of
from unipost.plugin import (
    Absent,
    Ambiguous,
    Capabilities,
    Change,
    Context,
    DeliveryError,
    Flow,
    Found,
    Idempotency,
    Limit,
    LookupResult,
    Permanent,
    Post,
    Prepared,
    Receipt,
    TextUnit,
    Unknown,
    error_for_status,
    json_object,
    secret,
    truncate,
)
from unipost.recipients import is_email

__all__ = ["MailchimpChannel"]

SENT = ("schedule", "sending", "sent")
DRAFT = ("save", "paused")
PAGE = 1000  # count: at most 1,000 campaigns per page
LOOKUP_PAGES = 10
TITLE_LENGTH = 100
SLOT = 15 * 60  # schedule_time: on the quarter hour
_FIELDS = (
    ",".join(
        f"campaigns.{f}"
        for f in ("id", "web_id", "status", "settings.title", "archive_url", "long_archive_url")
    )
    + ",total_items"
)
_DC = re.compile(r"[a-z]{2,3}\d{1,3}")


def _error_text(response: httpx.Response) -> str | None:
    """``application/problem+json``: title, detail and the per-field errors."""
    try:
        body = response.json()
    except ValueError:
        return None
    if not isinstance(body, Mapping) or not body.get("title"):
        return None
    text = f"{body['title']}: {body.get('detail') or ''}".rstrip(": ")
    fields = [
        f"{e.get('field')}: {e.get('message')}"
        for e in body.get("errors") or []
        if isinstance(e, Mapping)
    ]
    return f"{text} ({'; '.join(fields)})" if fields else text


def _slot(moment: dt.datetime) -> dt.datetime:
    """The next quarter hour at or after ``moment`` (Mailchimp's scheduling slots)."""
    seconds = moment.timestamp()
    return dt.datetime.fromtimestamp(-(-seconds // SLOT) * SLOT, dt.UTC)


@attrs.frozen(kw_only=True)
class MailchimpChannel(MailingChannel):
    """A regular campaign to ``list_id`` (optionally ``segment_id``: a saved segment or a tag)."""

    name: ClassVar[str] = "mailchimp"
    capabilities: ClassVar[Capabilities] = Capabilities(
        text_limit=None,
        title=True,
        max_media=10,
        media_types=IMAGE_TYPES,
        media_from_url_only=True,  # shown by URL (host them, or upload to the File Manager)
        idempotency=Idempotency.LOOKUP,
        # 10 simultaneous connections per key; the engine's per-channel cap keeps below it.
        limits=(Limit(rate=10, per=1.0),),
    )

    api_key: str | None = secret(default=None)
    access_token: str | None = secret(default=None)
    server_prefix: str | None = None
    list_id: str
    segment_id: int | None = None
    from_name: str
    reply_to: str
    native_scheduling: bool = False
    base_url: str | None = None

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        if bool(self.api_key) == bool(self.access_token):
            raise ValueError("give api_key (Account → Extras → API keys) or an OAuth access_token")
        if self.access_token and not self.server_prefix:
            raise ValueError(
                "an OAuth access_token needs server_prefix (the 'dc' from "
                "https://login.mailchimp.com/oauth2/metadata), e.g. us6"
            )
        if self.api_key and not _DC.fullmatch(self.api_key.rpartition("-")[2]):
            raise ValueError("api_key must end in its data center, like …-us6")
        if not is_email(self.reply_to):
            raise ValueError("reply_to must be a plain address such as hello@bakery.example")

    @property
    def data_center(self) -> str:
        return self.server_prefix or (self.api_key or "").rpartition("-")[2]

    @property
    def api(self) -> str:
        return self.base_url or f"https://{self.data_center}.api.mailchimp.com/3.0"

    @property
    def failure_domain(self) -> str:
        return "mailchimp"

    def footer(self) -> tuple[str, str]:
        """Mailchimp's own unsubscribe link and the audience's postal address (both required)."""
        return (
            '<a href="*|UNSUB|*">Unsubscribe</a> *|HTML:LIST_ADDRESS_HTML|*',
            "Unsubscribe: *|UNSUB|*\n*|LIST:ADDRESSLINE|*",
        )

    # -- rendering -------------------------------------------------------

    def prepare(self, post: Post) -> Prepared:
        prepared = super().prepare(post)
        when = prepared.post.publish_at
        if not (self.native_scheduling and when is not None):
            return prepared
        slot = _slot(when)
        detail = f"Mailchimp sends it at {slot:%Y-%m-%d %H:%M} UTC"
        if slot != when:
            detail += " (the next 15-minute slot)"
        change = Change(kind="scheduled", detail=detail)
        return attrs.evolve(
            prepared,
            changes=(*prepared.changes, change),
            payload={**prepared.payload, "schedule_time": slot.strftime("%Y-%m-%dT%H:%M:%S+00:00")},
        )

    # -- requests ------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        if self.access_token:
            return {"Authorization": f"Bearer {self.access_token}"}
        basic = base64.b64encode(f"unipost:{self.api_key}".encode()).decode()
        return {"Authorization": f"Basic {basic}"}

    def request(
        self, method: str, path: str, body: Any = None, params: Mapping[str, str] | None = None
    ) -> httpx.Request:
        return httpx.Request(
            method, f"{self.api}{path}", headers=self._headers(), json=body, params=params
        )

    @staticmethod
    def campaign_title(prepared: Prepared, delivery_key: str) -> str:
        tag = f" [{delivery_key}]"
        subject = email_of(prepared).subject
        unit = TextUnit.CHARACTERS
        return truncate(subject, TITLE_LENGTH - len(tag), unit) + tag

    def campaign_body(self, prepared: Prepared, delivery_key: str) -> dict[str, Any]:
        """The JSON of ``POST /campaigns``."""
        content = email_of(prepared)
        recipients: dict[str, Any] = {"list_id": self.list_id}
        if self.segment_id is not None:
            recipients["segment_opts"] = {"saved_segment_id": self.segment_id}
        return {
            "type": "regular",
            "recipients": recipients,
            "settings": {
                "subject_line": content.subject,
                "preview_text": content.preview_text,
                "title": self.campaign_title(prepared, delivery_key),
                "from_name": self.from_name,
                "reply_to": self.reply_to,
            },
        }

    def content_body(self, prepared: Prepared) -> dict[str, Any]:
        """The JSON of ``PUT /campaigns/{id}/content``."""
        content = email_of(prepared)
        return {"html": content.html, "plain_text": content.text}

    # -- delivery --------------------------------------------------------

    def _receipt(self, campaign: Mapping[str, Any]) -> Receipt:
        return Receipt(
            platform_id=str(campaign["id"]),
            url=campaign.get("long_archive_url") or campaign.get("archive_url"),
            extra={"web_id": campaign.get("web_id"), "status": campaign.get("status")},
        )

    def _find_flow(
        self, prepared: Prepared, ctx: Context
    ) -> Flow[Mapping[str, Any] | Unknown | None]:
        """The audience's campaign titled with this delivery key, created since the first attempt."""
        title = self.campaign_title(prepared, ctx.delivery_key)
        since = ctx.first_attempt_at - 60  # create_time has whole seconds; clocks differ
        params = {
            "list_id": self.list_id,
            "since_create_time": dt.datetime.fromtimestamp(max(since, 0), dt.UTC).strftime(
                "%Y-%m-%dT%H:%M:%S+00:00"
            ),
            "sort_field": "create_time",
            "sort_dir": "DESC",
            "count": str(PAGE),
            "fields": _FIELDS,
        }
        for page in range(LOOKUP_PAGES):
            response = yield self.request(
                "GET", "/campaigns", params={**params, "offset": str(page * PAGE)}
            )
            body = json_object(response)
            campaigns = body.get("campaigns") or []
            for campaign in campaigns:
                if isinstance(campaign, Mapping) and (
                    (campaign.get("settings") or {}).get("title") == title
                ):
                    return campaign
            if (page + 1) * PAGE >= int(body.get("total_items") or 0) or not campaigns:
                return None
        return Unknown(f"more than {LOOKUP_PAGES * PAGE} campaigns since the first attempt")

    def publish_flow(self, prepared: Prepared, ctx: Context) -> Flow[Receipt]:
        """Find or create the campaign, set its content, check it, send or schedule it."""
        found = yield from self._find_flow(prepared, ctx)
        if isinstance(found, Unknown):
            raise Ambiguous(f"cannot tell whether the campaign exists: {found.reason}")
        if found is not None:
            status = found.get("status")
            if status in SENT:
                return self._receipt(found)
            if status not in DRAFT:
                raise Permanent(f"campaign {found['id']} is {status} in Mailchimp; not resent")
            campaign = found
        else:
            response = yield self.request(
                "POST", "/campaigns", self.campaign_body(prepared, ctx.delivery_key)
            )
            campaign = json_object(response)
        campaign_id = str(campaign["id"])
        content = self.request(
            "PUT", f"/campaigns/{campaign_id}/content", self.content_body(prepared)
        )
        content.extensions["unipost.safe"] = True  # setting the same content again is harmless
        yield content
        response = yield self.request("GET", f"/campaigns/{campaign_id}/send-checklist")
        checklist = json_object(response)
        if not checklist.get("is_ready"):
            problems = "; ".join(
                f"{i.get('heading')}: {i.get('details')}"
                for i in checklist.get("items") or []
                if isinstance(i, Mapping) and i.get("type") == "error"
            )
            raise Permanent(f"Mailchimp says campaign {campaign_id} is not ready: {problems}")
        schedule = prepared.payload.get("schedule_time")
        if schedule:
            yield self.request(
                "POST", f"/campaigns/{campaign_id}/actions/schedule", {"schedule_time": schedule}
            )
            status = "schedule"
        else:
            yield self.request("POST", f"/campaigns/{campaign_id}/actions/send")
            status = "sending"
        return self._receipt({**campaign, "status": status})

    def lookup_flow(self, prepared: Prepared, ctx: Context) -> Flow[LookupResult]:
        """Found once sending, sent or scheduled; a draft (or nothing) was not sent."""
        found = yield from self._find_flow(prepared, ctx)
        if isinstance(found, Unknown):
            return found
        if found is None or found.get("status") in DRAFT:
            return Absent()
        if found.get("status") in SENT:
            return Found(self._receipt(found))
        return Unknown(f"campaign {found.get('id')} is {found.get('status')}")

    def check_flow(self, ctx: Context) -> Flow[str]:
        """``GET /lists/{list_id}``: the key works and the audience exists."""
        response = yield self.request(
            "GET", f"/lists/{self.list_id}", params={"fields": "name,stats.member_count"}
        )
        audience = json_object(response)
        members = (audience.get("stats") or {}).get("member_count")
        return f"Mailchimp {self.data_center}: audience {audience.get('name')!r}, {members} members"

    # -- errors ------------------------------------------------------------

    def classify(self, response: httpx.Response, *, now: float) -> DeliveryError | None:
        """Problem documents (``title``, ``detail``, ``errors``), classified by status."""
        if response.status_code < 400:
            return None
        return error_for_status(response, message=_error_text(response), now=now)
