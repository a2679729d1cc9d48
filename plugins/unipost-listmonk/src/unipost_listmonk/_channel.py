"""Listmonk: create a campaign, then change its status to ``running`` (or ``scheduled``).

Listmonk has no idempotency key; creating twice makes two drafts. The
campaign carries the delivery key as a tag (and at the end of its name) and
every attempt first looks for it: a draft is started, one running, scheduled or finished is the
receipt. Listmonk refuses to start a running campaign again (400), so a lost
answer to the status change never mails the list twice.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import urlsplit

import attrs
import httpx

from unipost.mail import IMAGE_TYPES, MailingChannel, email_of
from unipost.plugin import (
    Absent,
    Capabilities,
    Change,
    Context,
    DeliveryError,
    Flow,
    Found,
    Idempotency,
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

__all__ = ["ListmonkChannel"]

SENT = ("running", "scheduled", "finished", "paused")
NAME_LENGTH = 200


def _ids(value: Any) -> tuple[int, ...]:
    return tuple(int(v) for v in ([value] if isinstance(value, int | str) else value or ()))


def _base(value: str) -> str:
    value = value.strip().rstrip("/").removesuffix("/api")
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError("base_url must be your Listmonk's URL, like https://lists.example.com")
    return value


def _message(response: httpx.Response) -> str | None:
    """``{"message": "…"}``; translated into the server's language, so never matched on."""
    try:
        body = response.json()
    except ValueError:
        return None
    message = body.get("message") if isinstance(body, Mapping) else None
    return message if isinstance(message, str) else None


@attrs.frozen(kw_only=True)
class ListmonkChannel(MailingChannel):
    """A regular campaign to ``list_ids`` on your Listmonk, as an API user with a token."""

    name: ClassVar[str] = "listmonk"
    capabilities: ClassVar[Capabilities] = Capabilities(
        text_limit=None,
        title=True,
        max_media=10,
        media_types=IMAGE_TYPES,
        media_from_url_only=True,
        idempotency=Idempotency.LOOKUP,
        # No API rate limit: sending is paced by the server's own concurrency settings.
    )

    base_url: str = attrs.field(converter=_base)
    api_user: str
    token: str = secret()
    list_ids: tuple[int, ...] = attrs.field(converter=_ids)
    from_email: str | None = None
    template_id: int | None = None
    native_scheduling: bool = False

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        if not self.list_ids:
            raise ValueError("give list_ids: the ids of your Listmonk lists (Lists → id)")
        if self.from_email is not None and not is_email(
            self.from_email.rpartition("<")[2].rstrip(">")
        ):
            raise ValueError("from_email must be an address, like 'Bakery <news@bakery.example>'")

    @property
    def failure_domain(self) -> str:
        """Your own server fails on its own."""
        return f"listmonk:{urlsplit(self.base_url).hostname}"

    # Listmonk's campaign template carries the unsubscribe link ({{ UnsubscribeURL }}).

    def prepare(self, post: Post) -> Prepared:
        prepared = super().prepare(post)
        when = prepared.post.publish_at
        if not (self.native_scheduling and when is not None):
            return prepared
        at = when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        change = Change(kind="scheduled", detail=f"Listmonk sends it at {at}")
        return attrs.evolve(
            prepared,
            changes=(*prepared.changes, change),
            payload={**prepared.payload, "send_at": at},
        )

    def request(
        self, method: str, path: str, body: Any = None, params: Mapping[str, str] | None = None
    ) -> httpx.Request:
        headers = {"Authorization": f"token {self.api_user}:{self.token}"}
        return httpx.Request(
            method, f"{self.base_url}/api{path}", headers=headers, json=body, params=params
        )

    @staticmethod
    def campaign_name(prepared: Prepared, delivery_key: str) -> str:
        tag = f" [{delivery_key}]"
        unit = TextUnit.CHARACTERS
        return truncate(email_of(prepared).subject, NAME_LENGTH - len(tag), unit) + tag

    def campaign_body(self, prepared: Prepared, delivery_key: str) -> dict[str, Any]:
        """The JSON of ``POST /api/campaigns``."""
        content = email_of(prepared)
        body: dict[str, Any] = {
            "name": self.campaign_name(prepared, delivery_key),
            "subject": content.subject,
            "lists": list(self.list_ids),
            "type": "regular",
            "content_type": "html",
            "body": content.html,
            "altbody": content.text,
            "messenger": "email",
            "tags": ["unipost", delivery_key],
        }
        if self.from_email:
            body["from_email"] = self.from_email
        if self.template_id is not None:
            body["template_id"] = self.template_id
        if prepared.payload.get("send_at"):
            body["send_at"] = prepared.payload["send_at"]
        return body

    def _receipt(self, campaign: Mapping[str, Any]) -> Receipt:
        return Receipt(
            platform_id=str(campaign["id"]),
            url=f"{self.base_url}/admin/campaigns/{campaign['id']}",
            extra={"uuid": campaign.get("uuid"), "status": campaign.get("status")},
        )

    def _find_flow(self, prepared: Prepared, ctx: Context) -> Flow[Mapping[str, Any] | None]:
        """The campaign tagged with this delivery key (an exact ``tags`` filter)."""
        params = {"tags": ctx.delivery_key, "per_page": "50", "no_body": "true"}
        response = yield self.request("GET", "/campaigns", params=params)
        data = json_object(response).get("data") or {}
        results = data.get("results") if isinstance(data, Mapping) else None
        for campaign in results or []:
            if isinstance(campaign, Mapping) and ctx.delivery_key in (campaign.get("tags") or []):
                return campaign
        return None

    def publish_flow(self, prepared: Prepared, ctx: Context) -> Flow[Receipt]:
        """Find or create the campaign, then set it ``running`` (or ``scheduled``)."""
        found = yield from self._find_flow(prepared, ctx)
        if found is not None and found.get("status") in SENT:
            return self._receipt(found)
        if found is not None and found.get("status") != "draft":
            raise Permanent(f"campaign {found.get('id')} is {found.get('status')}; not restarted")
        if found is None:
            response = yield self.request(
                "POST", "/campaigns", self.campaign_body(prepared, ctx.delivery_key)
            )
            found = json_object(response).get("data") or {}
            if not isinstance(found, Mapping) or "id" not in found:
                raise Permanent("Listmonk created a campaign without an id", may_have_applied=True)
        status = "scheduled" if prepared.payload.get("send_at") else "running"
        response = yield self.request("PUT", f"/campaigns/{found['id']}/status", {"status": status})
        changed = json_object(response).get("data")
        return self._receipt(
            changed if isinstance(changed, Mapping) else {**found, "status": status}
        )

    def lookup_flow(self, prepared: Prepared, ctx: Context) -> Flow[LookupResult]:
        """Found once running, scheduled, paused or finished; a draft (or nothing) was not sent."""
        found = yield from self._find_flow(prepared, ctx)
        if found is None or found.get("status") == "draft":
            return Absent()
        if found.get("status") in SENT:
            return Found(self._receipt(found))
        return Unknown(f"campaign {found.get('id')} is {found.get('status')}")

    def check_flow(self, ctx: Context) -> Flow[str]:
        """``GET /api/lists/{id}`` for each list: the token works and the lists exist."""
        names = []
        for list_id in self.list_ids:
            response = yield self.request("GET", f"/lists/{list_id}")
            data = json_object(response).get("data") or {}
            names.append(f"{data.get('name')!r} ({data.get('subscriber_count')} subscribers)")
        return f"Listmonk {urlsplit(self.base_url).hostname}: " + ", ".join(names)

    def classify(self, response: httpx.Response, *, now: float) -> DeliveryError | None:
        """By status only: Listmonk's messages are translated (and some 'not found' are 400)."""
        if response.status_code < 400:
            return None
        return error_for_status(response, message=_message(response), now=now)
