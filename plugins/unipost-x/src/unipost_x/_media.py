"""X media upload (v2): one request for an image, INIT/APPEND/FINALIZE/STATUS for GIF and video.

Requests are built here and sent through the channel's authorised ``send``
(bearer or OAuth 1.0a signature), so this module knows nothing of tokens.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

import httpx

from unipost.plugin import Flow, Media, Permanent, Transient, json_object

__all__ = ["ALT_TEXT_LIMIT", "CHUNK_BYTES", "Uploader", "category"]

CHUNK_BYTES = 4 * 1024 * 1024  # an APPEND segment; X takes up to 5 MB
ALT_TEXT_LIMIT = 1000
_POLLS = 40

Build = Callable[[str | None], httpx.Request]


class Send(Protocol):
    """The channel's authorised send: ``build(auth)``, after ``pause`` seconds when given."""

    def __call__(self, build: Build, *, pause: float | None = None) -> Flow[httpx.Response]: ...


def category(media: Media) -> str:
    """``media_category`` for a post: tweet_image, tweet_gif or tweet_video."""
    if media.mime_type == "image/gif":
        return "tweet_gif"
    return "tweet_image" if media.is_image else "tweet_video"


def _data(response: httpx.Response) -> Mapping[str, Any]:
    data = json_object(response).get("data")
    if not isinstance(data, Mapping) or not data.get("id"):
        raise Permanent("X answered a media upload without data.id", status=response.status_code)
    return data


class Uploader:
    """Upload one file; ``send(build)`` sends ``build(auth)`` with the channel's credentials."""

    def __init__(self, base_url: str, send: Send, headers: Callable[[str | None], dict[str, str]]):
        self.base = base_url
        self.send = send
        self.headers = headers

    def _post(self, path: str, **kwargs: Any) -> Callable[[str | None], httpx.Request]:
        return lambda token: httpx.Request(
            "POST", self.base + path, headers=self.headers(token), **kwargs
        )

    def simple_request(self, media: Media) -> Callable[[str | None], httpx.Request]:
        """``POST /2/media/upload`` multipart: ``media`` and ``media_category``."""
        files = {"media": (media.filename or "upload", media.read(), media.mime_type)}
        return self._post("/2/media/upload", data={"media_category": category(media)}, files=files)

    def initialize_request(self, media: Media, size: int) -> Callable[[str | None], httpx.Request]:
        body = {
            "media_type": media.mime_type,
            "total_bytes": size,
            "media_category": category(media),
        }
        return self._post("/2/media/upload/initialize", json=body)

    def append_request(
        self, media_id: str, index: int, chunk: bytes
    ) -> Callable[[str | None], httpx.Request]:
        files = {"media": ("chunk", chunk, "application/octet-stream")}
        return self._post(
            f"/2/media/upload/{media_id}/append", data={"segment_index": str(index)}, files=files
        )

    def finalize_request(self, media_id: str) -> Callable[[str | None], httpx.Request]:
        return self._post(f"/2/media/upload/{media_id}/finalize")

    def status_request(self, media_id: str) -> Callable[[str | None], httpx.Request]:
        return lambda token: httpx.Request(
            "GET",
            self.base + "/2/media/upload",
            params={"media_id": media_id, "command": "STATUS"},
            headers=self.headers(token),
        )

    def alt_text_request(self, media_id: str, alt: str) -> Callable[[str | None], httpx.Request]:
        """``POST /2/media/metadata``: the description screen readers announce."""
        body = {"id": media_id, "metadata": {"alt_text": {"text": alt}}}
        return self._post("/2/media/metadata", json=body)

    def upload(self, media: Media) -> Flow[str]:
        """The media id, ready to attach (processing finished), with its alt text set."""
        if media.is_image and media.mime_type != "image/gif":
            response = yield from self.send(self.simple_request(media))
            data = _data(response)
        else:
            data = yield from self._chunked(media)
        media_id = str(data["id"])
        yield from self._processed(media_id, data)
        if media.alt:
            yield from self.send(self.alt_text_request(media_id, media.alt))
        return media_id

    def _chunked(self, media: Media) -> Flow[Mapping[str, Any]]:
        content = media.read()
        response = yield from self.send(self.initialize_request(media, len(content)))
        media_id = str(_data(response)["id"])
        for index, start in enumerate(range(0, len(content), CHUNK_BYTES)):
            yield from self.send(
                self.append_request(media_id, index, content[start : start + CHUNK_BYTES])
            )
        response = yield from self.send(self.finalize_request(media_id))
        return _data(response)

    def _processed(self, media_id: str, data: Mapping[str, Any]) -> Flow[None]:
        """Poll STATUS after ``check_after_secs`` until ``succeeded`` (video and GIF)."""
        for _ in range(_POLLS):
            info = data.get("processing_info")
            if not isinstance(info, Mapping) or info.get("state") == "succeeded":
                return
            if info.get("state") == "failed":
                error = info.get("error")
                detail = error.get("message") if isinstance(error, Mapping) else None
                raise Permanent(f"X could not process media {media_id}: {detail or 'failed'}")
            wait = float(info.get("check_after_secs") or 1)
            response = yield from self.send(self.status_request(media_id), pause=wait)
            data = _data(response)
        raise Transient(f"X is still processing media {media_id}; try again later")
