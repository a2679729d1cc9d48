"""The Micropub channel (W3C Recommendation): an h-entry per post, images via the media endpoint.

The entry is created as microformats2 JSON (§3.3.2), the only form that
carries alt text with a photo. Files go first to the media endpoint (§3.6),
named in the settings or discovered once with ``q=config`` (§3.7.1); an
endpoint without one gets the whole entry as ``multipart/form-data`` instead.
The new entry's URL is the ``Location`` header of the 201 or 202 answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import attrs
import httpx

from unipost.plugin import (
    WEB_MEDIA_TYPES,
    Ambiguous,
    Capabilities,
    Change,
    Channel,
    Context,
    DeliveryError,
    Flow,
    Media,
    Permanent,
    Post,
    Prepared,
    Receipt,
    json_object,
    secret,
)
from unipost_micropub._errors import micropub_error

__all__ = ["MicropubChannel"]

POST_STATUSES = ("published", "draft")

CAPABILITIES = Capabilities(
    text_limit=None,  # an h-entry's content has no protocol limit
    max_media=10,
    media_types=WEB_MEDIA_TYPES,
    title=True,  # the title becomes the entry's name
    hashtags=False,  # tags become category values
)


def _url(value: str) -> str:
    return value.strip()


def _check_url(_instance: Any, attribute: Any, value: str) -> None:
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError(
            f"{attribute.name} must be a URL such as https://blog.example/micropub, not {value!r}"
        )


@attrs.define
class _Discovered:
    """Mutable holder on a frozen channel: ``q=config`` is asked once, not per post."""

    fetched: bool = False
    media_endpoint: str | None = None


@attrs.frozen(kw_only=True)
class MicropubChannel(Channel):
    """One site's Micropub endpoint and an IndieAuth token with the ``create`` (and ``media``) scope."""

    name = "micropub"
    capabilities = CAPABILITIES

    endpoint: str = attrs.field(converter=_url, validator=_check_url)
    token: str = secret()
    media_endpoint: str | None = attrs.field(
        default=None, validator=attrs.validators.optional(_check_url)
    )
    syndicate_to: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    post_status: str | None = attrs.field(
        default=None, validator=attrs.validators.optional(attrs.validators.in_(POST_STATUSES))
    )
    _discovered: _Discovered = attrs.field(init=False, factory=_Discovered, repr=False, eq=False)

    @property
    def failure_domain(self) -> str:
        """The site's host: one personal site down says nothing of another."""
        return f"micropub:{urlsplit(self.endpoint).hostname}"

    # -- rendering -------------------------------------------------------

    def prepare(self, post: Post) -> Prepared:
        """The base adaptation; tags are listed as the categories they become."""
        prepared = super().prepare(post)
        if prepared.post.tags:
            change = Change(kind="categories", detail=", ".join(prepared.post.tags))
            return attrs.evolve(prepared, changes=(*prepared.changes, change))
        return prepared

    def properties(
        self, prepared: Prepared, files: list[tuple[Media, str]], *, alt: bool = True
    ) -> dict[str, Any]:
        """The h-entry's properties as microformats2 JSON (every value an array)."""
        post = prepared.post
        props: dict[str, Any] = {}
        if prepared.text:
            props["content"] = [prepared.text]
        if post.title:
            props["name"] = [post.title]
        if post.tags:
            props["category"] = list(post.tags)
        photos = [
            {"value": url, "alt": m.alt} if m.alt and alt else url for m, url in files if m.is_image
        ]
        videos = [url for m, url in files if m.is_video]
        if photos:
            props["photo"] = photos
        if videos:
            props["video"] = videos
        if self.syndicate_to:
            props["mp-syndicate-to"] = list(self.syndicate_to)
        if self.post_status:
            props["post-status"] = [self.post_status]
        return props

    # -- requests ------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}

    def config_request(self) -> httpx.Request:
        """``GET {endpoint}?q=config``, keeping any query the endpoint URL already has."""
        url = httpx.URL(self.endpoint).copy_merge_params({"q": "config"})
        return httpx.Request("GET", url, headers=self._headers())

    def create_request(self, properties: Mapping[str, Any]) -> httpx.Request:
        body = {"type": ["h-entry"], "properties": dict(properties)}
        return httpx.Request("POST", self.endpoint, headers=self._headers(), json=body)

    def multipart_create_request(self, prepared: Prepared) -> httpx.Request:
        """§3.3.1 with files: the entry as form fields, each file a ``photo``/``video`` part."""
        remote = [(m, str(m.url)) for m in prepared.post.media if _remote(m)]
        data: dict[str, list[str]] = {"h": ["entry"]}
        for name, values in self.properties(prepared, remote, alt=False).items():
            data[f"{name}[]" if len(values) > 1 else name] = [str(v) for v in values]
        media = [m for m in prepared.post.media if not _remote(m)]
        files = []
        for kind in ("photo", "video"):
            items = [m for m in media if (m.is_image if kind == "photo" else m.is_video)]
            field = f"{kind}[]" if len(items) > 1 else kind
            for index, item in enumerate(items):
                name = item.filename or f"{kind}{index}"
                files.append((field, (name, item.read(), item.mime_type)))
        return httpx.Request("POST", self.endpoint, headers=self._headers(), data=data, files=files)

    def media_request(self, endpoint: str, media: Media) -> httpx.Request:
        files = {"file": (media.filename or "upload", media.read(), media.mime_type)}
        return httpx.Request("POST", endpoint, headers=self._headers(), files=files)

    # -- delivery --------------------------------------------------------

    def publish_flow(self, prepared: Prepared, ctx: Context) -> Flow[Receipt]:
        """Upload files to the media endpoint (if any), create the entry, read ``Location``.

        Media given by URL (``Media.from_url``) is referenced as it is: Micropub's
        ``photo`` takes a URL, so nothing is uploaded for it.
        """
        files: list[tuple[Media, str]] = []
        local = [m for m in prepared.post.media if not _remote(m)]
        endpoint = (yield from self._media_endpoint_flow()) if local else None
        if local and endpoint is None:
            response = yield self.multipart_create_request(prepared)
            return self._receipt(response)
        for item in prepared.post.media:
            if _remote(item):
                files.append((item, str(item.url)))
            else:
                assert endpoint is not None
                url = yield from self._upload_flow(endpoint, item)
                files.append((item, url))
        try:
            response = yield self.create_request(self.properties(prepared, files))
        except Permanent as error:
            if error.status != 400 or not any(m.alt and m.is_image for m, _url in files):
                raise
            # Some endpoints (django-indieweb 0.6) take only URL strings in photo: a 400
            # was not applied, so the entry is sent again without the alt text.
            response = yield self.create_request(self.properties(prepared, files, alt=False))
            receipt = self._receipt(response)
            return attrs.evolve(receipt, extra={**receipt.extra, "alt_text_dropped": True})
        return self._receipt(response)

    def _receipt(self, response: httpx.Response) -> Receipt:
        location = response.headers.get("location")
        if not location:
            # The entry may exist, but nothing says where: hold it, never resend blindly.
            raise Ambiguous(
                f"the Micropub endpoint answered {response.status_code} without a Location "
                f"header; it did not say where the entry is (W3C Micropub §3.3)",
                status=response.status_code,
            )
        url = str(response.url.join(location))
        return Receipt(
            platform_id=url,
            url=url,
            extra={"accepted": True} if response.status_code == 202 else {},
        )

    def _media_endpoint_flow(self) -> Flow[str | None]:
        if self.media_endpoint:
            return self.media_endpoint
        cache = self._discovered
        if not cache.fetched:
            response = yield self.config_request()
            found = json_object(response).get("media-endpoint")
            cache.media_endpoint = found if isinstance(found, str) and found else None
            cache.fetched = True
        return cache.media_endpoint

    def _upload_flow(self, endpoint: str, media: Media) -> Flow[str]:
        response = yield self.media_request(endpoint, media)
        location = response.headers.get("location")
        if not location:
            raise Permanent(
                "the media endpoint answered without a Location header (W3C Micropub §3.6.2)",
                status=response.status_code,
            )
        return str(response.url.join(location))

    def check_flow(self, ctx: Context) -> Flow[str]:
        """The endpoint accepts the token; what it says about media and syndication."""
        response = yield self.config_request()
        config = json_object(response)
        media = config.get("media-endpoint") or "none"
        targets = [t.get("uid") for t in config.get("syndicate-to") or [] if isinstance(t, dict)]
        host = urlsplit(self.endpoint).hostname
        return f"Micropub at {host}: media endpoint {media}; syndicate-to {targets or 'none'}"

    # -- errors ------------------------------------------------------------

    def classify(self, response: httpx.Response, *, now: float) -> DeliveryError | None:
        """``error`` (JSON or plain text) by status; ``insufficient_scope`` is an auth failure."""
        return micropub_error(response, now=now)


def _remote(media: Media) -> bool:
    """Given by URL only: there are no bytes to upload."""
    return media.data is None and media.path is None
