"""``sendgrid``: v3 Mail Send to a list of addresses, one personalization per recipient.

SendGrid has no idempotency key and no lookup without the paid Email Activity
add-on, so a lost answer is held as ambiguous for a person. When a later batch
of a large list fails, the batches already accepted are reported as sent and
the rest as failed, rather than resending them all.
"""

from __future__ import annotations

import email.utils
from typing import Any, ClassVar

import attrs

from unipost.mail import IMAGE_TYPES, email_of
from unipost.plugin import (
    Capabilities,
    Change,
    Context,
    DeliveryError,
    Flow,
    Idempotency,
    Limit,
    Permanent,
    Post,
    Prepared,
    Receipt,
    RecipientResult,
)
from unipost.recipients import Recipient, is_email, load_recipients
from unipost_sendgrid.api import SendGridChannel

__all__ = ["SendGridMailChannel"]

BATCH = 1000  # personalizations per request (the spec's maxItems)
SEND_AT_MAX = 72 * 3600  # send_at: at most 72 hours ahead


def _addresses(value: Any) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(str(v) for v in value or ())


@attrs.frozen(kw_only=True)
class SendGridMailChannel(SendGridChannel):
    """The post as an e-mail to every address in ``to`` and ``recipients_csv``."""

    name: ClassVar[str] = "sendgrid"
    capabilities: ClassVar[Capabilities] = Capabilities(
        text_limit=None,
        title=True,
        max_media=10,
        media_types=IMAGE_TYPES,
        media_from_url_only=True,  # images are shown by URL, never attached
        idempotency=Idempotency.NONE,
        limits=(Limit(rate=600, per=60.0),),  # SendGrid publishes no per-endpoint number
    )

    from_email: str = attrs.field()
    from_name: str | None = None
    reply_to: str | None = None
    to: tuple[str, ...] = attrs.field(default=(), converter=_addresses)
    recipients_csv: str | None = None
    unsubscribe_group_id: int | None = None
    categories: tuple[str, ...] = attrs.field(default=("unipost",), converter=_addresses)
    native_scheduling: bool = False
    _recipients: tuple[Recipient, ...] = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        for setting in ("from_email", "reply_to"):
            value = getattr(self, setting)
            if value is not None and not is_email(value):
                raise ValueError(f"{setting} must be a plain address such as news@bakery.example")
        recipients = load_recipients(self.to, self.recipients_csv, kind="email")
        if not recipients:
            raise ValueError("give recipients: to = ['ana@example.com'] or recipients_csv")
        object.__setattr__(self, "_recipients", recipients)

    def footer(self) -> tuple[str, str]:
        if self.unsubscribe_group_id is None:
            return "", ""  # the account's subscription tracking adds SendGrid's own link
        tag = "<%asm_group_unsubscribe_raw_url%>"
        return f'<a href="{tag}">Unsubscribe</a>', f"Unsubscribe: {tag}"

    def prepare(self, post: Post) -> Prepared:
        prepared = super().prepare(post)
        when = prepared.post.publish_at
        if not (self.native_scheduling and when is not None):
            return prepared
        change = Change(kind="scheduled", detail=f"SendGrid sends it at {when:%Y-%m-%d %H:%M %Z}")
        return attrs.evolve(
            prepared,
            changes=(*prepared.changes, change),
            payload={**prepared.payload, "send_at": int(when.timestamp())},
        )

    def mail_body(
        self, prepared: Prepared, batch: list[Recipient], delivery_key: str, now: float
    ) -> dict[str, Any]:
        """The JSON of ``POST /v3/mail/send`` for one batch of recipients."""
        content = email_of(prepared)
        sender: dict[str, str] = {"email": self.from_email}
        if self.from_name:
            sender["name"] = self.from_name
        body: dict[str, Any] = {
            # custom_args per envelope: the spec types the top-level one as a string.
            "personalizations": [
                {
                    "to": [{"email": r.address, **({"name": r.name} if r.name else {})}],
                    "custom_args": {"unipost_key": delivery_key},
                }
                for r in batch
            ],
            "from": sender,
            "subject": content.subject,
            "content": [
                {"type": "text/plain", "value": content.text},
                {"type": "text/html", "value": content.html},
            ],
            "categories": list(self.categories),
        }
        if self.reply_to:
            body["reply_to"] = {"email": self.reply_to}
        if self.unsubscribe_group_id is not None:
            body["asm"] = {"group_id": self.unsubscribe_group_id}
        send_at = prepared.payload.get("send_at")
        if isinstance(send_at, int) and now < send_at <= now + SEND_AT_MAX:
            body["send_at"] = send_at
        return body

    def publish_flow(self, prepared: Prepared, ctx: Context) -> Flow[Receipt]:
        """One request per 1,000 recipients; a failure after the first keeps what was sent."""
        recipients = list(self._recipients)
        batches = [recipients[i : i + BATCH] for i in range(0, len(recipients), BATCH)]
        results: list[RecipientResult] = []
        ids: list[str] = []
        for number, batch in enumerate(batches):
            body = self.mail_body(prepared, batch, ctx.delivery_key, ctx.now())
            try:
                response = yield self.request("POST", "/v3/mail/send", body)
            except DeliveryError as error:
                if not ids:
                    raise
                results.extend(
                    RecipientResult(recipient=r.masked, ok=False, reason=str(error))
                    for rest in batches[number:]
                    for r in rest
                )
                break
            # 202 has an empty body; the id is the X-Message-Id header.
            message_id = response.headers.get("x-message-id") or f"{ctx.delivery_key}.{number}"
            ids.append(message_id)
            results.extend(
                RecipientResult(recipient=r.masked, ok=True, platform_id=message_id) for r in batch
            )
        return Receipt(
            platform_id=ids[0],
            url=f"{self.base_url}/v3/messages/{ids[0]}",  # Email Activity API (an add-on)
            recipients=tuple(results),
            extra={
                "message_ids": ids,
                "sent": sum(r.ok for r in results),
                "failed": sum(not r.ok for r in results),
            },
        )

    def check_flow(self, ctx: Context) -> Flow[str]:
        """``GET /v3/scopes``: the key works and may send mail."""
        response = yield self.request("GET", "/v3/scopes")
        scopes = response.json().get("scopes", [])
        if "mail.send" not in scopes:
            raise Permanent("the API key lacks the mail.send scope: give it Mail Send access")
        sender = email.utils.formataddr((self.from_name or "", self.from_email))
        return f"SendGrid key with mail.send, from {sender}, {len(self._recipients)} recipient(s)"
