"""The Matrix channel: ``m.room.message`` events in one room, client-server API v3.

Matrix has its own idempotency: ``PUT /rooms/{room}/send/m.room.message/{txnId}``
with the same transaction id (for the same access token) returns the first event
instead of sending another. The transaction id is derived from unipost's delivery
key, which every attempt and every process reuses, so a retry after a timeout
cannot post twice. Images are uploaded to the media repository (``mxc://``) and
sent as ``m.image`` events after the text.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlsplit

import attrs
import httpx

from unipost.plugin import (
    Absent,
    Capabilities,
    Channel,
    Context,
    DeliveryError,
    Flow,
    Found,
    Idempotency,
    Limit,
    LookupResult,
    Media,
    Overflow,
    Prepared,
    Receipt,
    TextUnit,
    Unknown,
    find_urls,
    json_object,
    require,
    secret,
)
from unipost_matrix._errors import classify_response

__all__ = ["MatrixChannel", "transaction_id"]

CLIENT = "/_matrix/client/v3"
#: An event is at most 65,536 bytes of JSON; body and formatted_body both carry the text.
TEXT_BYTES = 24_000
IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
MEDIA_BYTES = 50 * 1024 * 1024  # Synapse's default max_upload_size
#: Synapse answers a repeated transaction id from its cache for 30 minutes (and from its
#: database, per device, for longer); the shorter figure is declared.
TXN_WINDOW = 1800.0
LOOKUP_PAGES = 20  # pages of 100 events read back before giving up with Unknown
CLOCK_SKEW = 300.0  # seconds a homeserver's clock may differ from ours

CAPABILITIES = Capabilities(
    text_limit=TEXT_BYTES,
    text_unit=TextUnit.UTF8_BYTES,
    overflow=Overflow.TRUNCATE,
    max_media=10,
    media_types=IMAGE_TYPES,
    max_media_bytes=MEDIA_BYTES,
    # The txnId makes a retry safe for a while; after that, lookup finds the events by it.
    idempotency=Idempotency.KEY | Idempotency.LOOKUP,
    idempotency_window=TXN_WINDOW,
    health_check=True,  # whoami and joined_rooms are reads
    limits=(Limit(rate=10, per=1.0),),  # Synapse's default rc_message: 0.2/s burst 10
)


def transaction_id(delivery_key: str, index: int) -> str:
    """The txnId of the ``index``-th event of a delivery: the same on every attempt."""
    return quote(f"unipost.{delivery_key}.{index}", safe="")


def _homeserver(value: str) -> str:
    value = value.strip().rstrip("/")
    return value if "://" in value else "https://" + value


def _check_homeserver(_instance: Any, _attribute: Any, value: str) -> None:
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError(f"homeserver must be a URL such as https://matrix.org, not {value!r}")


def _check_room(_instance: Any, _attribute: Any, value: str) -> None:
    # Room version 12 ids have no ":server" part (!<hash>); older ones do (!opaque:server).
    if not value.startswith("!") or len(value) < 2:
        raise ValueError(
            f"room_id must be a room id such as !AbCdEf:example.org (Room settings → Advanced), "
            f"not {value!r}"
        )


def formatted(text: str) -> str:
    """``org.matrix.custom.html`` of plain text: escaped, links linked, line breaks kept."""
    out: list[str] = []
    last = 0
    for start, end in find_urls(text):
        out.append(html.escape(text[last:start]))
        url = html.escape(text[start:end])
        out.append(f'<a href="{url}">{url}</a>')
        last = end
    out.append(html.escape(text[last:]))
    return "".join(out).replace("\n", "<br>")


@attrs.frozen(kw_only=True)
class MatrixChannel(Channel):
    """One Matrix account posting into one room it has joined."""

    name = "matrix"
    capabilities = CAPABILITIES

    homeserver: str = attrs.field(converter=_homeserver, validator=_check_homeserver)
    access_token: str = secret()
    room_id: str = attrs.field(validator=_check_room)
    msgtype: str = attrs.field(
        default="m.text", validator=attrs.validators.in_(("m.text", "m.notice"))
    )

    @property
    def failure_domain(self) -> str:
        """Each homeserver fails on its own."""
        return urlsplit(self.homeserver).hostname or self.homeserver

    # -- requests ------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}

    def room_path(self) -> str:
        return f"{self.homeserver}{CLIENT}/rooms/{quote(self.room_id, safe='')}"

    def text_content(self, prepared: Prepared) -> dict[str, Any]:
        return {
            "msgtype": self.msgtype,
            "body": prepared.text,
            "format": "org.matrix.custom.html",
            "formatted_body": formatted(prepared.text),
        }

    @staticmethod
    def image_content(item: Media, content_uri: str) -> dict[str, Any]:
        """``m.image``: the alt text is the body, as the spec's fallback for the image."""
        info: dict[str, Any] = {"mimetype": item.mime_type, "size": len(item.read())}
        if item.width and item.height:
            info["w"], info["h"] = item.width, item.height
        filename = item.filename or "image"
        return {
            "msgtype": "m.image",
            "body": item.alt or filename,
            "filename": filename,
            "url": content_uri,
            "info": info,
        }

    def send_event(self, content: Mapping[str, Any], txn_id: str) -> httpx.Request:
        return httpx.Request(
            "PUT",
            f"{self.room_path()}/send/m.room.message/{txn_id}",
            headers=self._headers(),
            json=dict(content),
        )

    def upload(self, item: Media) -> httpx.Request:
        """``POST /_matrix/media/v3/upload``: the raw bytes, typed, with a file name."""
        return httpx.Request(
            "POST",
            f"{self.homeserver}/_matrix/media/v3/upload",
            params={"filename": item.filename or "image"},
            headers=self._headers() | {"Content-Type": item.mime_type},
            content=item.read(),
        )

    # -- delivery --------------------------------------------------------

    def publish_flow(self, prepared: Prepared, ctx: Context) -> Flow[Receipt]:
        """The text event, then one ``m.image`` per image; each with its own txnId."""
        contents: list[Mapping[str, Any]] = []
        if prepared.text:
            contents.append(self.text_content(prepared))
        for item in prepared.post.media:
            response = yield self.upload(item)
            uri = str(require(json_object(response), "content_uri", what="the media upload"))
            contents.append(self.image_content(item, uri))
        event_ids: list[str] = []
        for index, content in enumerate(contents):
            response = yield self.send_event(content, transaction_id(ctx.delivery_key, index))
            event_ids.append(str(require(json_object(response), "event_id", what="the event")))
        first = event_ids[0]
        extra: dict[str, Any] = {"room_id": self.room_id}
        if len(event_ids) > 1:
            extra["events"] = event_ids
        return Receipt(platform_id=first, url=self.event_url(first), extra=extra)

    def lookup_flow(self, prepared: Prepared, ctx: Context) -> Flow[LookupResult]:
        """Find this delivery's events by their transaction ids, reading the room backwards.

        The homeserver shows the sending device ``unsigned.transaction_id`` on its own
        events. Reading stops once events are older than the first attempt (minus clock
        skew): whatever was not found by then was never sent.
        """
        count = (1 if prepared.text else 0) + len(prepared.post.media)
        wanted = {f"unipost.{ctx.delivery_key}.{index}": index for index in range(count)}
        found: dict[int, str] = {}
        since_ms = (ctx.first_attempt_at - CLOCK_SKEW) * 1000
        params = {"dir": "b", "limit": "100", "filter": '{"types":["m.room.message"]}'}
        for _ in range(LOOKUP_PAGES):
            response = yield httpx.Request(
                "GET", f"{self.room_path()}/messages", params=params, headers=self._headers()
            )
            page = json_object(response)
            oldest = None
            for item in page.get("chunk") or []:
                txn = (item.get("unsigned") or {}).get("transaction_id")
                if txn in wanted and isinstance(item.get("event_id"), str):
                    found[wanted[txn]] = item["event_id"]
                if isinstance(item.get("origin_server_ts"), int):
                    oldest = item["origin_server_ts"]
            if len(found) == count:
                break
            end = page.get("end")
            if not end or (oldest is not None and oldest < since_ms):
                break  # the start of the room, or older than the first attempt
            params["from"] = str(end)
        else:
            return Unknown(f"read {LOOKUP_PAGES} pages back without reaching the first attempt")
        if not found:
            return Absent()
        if len(found) < count:
            return Unknown(f"{len(found)} of {count} events of this post are in the room")
        events = [found[index] for index in range(count)]
        extra: dict[str, Any] = {"room_id": self.room_id}
        if count > 1:
            extra["events"] = events
        return Found(Receipt(platform_id=events[0], url=self.event_url(events[0]), extra=extra))

    def event_url(self, event_id: str) -> str:
        """A matrix.to link; ``via`` names the room's server when its id has one."""
        room, event = quote(self.room_id, safe=""), quote(event_id, safe="")
        _, _, server = self.room_id.partition(":")
        via = f"?via={quote(server, safe='')}" if server else ""
        return f"https://matrix.to/#/{room}/{event}{via}"

    def check_flow(self, ctx: Context) -> Flow[str]:
        """Who the token belongs to, and whether that account is in the room."""
        response = yield httpx.Request(
            "GET", f"{self.homeserver}{CLIENT}/account/whoami", headers=self._headers()
        )
        user = json_object(response).get("user_id")
        response = yield httpx.Request(
            "GET", f"{self.homeserver}{CLIENT}/joined_rooms", headers=self._headers()
        )
        rooms = json_object(response).get("joined_rooms") or []
        where = "a member of" if self.room_id in rooms else "NOT a member of (join it first)"
        return f"{user} on {self.failure_domain}, {where} {self.room_id}"

    # -- errors ------------------------------------------------------------

    def classify(self, response: httpx.Response, *, now: float) -> DeliveryError | None:
        return classify_response(response, now=now)
