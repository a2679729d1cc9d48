"""``brevo-sms``: Brevo transactional SMS, one request per recipient.

Brevo has no idempotency key and no lookup for a single SMS, so a lost answer
is held as ambiguous. When the broadcast stops half-way (credits run out, a
rate limit), the recipients already reached are reported as sent and the rest
as failed, instead of a retry texting everyone again.
"""

from __future__ import annotations

import re
from typing import ClassVar

import attrs
import httpx

from unipost import text as textmod
from unipost.plugin import (
    Capabilities,
    Context,
    DeliveryError,
    Flow,
    Idempotency,
    Limit,
    Permanent,
    Prepared,
    Receipt,
    RecipientResult,
    TextUnit,
    json_object,
    secret,
)
from unipost.sms import SmsChannel
from unipost_brevo import api

__all__ = ["BrevoSmsChannel"]

_SENDER = re.compile(r"[A-Za-z0-9 ]{1,11}|\d{1,15}")
#: codes about the one recipient: a 400 "for the cases where any parameter is missing or
#: invalid (like invalid_phone_number)" (Brevo, sendinblue/APIv3-php-library#84)
PER_RECIPIENT = {"invalid_parameter", "invalid_phone_number"}


@attrs.frozen(kw_only=True)
class BrevoSmsChannel(SmsChannel):
    """SMS from an approved ``sender`` to every number in ``to`` and ``recipients_csv``."""

    name: ClassVar[str] = "brevo-sms"
    capabilities: ClassVar[Capabilities] = Capabilities(
        text_limit=1600,
        text_unit=TextUnit.CHARACTERS,
        idempotency=Idempotency.NONE,
        limits=(Limit(rate=100, per=1.0),),
    )

    api_key: str = secret()
    sender: str
    sms_type: str = attrs.field(
        default="marketing", validator=attrs.validators.in_(("marketing", "transactional"))
    )
    organisation_prefix: str | None = None
    web_url: str | None = None
    base_url: str = api.API

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        if not _SENDER.fullmatch(self.sender):
            raise ValueError("sender: up to 11 letters and digits, or up to 15 digits")
        if self.web_url and not self.web_url.startswith("https://"):
            raise ValueError("web_url (delivery-status webhook) must be an https:// URL")

    @property
    def failure_domain(self) -> str:
        return "brevo"

    def sms_body(self, prepared: Prepared, number: str, delivery_key: str) -> dict[str, object]:
        """The JSON of ``POST /transactionalSMS/sms`` for one recipient."""
        content = self.body_for(prepared, number)
        body: dict[str, object] = {
            "sender": self.sender,
            "recipient": number.removeprefix("+"),  # "the country code" then the number
            "content": content,
            "type": self.sms_type,
            "tag": delivery_key[:64],
            "unicodeEnabled": textmod.sms_segments(content).encoding == "UCS-2",
        }
        if self.organisation_prefix:
            body["organisationPrefix"] = self.organisation_prefix
        if self.web_url:
            body["webUrl"] = self.web_url
        return body

    def publish_flow(self, prepared: Prepared, ctx: Context) -> Flow[Receipt]:
        results: list[RecipientResult] = []
        for index, recipient in enumerate(self.recipients):
            body = self.sms_body(prepared, recipient.address, ctx.delivery_key)
            try:
                response = yield api.request(
                    self.api_key, "POST", f"{self.base_url}/transactionalSMS/sms", body
                )
            except Permanent as error:
                if error.platform_code not in PER_RECIPIENT:
                    raise
                results.append(
                    RecipientResult(recipient=recipient.masked, ok=False, reason=str(error))
                )
                continue
            except DeliveryError as error:
                if not any(r.ok for r in results):
                    raise
                results.extend(
                    RecipientResult(recipient=r.masked, ok=False, reason=f"not sent: {error}")
                    for r in self.recipients[index:]
                )
                break
            sent = json_object(response)
            results.append(
                RecipientResult(
                    recipient=recipient.masked, ok=True, platform_id=str(sent.get("messageId"))
                )
            )
        delivered = [r for r in results if r.ok]
        if not delivered:
            reasons = "; ".join(sorted({r.reason or "" for r in results}))
            raise Permanent(f"no recipient got the SMS: {reasons}")
        first = delivered[0].platform_id
        return Receipt(
            platform_id=str(first),
            # The SMS events Brevo logged for this delivery (each request carries the key as tag).
            url=f"{self.base_url}/transactionalSMS/statistics/events?tags={ctx.delivery_key[:64]}",
            recipients=tuple(results),
            extra={"sent": len(delivered), "failed": len(results) - len(delivered)},
        )

    def classify(self, response: httpx.Response, *, now: float) -> DeliveryError | None:
        return api.classify(response, now=now)
