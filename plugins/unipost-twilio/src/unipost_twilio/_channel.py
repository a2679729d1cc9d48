"""Twilio Programmable Messaging: one message per recipient through the Messages resource.

A delivery is a broadcast. Each recipient's fate is reported on its own: an
unsubscribed number (21610) or an invalid one (21211, 21614...) fails that
recipient, never the rest. Twilio has no idempotency key for Messages, so a
retried attempt first lists the messages this account created since the
delivery's first attempt and skips every recipient that already has this
body: a lost answer never sends a recipient the same message twice.
"""

from __future__ import annotations

import base64
import datetime as dt
import email.utils
import re
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import attrs
import httpx

from unipost.plugin import (
    Absent,
    Ambiguous,
    AuthFailed,
    Capabilities,
    Change,
    Context,
    DeliveryError,
    Flow,
    Forbidden,
    Found,
    Idempotency,
    Limit,
    LookupResult,
    Permanent,
    Post,
    Prepared,
    QuotaExhausted,
    RateLimited,
    Receipt,
    RecipientResult,
    TextUnit,
    Unknown,
    error_for_status,
    json_object,
    parse_retry_after,
    request_id,
    secret,
)
from unipost.recipients import Recipient, normalize_phone
from unipost.sms import SmsChannel
from unipost_twilio._quiet import QuietHours, zone

__all__ = ["TwilioSmsChannel"]

API = "https://api.twilio.com"
MMS_TYPES = frozenset({"image/jpeg", "image/png", "image/gif"})
#: Errors about one recipient (docs: https://www.twilio.com/docs/api/errors/<code>).
PER_RECIPIENT = {
    21211: "invalid 'To' number",
    21214: "'To' number cannot be reached",
    21217: "not a valid phone number",
    21408: "sending to this region is not enabled",
    21610: "the recipient replied STOP (unsubscribed)",
    21612: "'To' number is not reachable via SMS",
    21614: "'To' number is not a mobile number",
}
AUTH_CODES = {20003}
RATE_CODES = {20429, 14107}  # too many requests; SMS send rate limit exceeded
#: SendAt must lie between 15 minutes (we keep one more) and 35 days ahead.
SEND_AT_MIN = 16 * 60
SEND_AT_MAX = 35 * 24 * 3600
LOOKUP_PAGES = 20
FORCE = "force_quiet_hours"

_ACCOUNT = re.compile(r"AC[0-9a-fA-F]{32}")
_API_KEY = re.compile(r"SK[0-9a-fA-F]{32}")
_SERVICE = re.compile(r"MG[0-9a-fA-F]{32}")


def _pattern(regex: re.Pattern[str], example: str) -> Callable[[Any, Any, Any], None]:
    def check(_instance: Any, attribute: Any, value: str | None) -> None:
        if value is not None and not regex.fullmatch(value):
            raise ValueError(f"{attribute.name} must look like {example}, not {value[:6]}…")

    return check


def _from_number(value: str | None) -> str | None:
    if value is None:
        return None
    number = normalize_phone(value)
    if number is None:
        raise ValueError("from_number must be an E.164 number such as +15017122661")
    return number


def _quiet(value: str | QuietHours | None) -> QuietHours | None:
    return QuietHours.parse(value) if isinstance(value, str) else value


def _iso(moment: float) -> str:
    return dt.datetime.fromtimestamp(moment, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _created(message: Mapping[str, Any]) -> float | None:
    """``date_created`` is RFC 2822 (``Thu, 30 Jul 2015 20:12:31 +0000``)."""
    try:
        return email.utils.parsedate_to_datetime(str(message.get("date_created"))).timestamp()
    except (TypeError, ValueError):
        return None


def _error_body(response: httpx.Response) -> tuple[int | None, str | None]:
    try:
        body = response.json()
    except ValueError:
        return None, None
    if not isinstance(body, Mapping):
        return None, None
    code = body.get("code")
    message = body.get("message")
    return (code if isinstance(code, int) else None), (
        message if isinstance(message, str) else None
    )


@attrs.frozen(kw_only=True)
class TwilioSmsChannel(SmsChannel):
    """SMS (or MMS) to every number in ``to`` and ``recipients_csv``, from a number or a
    Messaging Service. Credentials: Account SID with its Auth Token, or an API key."""

    name: ClassVar[str] = "twilio-sms"
    capabilities: ClassVar[Capabilities] = Capabilities(
        text_limit=1600,  # Body: "up to 1,600 characters"
        text_unit=TextUnit.CHARACTERS,
        max_media=10,
        media_types=MMS_TYPES,
        max_media_bytes=5 * 1024 * 1024,
        media_from_url_only=True,  # MediaUrl: Twilio fetches each file itself
        idempotency=Idempotency.LOOKUP,
        # Twilio queues messages per sender (long code ~1/s, short code ~100/s); the API
        # itself answers 429/20429 over the account's concurrency, which we honour.
        limits=(Limit(rate=100, per=1.0),),
    )

    account_sid: str = attrs.field(validator=_pattern(_ACCOUNT, "AC + 32 hex digits"))
    auth_token: str | None = secret(default=None)
    api_key_sid: str | None = attrs.field(
        default=None, validator=_pattern(_API_KEY, "SK + 32 hex digits")
    )
    api_key_secret: str | None = secret(default=None)
    from_number: str | None = attrs.field(default=None, converter=_from_number)
    messaging_service_sid: str | None = attrs.field(
        default=None, validator=_pattern(_SERVICE, "MG + 32 hex digits")
    )
    status_callback: str | None = None
    mms: bool = False
    quiet_hours: QuietHours | None = attrs.field(default=None, converter=_quiet)
    timezone: str = "UTC"
    native_scheduling: bool = False
    base_url: str = API

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        if bool(self.api_key_sid) != bool(self.api_key_secret):
            raise ValueError("give both api_key_sid and api_key_secret, or neither")
        if not self.auth_token and not self.api_key_sid:
            raise ValueError("give auth_token, or api_key_sid with api_key_secret")
        if not self.from_number and not self.messaging_service_sid:
            raise ValueError("give from_number or messaging_service_sid (the sender)")
        if self.status_callback and not self.status_callback.startswith("https://"):
            raise ValueError("status_callback must be an https:// URL Twilio can reach")
        zone(self.timezone, "timezone")
        for recipient in self.recipients:
            if recipient.timezone:
                zone(recipient.timezone, f"recipients_csv timezone of {recipient.masked}")

    @property
    def failure_domain(self) -> str:
        """SendGrid and Twilio are one company and one infrastructure: ``twilio``."""
        return "twilio"

    def takes_media(self) -> bool:
        return self.mms

    # -- rendering -------------------------------------------------------

    def prepare(self, post: Post) -> Prepared:
        """The shared SMS rendering, plus ``SendAt`` when Twilio holds a scheduled post."""
        prepared = super().prepare(post)
        when = prepared.post.publish_at
        if not (self.native_scheduling and when is not None and self.messaging_service_sid):
            return attrs.evolve(prepared, payload={**prepared.payload, "send_at": None})
        send_at = when.timestamp()
        change = Change(kind="scheduled", detail=f"Twilio sends it at {_iso(send_at)} (SendAt)")
        return attrs.evolve(
            prepared,
            changes=(*prepared.changes, change),
            payload={**prepared.payload, "send_at": send_at},
        )

    # -- requests ------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        """HTTP Basic: Account SID and Auth Token, or API key SID and secret."""
        if self.api_key_sid and self.api_key_secret:
            user, password = self.api_key_sid, self.api_key_secret
        else:
            user, password = self.account_sid, self.auth_token or ""
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        return {"Authorization": f"Basic {token}", "Accept": "application/json"}

    def _url(self, path: str) -> str:
        return f"{self.base_url}/2010-04-01/Accounts/{self.account_sid}{path}"

    def message_request(
        self, prepared: Prepared, number: str, *, send_at: float | None = None
    ) -> httpx.Request:
        """``POST …/Messages.json``, form-encoded, one recipient."""
        data: list[tuple[str, str]] = [("To", number), ("Body", self.body_for(prepared, number))]
        if self.messaging_service_sid:
            data.append(("MessagingServiceSid", self.messaging_service_sid))
        if self.from_number:
            data.append(("From", self.from_number))
        data.extend(("MediaUrl", m.url) for m in prepared.post.media if m.url)
        if self.status_callback:
            data.append(("StatusCallback", self.status_callback))
        if send_at is not None:
            data.extend([("SendAt", _iso(send_at)), ("ScheduleType", "fixed")])
        return httpx.Request(
            "POST",
            self._url("/Messages.json"),
            data=_pairs(data),
            headers=self._headers(),
        )

    def _list_request(self, url: str | None = None) -> httpx.Request:
        params = {"PageSize": "1000"}
        if self.from_number and not self.messaging_service_sid:
            params["From"] = self.from_number
        return httpx.Request(
            "GET",
            url or self._url("/Messages.json"),
            params=None if url else params,
            headers=self._headers(),
        )

    # -- delivery --------------------------------------------------------

    def _timing(self, recipient: Recipient, post: Post, now: float) -> float | str | None:
        """None: send now; a float: schedule at that time; a str: refused, and why."""
        if self.quiet_hours is None or post.metadata.get(FORCE) == "true":
            return None
        tz = zone(recipient.timezone or self.timezone, "timezone")
        ends = self.quiet_hours.ends_at(now, tz)
        if ends is None:
            return None
        if self.messaging_service_sid:
            return max(ends, now + SEND_AT_MIN)
        return (
            f"quiet hours {self.quiet_hours} in {tz.key}: not sent (set messaging_service_sid "
            f"to schedule it for the morning, or metadata {FORCE} = 'true' to send anyway)"
        )

    def publish_flow(self, prepared: Prepared, ctx: Context) -> Flow[Receipt]:
        """One message per recipient; a retry skips those an earlier attempt already reached."""
        earlier: dict[str, Mapping[str, Any]] = {}
        if ctx.attempt > 1:
            found = yield from self._sent_flow(prepared, ctx)
            if isinstance(found, Unknown):  # held for a person: a resend might duplicate
                raise Ambiguous(
                    f"cannot tell which recipients an earlier attempt reached: {found.reason}"
                )
            earlier = found
        now = ctx.now()
        schedule = prepared.payload.get("send_at")
        results: list[RecipientResult] = []
        for recipient in self.recipients:
            masked = recipient.masked
            if recipient.address in earlier:
                sid = str(earlier[recipient.address].get("sid"))
                results.append(RecipientResult(recipient=masked, ok=True, platform_id=sid))
                continue
            timing = self._timing(recipient, prepared.post, now)
            if isinstance(timing, str):
                results.append(RecipientResult(recipient=masked, ok=False, reason=timing))
                continue
            send_at = timing if timing is not None else schedule
            if send_at is not None and not now + SEND_AT_MIN <= send_at <= now + SEND_AT_MAX:
                send_at = None  # too close (or too far) for SendAt: Twilio sends it now
            request = self.message_request(prepared, recipient.address, send_at=send_at)
            try:
                response = yield request
            except Permanent as error:
                code = int(error.platform_code or 0) if (error.platform_code or "").isdigit() else 0
                if code not in PER_RECIPIENT:
                    raise
                reason = f"{code}: {PER_RECIPIENT[code]}"
                results.append(RecipientResult(recipient=masked, ok=False, reason=reason))
                continue
            message = json_object(response)
            results.append(
                RecipientResult(recipient=masked, ok=True, platform_id=str(message.get("sid")))
            )
        return self._receipt(results)

    def _receipt(self, results: list[RecipientResult]) -> Receipt:
        sent = [r for r in results if r.ok]
        if not sent:
            reasons = "; ".join(sorted({r.reason or "" for r in results}))
            raise Permanent(
                f"no recipient got the message: {reasons}",
                detail={"recipients": [attrs.asdict(r) for r in results]},
            )
        first = sent[0].platform_id
        return Receipt(
            platform_id=str(first),
            url=self._url(f"/Messages/{first}.json"),
            recipients=tuple(results),
            extra={"sent": len(sent), "failed": len(results) - len(sent)},
        )

    def _sent_flow(
        self, prepared: Prepared, ctx: Context
    ) -> Flow[dict[str, Mapping[str, Any]] | Unknown]:
        """Our recipients' messages with this body created since the first attempt, by number.

        Twilio lists newest first; pages are read until they reach back past the
        first attempt, at most ``LOOKUP_PAGES`` pages of 1000.
        """
        since = ctx.first_attempt_at
        wanted = {r.address: self.body_for(prepared, r.address) for r in self.recipients}
        found: dict[str, Mapping[str, Any]] = {}
        url: str | None = None
        for _page in range(LOOKUP_PAGES):
            response = yield self._list_request(url)
            page = json_object(response)
            messages = page.get("messages") or []
            oldest = None
            for message in messages:
                created = _created(message)
                oldest = created if oldest is None or (created or 0) < oldest else oldest
                if created is None or created < since - 1:  # whole seconds in date_created
                    continue
                if not self._ours(message) or message.get("status") == "canceled":
                    continue
                number = str(message.get("to"))
                if wanted.get(number) == message.get("body"):
                    found.setdefault(number, message)
            next_uri = page.get("next_page_uri")
            if not messages or not next_uri or (oldest is not None and oldest < since):
                return found
            url = f"{self.base_url}{next_uri}"
        return Unknown(f"more than {LOOKUP_PAGES * 1000} messages since the first attempt")

    def _ours(self, message: Mapping[str, Any]) -> bool:
        if self.messaging_service_sid:
            return message.get("messaging_service_sid") == self.messaging_service_sid
        return message.get("from") == self.from_number

    def lookup_flow(self, prepared: Prepared, ctx: Context) -> Flow[LookupResult]:
        """Found when every recipient has the message; otherwise a resend reaches only the rest."""
        found = yield from self._sent_flow(prepared, ctx)
        if isinstance(found, Unknown):
            return found
        if not found:
            return Absent()
        if len(found) < len(self.recipients):
            return Absent()  # incomplete: the next attempt skips the recipients listed here
        results = [
            RecipientResult(recipient=r.masked, ok=True, platform_id=str(found[r.address]["sid"]))
            for r in self.recipients
        ]
        return Found(self._receipt(results))

    def check_flow(self, ctx: Context) -> Flow[str]:
        """The account's name and status (``GET /Accounts/{sid}.json``)."""
        response = yield httpx.Request(
            "GET",
            f"{self.base_url}/2010-04-01/Accounts/{self.account_sid}.json",
            headers=self._headers(),
        )
        account = json_object(response)
        sender = self.messaging_service_sid or self.from_number
        return (
            f"Twilio account {account.get('friendly_name')!r} ({account.get('status')}), "
            f"sending from {sender} to {len(self.recipients)} recipient(s)"
        )

    # -- errors ------------------------------------------------------------

    def classify(self, response: httpx.Response, *, now: float) -> DeliveryError | None:
        """Twilio's ``{"code", "message", "more_info", "status"}``, by code first."""
        if response.status_code < 400:
            return None
        code, message = _error_body(response)
        text = f"Twilio {code}: {message}" if code else message
        rid = request_id(response) or response.headers.get("twilio-request-id")
        status = response.status_code
        if code in RATE_CODES or status == 429:
            retry = parse_retry_after(response.headers, now=now)
            return RateLimited(
                text or "too many requests", status=status, platform_code=code, retry_after=retry
            )
        if code in AUTH_CODES or status == 401:
            return AuthFailed(text or "authentication failed", status=status, platform_code=code)
        if code == 20008 or status == 403:  # test credentials, or a suspended account
            return Forbidden(text or "forbidden", status=status, platform_code=code)
        if code == 21611:  # the sender's queue is full
            return QuotaExhausted(text or "queue full", status=status, platform_code=code)
        error = error_for_status(response, message=text, now=now)
        if error is not None:
            error.platform_code = None if code is None else str(code)
            error.request_id = rid
        return error


def _pairs(data: list[tuple[str, str]]) -> dict[str, str | list[str]]:
    merged: dict[str, str | list[str]] = {}
    for key, value in data:
        if key in merged:
            old = merged[key]
            merged[key] = [*old, value] if isinstance(old, list) else [old, value]
        else:
            merged[key] = value
    return merged
