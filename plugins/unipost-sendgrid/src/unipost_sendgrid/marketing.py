"""``sendgrid-marketing``: a Marketing Campaigns Single Send to lists or segments.

Create the Single Send (its name carries the delivery key), then schedule it
for ``now``. Before creating anything, and after a lost answer, the Single
Send is searched by that name: a draft is reused and one already scheduled or
triggered is the receipt, so a lost answer never sends the campaign twice.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, ClassVar

import attrs

from unipost.mail import IMAGE_TYPES, email_of
from unipost.plugin import (
    Absent,
    Capabilities,
    Change,
    Context,
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
    json_object,
    truncate,
)
from unipost_sendgrid.api import SendGridChannel

__all__ = ["SendGridMarketingChannel"]

NAME_LENGTH = 100
SENT = ("scheduled", "triggered")


def _ids(value: Any) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(str(v) for v in value or ())


@attrs.frozen(kw_only=True)
class SendGridMarketingChannel(SendGridChannel):
    """A Single Send from a verified sender to ``list_ids`` / ``segment_ids`` (or all contacts)."""

    name: ClassVar[str] = "sendgrid-marketing"
    capabilities: ClassVar[Capabilities] = Capabilities(
        text_limit=None,
        title=True,
        max_media=10,
        media_types=IMAGE_TYPES,
        media_from_url_only=True,
        idempotency=Idempotency.LOOKUP,
        limits=(Limit(rate=60, per=60.0),),
    )

    sender_id: int
    list_ids: tuple[str, ...] = attrs.field(default=(), converter=_ids)
    segment_ids: tuple[str, ...] = attrs.field(default=(), converter=_ids)
    all_contacts: bool = False
    suppression_group_id: int | None = None
    custom_unsubscribe_url: str | None = None
    native_scheduling: bool = False

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        if not (self.list_ids or self.segment_ids or self.all_contacts):
            raise ValueError("give list_ids, segment_ids, or all_contacts = true")
        if (self.suppression_group_id is None) == (self.custom_unsubscribe_url is None):
            raise ValueError(
                "give exactly one of suppression_group_id (an unsubscribe group) or "
                "custom_unsubscribe_url: SendGrid requires an unsubscribe for Single Sends"
            )

    def footer(self) -> tuple[str, str]:
        return '<a href="{{{unsubscribe}}}">Unsubscribe</a>', "Unsubscribe: {{{unsubscribe}}}"

    def prepare(self, post: Post) -> Prepared:
        prepared = super().prepare(post)
        when = prepared.post.publish_at
        if not (self.native_scheduling and when is not None):
            return prepared
        at = when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        change = Change(kind="scheduled", detail=f"SendGrid sends it at {at}")
        return attrs.evolve(
            prepared,
            changes=(*prepared.changes, change),
            payload={**prepared.payload, "send_at": at},
        )

    @staticmethod
    def single_send_name(prepared: Prepared, delivery_key: str) -> str:
        """``<subject> [<delivery key>]``, within SendGrid's 100 characters."""
        tag = f" [{delivery_key}]"
        subject = email_of(prepared).subject
        unit = TextUnit.CHARACTERS
        return truncate(subject, NAME_LENGTH - len(tag), unit) + tag

    def single_send_body(self, prepared: Prepared, delivery_key: str) -> dict[str, Any]:
        """The JSON of ``POST /v3/marketing/singlesends``."""
        content = email_of(prepared)
        send_to: dict[str, Any] = {}
        if self.list_ids:
            send_to["list_ids"] = list(self.list_ids)
        if self.segment_ids:
            send_to["segment_ids"] = list(self.segment_ids)
        if self.all_contacts:
            send_to["all"] = True
        config: dict[str, Any] = {
            "subject": content.subject,
            "html_content": content.html,
            "plain_content": content.text,
            "generate_plain_content": False,
            "editor": "code",
            "sender_id": self.sender_id,
        }
        if self.suppression_group_id is not None:
            config["suppression_group_id"] = self.suppression_group_id
        else:
            config["custom_unsubscribe_url"] = self.custom_unsubscribe_url
        return {
            "name": self.single_send_name(prepared, delivery_key),
            "categories": ["unipost"],
            "send_to": send_to,
            "email_config": config,
        }

    def _receipt(self, single_send: Mapping[str, Any]) -> Receipt:
        ident = str(single_send["id"])
        return Receipt(
            platform_id=ident,
            url=f"{self.base_url}/v3/marketing/singlesends/{ident}",
            extra={"status": single_send.get("status"), "send_at": single_send.get("send_at")},
        )

    def _find_flow(self, prepared: Prepared, ctx: Context) -> Flow[Mapping[str, Any] | None]:
        """The Single Send whose name carries this delivery key, if one exists."""
        name = self.single_send_name(prepared, ctx.delivery_key)
        request = self.request(
            "POST", "/v3/marketing/singlesends/search", {"name": name}, page_size="100"
        )
        request.extensions["unipost.safe"] = True  # a search changes nothing
        response = yield request
        for item in json_object(response).get("result") or []:
            if isinstance(item, Mapping) and item.get("name") == name:
                return item
        return None

    def publish_flow(self, prepared: Prepared, ctx: Context) -> Flow[Receipt]:
        """Find or create the Single Send, then schedule it (``now`` or ``publish_at``)."""
        found = yield from self._find_flow(prepared, ctx)
        if found is not None and found.get("status") in SENT:
            return self._receipt(found)
        if found is None:
            response = yield self.request(
                "POST",
                "/v3/marketing/singlesends",
                self.single_send_body(prepared, ctx.delivery_key),
            )
            found = json_object(response)
            if not found.get("id"):
                raise Permanent(
                    "SendGrid created a Single Send without an id", may_have_applied=True
                )
        send_at = str(prepared.payload.get("send_at") or "now")
        response = yield self.request(
            "PUT", f"/v3/marketing/singlesends/{found['id']}/schedule", {"send_at": send_at}
        )
        return self._receipt({**found, **json_object(response)})

    def lookup_flow(self, prepared: Prepared, ctx: Context) -> Flow[LookupResult]:
        """Found once scheduled or sent; a draft or nothing means it was not sent."""
        found = yield from self._find_flow(prepared, ctx)
        if found is not None and found.get("status") in SENT:
            return Found(self._receipt(found))
        return Absent()

    def check_flow(self, ctx: Context) -> Flow[str]:
        """``GET /v3/marketing/senders/{id}``: the key works and the sender exists."""
        response = yield self.request("GET", f"/v3/marketing/senders/{self.sender_id}")
        sender = json_object(response)
        verified = sender.get("verified", {})
        state = (
            "verified"
            if isinstance(verified, Mapping) and verified.get("status")
            else "NOT verified"
        )
        return f"SendGrid sender {sender.get('from', {}).get('email')} ({state})"
