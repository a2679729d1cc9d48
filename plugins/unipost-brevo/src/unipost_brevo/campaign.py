"""``brevo``: an e-mail campaign to contact lists, created then sent now or scheduled.

Brevo has no idempotency key for campaigns. The campaign's name ends in
``[<delivery key>]``; every attempt first pages through the account's
campaigns, newest first, back to the delivery's first attempt: a draft is
sent, one queued, in process or sent is the receipt. So a lost answer to
``sendNow`` never sends the campaign twice.
"""

from __future__ import annotations

import datetime as dt
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
    json_object,
    secret,
    truncate,
)
from unipost.recipients import is_email
from unipost_brevo import api

__all__ = ["BrevoCampaignChannel"]

SENT = ("sent", "queued", "in_process", "inProcess", "archive")
PAGE = 100  # limit: at most 100 campaigns per page
LOOKUP_PAGES = 20
NAME_LENGTH = 100


def _ids(value: Any) -> tuple[int, ...]:
    return tuple(int(v) for v in ([value] if isinstance(value, int | str) else value or ()))


def _created(campaign: Mapping[str, Any]) -> float | None:
    try:
        return dt.datetime.fromisoformat(str(campaign.get("createdAt"))).timestamp()
    except ValueError:
        return None


@attrs.frozen(kw_only=True)
class BrevoCampaignChannel(MailingChannel):
    """A classic campaign from a validated sender to ``list_ids`` (or ``segment_ids``)."""

    name: ClassVar[str] = "brevo"
    capabilities: ClassVar[Capabilities] = Capabilities(
        text_limit=None,
        title=True,
        max_media=10,
        media_types=IMAGE_TYPES,
        media_from_url_only=True,
        idempotency=Idempotency.LOOKUP,
        limits=(Limit(rate=10, per=1.0),),  # campaign endpoints are far below /smtp/email's
    )

    api_key: str = secret()
    sender_email: str | None = None
    sender_name: str | None = None
    sender_id: int | None = None
    reply_to: str | None = None
    list_ids: tuple[int, ...] = attrs.field(default=(), converter=_ids)
    segment_ids: tuple[int, ...] = attrs.field(default=(), converter=_ids)
    native_scheduling: bool = False
    base_url: str = api.API

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        if not self.list_ids and not self.segment_ids:
            raise ValueError("give list_ids (Contacts → Lists) or segment_ids")
        if (self.sender_email is None) == (self.sender_id is None):
            raise ValueError("give sender_email (a validated sender) or sender_id, not both")
        for setting in ("sender_email", "reply_to"):
            value = getattr(self, setting)
            if value is not None and not is_email(value):
                raise ValueError(f"{setting} must be a plain address such as news@bakery.example")

    @property
    def failure_domain(self) -> str:
        return "brevo"

    def footer(self) -> tuple[str, str]:
        """Brevo's own unsubscribe link (a campaign without one is refused)."""
        return '<a href="{{ unsubscribe }}">Unsubscribe</a>', "Unsubscribe: {{ unsubscribe }}"

    def prepare(self, post: Post) -> Prepared:
        prepared = super().prepare(post)
        changes = [
            *prepared.changes,
            Change(kind="plain_text", detail="Brevo derives the text part"),
        ]
        changes = [c for c in changes if c.detail != "a plain-text part is sent with the HTML"]
        payload = dict(prepared.payload)
        when = prepared.post.publish_at
        if self.native_scheduling and when is not None:
            at = when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
            payload["scheduled_at"] = at
            changes.append(Change(kind="scheduled", detail=f"Brevo sends it at {at}"))
        return attrs.evolve(prepared, changes=tuple(changes), payload=payload)

    def request(
        self, method: str, path: str, body: Any = None, params: Mapping[str, str] | None = None
    ) -> httpx.Request:
        return api.request(self.api_key, method, f"{self.base_url}{path}", body, params)

    @staticmethod
    def campaign_name(prepared: Prepared, delivery_key: str) -> str:
        tag = f" [{delivery_key}]"
        unit = TextUnit.CHARACTERS
        return truncate(email_of(prepared).subject, NAME_LENGTH - len(tag), unit) + tag

    def campaign_body(self, prepared: Prepared, delivery_key: str) -> dict[str, Any]:
        """The JSON of ``POST /emailCampaigns``."""
        content = email_of(prepared)
        sender: dict[str, Any] = (
            {"id": self.sender_id}
            if self.sender_id is not None
            else {
                "email": self.sender_email,
                **({"name": self.sender_name} if self.sender_name else {}),
            }
        )
        recipients: dict[str, Any] = {}
        if self.list_ids:
            recipients["listIds"] = list(self.list_ids)
        if self.segment_ids:
            recipients["segmentIds"] = list(self.segment_ids)
        body: dict[str, Any] = {
            "name": self.campaign_name(prepared, delivery_key),
            "subject": content.subject,
            "previewText": content.preview_text,
            "sender": sender,
            "htmlContent": content.html,
            "recipients": recipients,
            "tag": "unipost",
        }
        if self.reply_to:
            body["replyTo"] = self.reply_to
        if prepared.payload.get("scheduled_at"):
            body["scheduledAt"] = prepared.payload["scheduled_at"]
        return body

    def _receipt(self, campaign: Mapping[str, Any]) -> Receipt:
        return Receipt(
            platform_id=str(campaign["id"]),
            url=campaign.get("shareLink"),
            extra={"status": campaign.get("status"), "scheduled_at": campaign.get("scheduledAt")},
        )

    def _find_flow(
        self, prepared: Prepared, ctx: Context
    ) -> Flow[Mapping[str, Any] | Unknown | None]:
        """The campaign named with this delivery key, among those created since the first attempt."""
        name = self.campaign_name(prepared, ctx.delivery_key)
        since = ctx.first_attempt_at - 60
        for page in range(LOOKUP_PAGES):
            params = {
                "type": "classic",
                "limit": str(PAGE),
                "offset": str(page * PAGE),
                "sort": "desc",
                "excludeHtmlContent": "true",
            }
            response = yield self.request("GET", "/emailCampaigns", params=params)
            campaigns = [
                c for c in json_object(response).get("campaigns") or [] if isinstance(c, Mapping)
            ]
            for campaign in campaigns:
                if campaign.get("name") == name:
                    return campaign
            oldest = min((_created(c) or 0.0 for c in campaigns), default=0.0)
            if len(campaigns) < PAGE or oldest < since:
                return None
        return Unknown(f"more than {LOOKUP_PAGES * PAGE} campaigns since the first attempt")

    def publish_flow(self, prepared: Prepared, ctx: Context) -> Flow[Receipt]:
        """Find or create the campaign; ``sendNow`` unless it was created with ``scheduledAt``."""
        found = yield from self._find_flow(prepared, ctx)
        if isinstance(found, Unknown):
            raise Ambiguous(f"cannot tell whether the campaign exists: {found.reason}")
        if found is not None and found.get("status") in SENT:
            return self._receipt(found)
        if found is not None and found.get("status") != "draft":
            raise Permanent(
                f"campaign {found.get('id')} is {found.get('status')} in Brevo; not resent"
            )
        if found is None:
            response = yield self.request(
                "POST", "/emailCampaigns", self.campaign_body(prepared, ctx.delivery_key)
            )
            campaign_id = str(json_object(response)["id"])
        else:
            campaign_id = str(found["id"])
        if not prepared.payload.get("scheduled_at"):
            yield self.request("POST", f"/emailCampaigns/{campaign_id}/sendNow")
        response = yield self.request("GET", f"/emailCampaigns/{campaign_id}")
        return self._receipt(json_object(response))

    def lookup_flow(self, prepared: Prepared, ctx: Context) -> Flow[LookupResult]:
        """Found once queued, in process or sent; a draft (or nothing) was not sent."""
        found = yield from self._find_flow(prepared, ctx)
        if isinstance(found, Unknown):
            return found
        if found is None or found.get("status") == "draft":
            return Absent()
        if found.get("status") in SENT:
            return Found(self._receipt(found))
        return Unknown(f"campaign {found.get('id')} is {found.get('status')}")

    def check_flow(self, ctx: Context) -> Flow[str]:
        """``GET /contacts/lists/{id}``: the key works and the first list exists."""
        target = self.list_ids[0] if self.list_ids else None
        if target is None:
            return "Brevo: sending to segments " + ", ".join(map(str, self.segment_ids))
        response = yield self.request("GET", f"/contacts/lists/{target}")
        found = json_object(response)
        return f"Brevo list {found.get('name')!r}: {found.get('uniqueSubscribers')} subscribers"

    def classify(self, response: httpx.Response, *, now: float) -> DeliveryError | None:
        return api.classify(response, now=now)
