"""The TikTok channel: Content Posting API direct posts of photos and video.

TikTok requires the creator-info query before every direct post (the privacy
options and caps it returns are the creator's own), publishes asynchronously
(an init returns a ``publish_id``; the post exists once ``status/fetch`` says
``PUBLISH_COMPLETE``) and has no idempotency: a repeated init posts twice. So
after an accepted init this flow only polls, and an unconfirmed post is
reported as ambiguous, never re-sent.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import attrs
import httpx
from unipost_oauth import OAuth2App, TokenHolder, hook_store, oauth_error

from unipost.plugin import (
    Ambiguous,
    AuthFailed,
    Capabilities,
    Change,
    Channel,
    ContentRejected,
    Context,
    CredentialStatus,
    DeliveryError,
    Flow,
    Forbidden,
    Idempotency,
    Limit,
    Media,
    Overflow,
    Post,
    Prepared,
    RateLimited,
    Receipt,
    TextUnit,
    Transient,
    count,
    error_for_status,
    json_object,
    secret,
)
from unipost_tiktok._errors import classify_tiktok, fail_reason_error

__all__ = ["TikTokChannel"]

API = "https://open.tiktokapis.com"
TOKEN_PATH = "/v2/oauth/token/"  # noqa: S105 - a URL path, not a secret
PRIVACY = ("PUBLIC_TO_EVERYONE", "MUTUAL_FOLLOW_FRIENDS", "FOLLOWER_OF_CREATOR", "SELF_ONLY")
PHOTO_TYPES = frozenset({"image/jpeg", "image/webp"})
VIDEO_TYPES = frozenset({"video/mp4", "video/quicktime", "video/webm"})
PHOTO_TITLE_LIMIT = 90
PHOTO_BYTES = 20 * 1024 * 1024
VIDEO_BYTES = 4 * 1024 * 1024 * 1024
MIN_CHUNK = 5 * 1024 * 1024
CHUNK = 10 * 1024 * 1024
#: Waits between status checks; TikTok allows 30 status calls a minute per token.
POLL_DELAYS = (3.0, 3.0, 5.0, 5.0, 5.0, 10.0, 10.0, 15.0, 15.0, 30.0, 30.0, 30.0, 60.0, 60.0)
_WORKING = ("PROCESSING_UPLOAD", "PROCESSING_DOWNLOAD")

CAPABILITIES = Capabilities(
    text_limit=2200,
    text_unit=TextUnit.UTF16_UNITS,
    overflow=Overflow.TRUNCATE,
    max_media=35,
    media_types=PHOTO_TYPES | VIDEO_TYPES,
    max_media_bytes=VIDEO_BYTES,
    title=True,  # a photo post's own title; a video's caption takes it (see prepare)
    hashtags=True,
    idempotency=Idempotency.NONE,
    limits=(
        Limit(rate=6, per=60.0, name="post-init"),
        Limit(rate=20, per=60.0, name="creator-info"),
    ),
)


@attrs.frozen(kw_only=True)
class TikTokChannel(Channel):
    """One TikTok creator (``video.publish`` scope on an app with Direct Post)."""

    name = "tiktok"
    capabilities = CAPABILITIES

    access_token: str = secret()
    refresh_token: str | None = secret(default=None)
    client_key: str | None = None
    client_secret: str | None = secret(default=None)
    access_token_expires_at: float | None = None
    #: When the refresh token lapses (Unix time), as the token endpoint's
    #: ``refresh_token_expires_in`` said; ``unipost check`` warns before it.
    refresh_token_expires_at: float | None = None
    privacy_level: str = attrs.field(
        default="PUBLIC_TO_EVERYONE", validator=attrs.validators.in_(PRIVACY)
    )
    disable_comment: bool = False
    disable_duet: bool = False
    disable_stitch: bool = False
    brand_organic_toggle: bool = False  # "promoting my own business"
    brand_content_toggle: bool = False  # a paid partnership
    auto_add_music: bool = True
    base_url: str = API
    _tokens: TokenHolder = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        app = OAuth2App(
            token_url=self.base_url + TOKEN_PATH,
            client_id=self.client_key,
            client_secret=self.client_secret,
            client_id_param="client_key",
        )
        tokens = TokenHolder(
            access_token=self.access_token,
            refresh_token=self.refresh_token,
            expires_at=self.access_token_expires_at,
            refresh_expires_at=self.refresh_token_expires_at,
            app=app,
            store=hook_store(self.name, self.id),
        )
        object.__setattr__(self, "_tokens", tokens)

    @property
    def tokens(self) -> TokenHolder:
        return self._tokens

    # -- rendering -------------------------------------------------------

    def prepare(self, post: Post) -> Prepared:
        """Photos (1-35, JPEG/WebP by public URL) or one video; TikTok has no text-only posts."""
        source = post.for_channel(self.id)
        if source.title and any(m.is_video for m in source.media):
            # A video has only its caption: the title opens it.
            text = f"{source.title}\n\n{source.text or ''}".strip()
            post = attrs.evolve(source, text=text, title=None, variants={})
        prepared = super().prepare(post)
        media = prepared.post.media
        where = f"{self.id}.media"
        if not media:
            raise ContentRejected(where, "TikTok posts need photos or a video", "add media")
        videos = [m for m in media if m.is_video]
        if videos and len(media) > 1:
            raise ContentRejected(where, "a TikTok post is one video or photos", "split the post")
        for index, item in enumerate(media):
            if item.is_image and item.url is None:
                raise ContentRejected(
                    f"{where}[{index}]",
                    "TikTok pulls photos from a public URL on a domain verified for the app",
                    "host the photo and use Media.from_url()",
                )
            if item.is_image and item.size and item.size > PHOTO_BYTES:
                raise ContentRejected(
                    f"{where}[{index}]", f"over {PHOTO_BYTES} bytes", "compress the photo"
                )
        title = prepared.post.title
        if not videos and title and count(title, TextUnit.UTF16_UNITS) > 90:
            raise ContentRejected(
                f"{self.id}.title",
                f"photo titles take {PHOTO_TITLE_LIMIT} characters",
                "shorten it",
            )
        kind = "video" if videos else "photo"
        changes = (
            *prepared.changes,
            Change(kind="tiktok", detail=f"a {kind} post, {self.privacy_level}"),
        )
        return attrs.evolve(prepared, changes=changes, payload={"kind": kind})

    # -- requests ----------------------------------------------------------

    def _post(
        self, path: str, body: Mapping[str, Any], *, safe: bool = False
    ) -> Callable[[str], httpx.Request]:
        """A POST; ``safe`` ones only read (a timeout on them changed nothing)."""

        def build(token: str) -> httpx.Request:
            request = httpx.Request(
                "POST",
                self.base_url + path,
                headers={
                    "Authorization": f"Bearer {token}",
                    "Content-Type": "application/json; charset=UTF-8",
                },
                json=dict(body),
            )
            if safe:
                request.extensions["unipost.safe"] = True
            return request

        return build

    def creator_info_request(self) -> Callable[[str], httpx.Request]:
        return self._post("/v2/post/publish/creator_info/query/", {}, safe=True)

    def photo_body(self, prepared: Prepared, privacy: str) -> dict[str, Any]:
        """``POST /v2/post/publish/content/init/`` for a photo post."""
        post = prepared.post
        info: dict[str, Any] = {
            "description": prepared.text,
            "privacy_level": privacy,
            "disable_comment": self.disable_comment,
            "auto_add_music": self.auto_add_music,
            "brand_content_toggle": self.brand_content_toggle,
            "brand_organic_toggle": self.brand_organic_toggle,
        }
        if post.title:
            info["title"] = post.title
        return {
            "post_info": info,
            "source_info": {
                "source": "PULL_FROM_URL",
                "photo_cover_index": 0,
                "photo_images": [m.url for m in post.media],
            },
            "post_mode": "DIRECT_POST",
            "media_type": "PHOTO",
        }

    def video_body(self, prepared: Prepared, privacy: str, video: Media) -> dict[str, Any]:
        """``POST /v2/post/publish/video/init/``: the caption, and the upload plan or URL."""
        info = {
            "title": prepared.text,
            "privacy_level": privacy,
            "disable_duet": self.disable_duet,
            "disable_stitch": self.disable_stitch,
            "disable_comment": self.disable_comment,
            "brand_content_toggle": self.brand_content_toggle,
            "brand_organic_toggle": self.brand_organic_toggle,
        }
        source: dict[str, Any]
        if video.url is not None and video.data is None and video.path is None:
            source = {"source": "PULL_FROM_URL", "video_url": video.url}
        else:
            size = len(video.read())
            chunk = size if size < MIN_CHUNK else CHUNK
            source = {
                "source": "FILE_UPLOAD",
                "video_size": size,
                "chunk_size": chunk,
                "total_chunk_count": max(1, size // chunk),
            }
        return {"post_info": info, "source_info": source}

    def chunk_requests(
        self, upload_url: str, video: Media, plan: Mapping[str, Any]
    ) -> list[httpx.Request]:
        """The PUTs of a FILE_UPLOAD; the last chunk takes the remainder."""
        content = video.read()
        size, chunk, count = len(content), int(plan["chunk_size"]), int(plan["total_chunk_count"])
        requests = []
        for index in range(count):
            start = index * chunk
            end = size if index == count - 1 else start + chunk
            requests.append(
                httpx.Request(
                    "PUT",
                    upload_url,
                    headers={
                        "Content-Type": video.mime_type,
                        "Content-Range": f"bytes {start}-{end - 1}/{size}",
                    },
                    content=content[start:end],
                )
            )
        return requests

    def status_request(self, publish_id: str) -> Callable[[str], httpx.Request]:
        return self._post("/v2/post/publish/status/fetch/", {"publish_id": publish_id}, safe=True)

    # -- delivery --------------------------------------------------------

    def _creator(self, ctx: Context) -> Flow[Mapping[str, Any]]:
        response = yield from self._tokens.send(ctx.now, self.creator_info_request())
        data = json_object(response).get("data")
        return data if isinstance(data, Mapping) else {}

    def _privacy(self, creator: Mapping[str, Any]) -> str:
        options = creator.get("privacy_level_options") or []
        if self.privacy_level not in options:
            raise Forbidden(
                f"privacy_level {self.privacy_level} is not offered by this creator now "
                f"(options: {', '.join(map(str, options)) or 'none'}); set privacy_level in "
                f"[channels.{self.id}] to one of them",
                platform_code="privacy_level_option_mismatch",
            )
        return self.privacy_level

    def publish_flow(self, prepared: Prepared, ctx: Context) -> Flow[Receipt]:
        """creator_info → init (→ chunked upload) → poll status until published."""
        creator = yield from self._creator(ctx)
        privacy = self._privacy(creator)
        media = prepared.post.media
        if prepared.payload.get("kind") == "video":
            body = self.video_body(prepared, privacy, media[0])
            path = "/v2/post/publish/video/init/"
        else:
            body = self.photo_body(prepared, privacy)
            path = "/v2/post/publish/content/init/"
        response = yield from self._tokens.send(ctx.now, self._post(path, body))
        data = json_object(response).get("data") or {}
        publish_id = str(data.get("publish_id") or "")
        if not publish_id:
            raise Ambiguous("TikTok accepted the post without a publish_id", may_have_applied=True)
        if body["source_info"]["source"] == "FILE_UPLOAD":
            # An upload that fails leaves an unfinished task and no post: a retry is safe.
            plan = body["source_info"]
            # A loop, not ``yield from``: each PUT is answered with its response.
            for request in self.chunk_requests(str(data["upload_url"]), media[0], plan):  # noqa: UP028
                yield request
        kind = str(prepared.payload.get("kind"))
        return (yield from self._poll(publish_id, kind, creator, ctx))

    def _poll(
        self, publish_id: str, kind: str, creator: Mapping[str, Any], ctx: Context
    ) -> Flow[Receipt]:
        """Status every few seconds; after an accepted init only polling is safe, never a resend."""
        username = str(creator.get("creator_username") or "")
        for delay in POLL_DELAYS:
            if ctx.remaining() < delay:
                break
            try:
                response = yield from self._tokens.send(
                    ctx.now, self.status_request(publish_id), pause=delay
                )
            except (Transient, RateLimited):
                continue  # a missed look; the next one may answer
            data = json_object(response).get("data") or {}
            status = data.get("status")
            if status == "PUBLISH_COMPLETE":
                return self._receipt(publish_id, kind, username, data)
            if status == "FAILED":
                raise fail_reason_error(str(data.get("fail_reason") or "unknown"), publish_id)
            if status not in _WORKING:
                break
        raise Ambiguous(
            f"TikTok has not confirmed publish_id {publish_id} yet (it can take hours); "
            "look in the TikTok app before publishing again",
            may_have_applied=True,
            detail={"publish_id": publish_id},
        )

    def _receipt(
        self, publish_id: str, kind: str, username: str, data: Mapping[str, Any]
    ) -> Receipt:
        ids = data.get("publicaly_available_post_id") or []  # TikTok's spelling, a list
        ids = ids if isinstance(ids, list) else [ids]
        profile = f"https://www.tiktok.com/@{username}" if username else "https://www.tiktok.com/"
        if ids:
            post_id = str(ids[0])
            return Receipt(
                platform_id=post_id,
                url=f"{profile}/{kind}/{post_id}",
                extra={"publish_id": publish_id},
            )
        # Private posts, and public ones still in moderation, have no id yet.
        return Receipt(
            platform_id=publish_id,
            url=profile,
            extra={"publish_id": publish_id, "moderation": "pending"},
        )

    def check_flow(self, ctx: Context) -> Flow[CredentialStatus]:
        """The creator-info query: who, which privacy options, how long a video may be."""
        creator = yield from self._creator(ctx)
        options = ", ".join(map(str, creator.get("privacy_level_options") or []))
        summary = (
            f"@{creator.get('creator_username')}: privacy options {options or 'none'}; videos up to "
            f"{creator.get('max_video_post_duration_sec', '?')} s"
        )
        if self.privacy_level not in (creator.get("privacy_level_options") or []):
            summary += f"; privacy_level {self.privacy_level} is not among them"
        return self._tokens.status(summary)

    # -- errors ------------------------------------------------------------

    def classify(self, response: httpx.Response, *, now: float) -> DeliveryError | None:
        url = response.request.url
        if url.path == TOKEN_PATH:
            if response.status_code < 400:
                try:
                    body = response.json()
                except ValueError:
                    body = {}
                if isinstance(body, Mapping) and body.get("error") and not body.get("access_token"):
                    detail = body.get("error_description") or body["error"]
                    return AuthFailed(
                        f"the token endpoint refused the refresh ({detail}); authorize again",
                        platform_code=str(body["error"]),
                    )
            return oauth_error(response, now=now)
        if url.host != httpx.URL(self.base_url).host:
            return error_for_status(response, now=now)  # the upload host answers by status only
        return classify_tiktok(response, now=now)
