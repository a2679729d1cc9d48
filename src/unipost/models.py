"""What a business publishes: a :class:`Post` and its :class:`Media`.

Value objects (frozen attrs, keyword-only) validated at construction, so a
bad post fails in the caller's code with the field named, before any record
is written or any request is sent.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import mimetypes
import re
import struct
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from unipost.errors import InvalidMedia, InvalidPost

__all__ = ["Media", "Post", "Variant", "sniff_mime_type"]

DEFAULT_TTL = dt.timedelta(hours=24)

# Magic numbers of the media types platforms accept. The content decides the
# type, never the file name: a renamed PDF is not an image.
_SIGNATURES: tuple[tuple[int, bytes, str], ...] = (
    (0, b"\xff\xd8\xff", "image/jpeg"),
    (0, b"\x89PNG\r\n\x1a\n", "image/png"),
    (0, b"GIF87a", "image/gif"),
    (0, b"GIF89a", "image/gif"),
    (0, b"BM", "image/bmp"),
    (0, b"%PDF-", "application/pdf"),
)
_FTYP_BRANDS = {
    b"heic": "image/heic",
    b"heix": "image/heic",
    b"avif": "image/avif",
    b"qt  ": "video/quicktime",
}


def sniff_mime_type(head: bytes) -> str | None:
    """The media type of a file from its first bytes, or None when unknown."""
    for offset, magic, mime in _SIGNATURES:
        if head[offset : offset + len(magic)] == magic:
            return mime
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[4:8] == b"ftyp":
        return _FTYP_BRANDS.get(head[8:12], "video/mp4")
    return None


def _image_size(head: bytes, mime: str) -> tuple[int, int] | None:
    """Width and height from an image header, for aspect ratios (no decoding)."""
    try:
        if mime == "image/png" and head[12:16] == b"IHDR":
            width, height = struct.unpack(">II", head[16:24])
            return int(width), int(height)
        if mime == "image/gif":
            width, height = struct.unpack("<HH", head[6:10])
            return int(width), int(height)
        if mime == "image/jpeg":
            index = 2
            while index + 9 < len(head):
                if head[index] != 0xFF:
                    index += 1
                    continue
                marker = head[index + 1]
                length = struct.unpack(">H", head[index + 2 : index + 4])[0]
                if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                    height, width = struct.unpack(">HH", head[index + 5 : index + 9])
                    return int(width), int(height)
                index += 2 + length
        if mime == "image/webp" and head[12:16] == b"VP8X":
            width = int.from_bytes(head[24:27], "little") + 1
            height = int.from_bytes(head[27:30], "little") + 1
            return width, height
    except struct.error:
        return None
    return None


# BCP 47 in the shape platforms accept: a 2-3 letter language, then subtags ("de-AT", "zh-Hant").
_LANGUAGE_TAG = re.compile(r"[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*")

_HEAD = 64 * 1024  # enough for JPEG headers with EXIF before the frame marker


@attrs.frozen(kw_only=True)
class Media:
    """One image or video: from a local path, from bytes, or from a public URL.

    Use the named constructors :meth:`from_path`, :meth:`from_bytes`,
    :meth:`from_url`; they sniff the type from the content and check it.
    """

    mime_type: str
    alt: str | None = None
    path: Path | None = None
    url: str | None = None
    data: bytes | None = attrs.field(default=None, repr=False)
    size: int | None = None
    filename: str | None = None
    width: int | None = None
    height: int | None = None
    focus: tuple[float, float] | None = None

    @classmethod
    def from_path(
        cls, path: str | Path, *, alt: str | None = None, focus: tuple[float, float] | None = None
    ) -> Media:
        """Media from a local file; its type is read from the file's first bytes."""
        file = Path(path).expanduser()
        if not file.is_file():
            raise InvalidMedia(
                "media", f"file not found: {file}", "check the path, or use Media.from_url()"
            )
        try:
            with file.open("rb") as handle:
                head = handle.read(_HEAD)
        except OSError as exc:
            raise InvalidMedia(
                "media", f"cannot read {file}: {exc.strerror}", "fix the file's permissions"
            ) from exc
        mime = cls._check_type(head, str(file))
        size = file.stat().st_size
        width, height = _image_size(head, mime) or (None, None)
        return cls(
            mime_type=mime,
            alt=alt,
            path=file.resolve(),
            size=size,
            filename=file.name,
            width=width,
            height=height,
            focus=focus,
        )

    @classmethod
    def from_bytes(
        cls,
        data: bytes,
        *,
        filename: str = "upload",
        alt: str | None = None,
        focus: tuple[float, float] | None = None,
    ) -> Media:
        """Media from bytes in memory (an upload your application received)."""
        mime = cls._check_type(data[:_HEAD], filename)
        width, height = _image_size(data[:_HEAD], mime) or (None, None)
        return cls(
            mime_type=mime,
            alt=alt,
            data=data,
            size=len(data),
            filename=filename,
            width=width,
            height=height,
            focus=focus,
        )

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        alt: str | None = None,
        mime_type: str | None = None,
        size: int | None = None,
    ) -> Media:
        """Media already hosted at a public URL (Instagram and Threads fetch from one)."""
        if not url.startswith(("https://", "http://")):
            raise InvalidMedia("media", f"not an http(s) URL: {url!r}", "give a full https:// URL")
        guessed = mime_type or mimetypes.guess_type(url.split("?", 1)[0])[0]
        if guessed is None or not guessed.startswith(("image/", "video/")):
            raise InvalidMedia(
                "media",
                f"cannot tell the type of {url}",
                "pass mime_type='image/jpeg' (or the real type)",
            )
        name = url.rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0] or "media"
        return cls(mime_type=guessed, alt=alt, url=url, size=size, filename=name)

    @staticmethod
    def _check_type(head: bytes, where: str) -> str:
        mime = sniff_mime_type(head)
        if mime is None or not mime.startswith(("image/", "video/")):
            found = mime or "unknown content"
            raise InvalidMedia(
                "media",
                f"{where} is not an image or video ({found})",
                "attach a JPEG, PNG, GIF, WebP or MP4 file",
            )
        return mime

    @property
    def is_image(self) -> bool:
        return self.mime_type.startswith("image/")

    @property
    def is_video(self) -> bool:
        return self.mime_type.startswith("video/")

    def read(self) -> bytes:
        """The file's bytes (read from disk each time; media can be large)."""
        if self.data is not None:
            return self.data
        if self.path is not None:
            try:
                return self.path.read_bytes()
            except OSError as exc:
                raise InvalidMedia("media", f"cannot read {self.path}", "restore the file") from exc
        raise InvalidMedia(
            "media", f"{self.url} is remote", "channels that need bytes must upload from a file"
        )

    def digest(self) -> str:
        """A stable identity for hashing a post: the URL, or a hash of the bytes."""
        if self.url is not None and self.data is None and self.path is None:
            return "url:" + self.url
        return "sha256:" + hashlib.sha256(self.read()).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe snapshot (bytes are not embedded; the outbox keeps paths and URLs)."""
        return {
            "mime_type": self.mime_type,
            "alt": self.alt,
            "path": None if self.path is None else str(self.path),
            "url": self.url,
            "size": self.size,
            "filename": self.filename,
            "width": self.width,
            "height": self.height,
            "focus": None if self.focus is None else list(self.focus),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Media:
        focus = data.get("focus")
        return cls(
            mime_type=data["mime_type"],
            alt=data.get("alt"),
            path=None if data.get("path") is None else Path(data["path"]),
            url=data.get("url"),
            size=data.get("size"),
            filename=data.get("filename"),
            width=data.get("width"),
            height=data.get("height"),
            focus=None if focus is None else (focus[0], focus[1]),
        )


def _media_tuple(value: Any) -> tuple[Media, ...]:
    if isinstance(value, Media):
        return (value,)
    return tuple(value or ())


def _check_media(_instance: Any, _attribute: Any, value: tuple[Media, ...]) -> None:
    for index, item in enumerate(value):
        if not isinstance(item, Media):
            raise InvalidPost(
                f"media[{index}]",
                f"expected unipost.Media, got {type(item).__name__}",
                "wrap files with unipost.Media.from_path(path, alt=...)",
            )


def _check_link(_instance: Any, _attribute: Any, value: str | None) -> None:
    if value is not None and not value.startswith(("https://", "http://")):
        raise InvalidPost(
            "link",
            f"not an http(s) URL: {value!r}",
            "give a full URL such as https://example.com/offer",
        )


def _tags(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    return tuple(str(tag).lstrip("#").strip() for tag in value or ())


def _check_tags(_instance: Any, _attribute: Any, value: tuple[str, ...]) -> None:
    for tag in value:
        if not tag or any(c.isspace() for c in tag):
            raise InvalidPost(
                "tags",
                f"{tag!r} is not a single word",
                "use tags like 'pastries' (no spaces, no '#')",
            )


def _check_when(_instance: Any, attribute: Any, value: dt.datetime | None) -> None:
    if value is not None and value.tzinfo is None:
        raise InvalidPost(
            attribute.name,
            "datetime has no time zone",
            "use datetime.now(timezone.utc) or add tzinfo",
        )


def _text_or_none(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).replace("\r\n", "\n").strip()
    return text or None


@attrs.frozen(kw_only=True)
class Variant:
    """Per-channel overrides: a shorter text for X, a different link for email..."""

    text: str | None = attrs.field(default=None, converter=_text_or_none)
    title: str | None = attrs.field(default=None, converter=_text_or_none)
    link: str | None = attrs.field(default=None, validator=_check_link)
    media: tuple[Media, ...] | None = None
    tags: tuple[str, ...] | None = None


def _variants(value: Any) -> Mapping[str, Variant]:
    result: dict[str, Variant] = {}
    for name, variant in dict(value or {}).items():
        if isinstance(variant, Mapping):
            try:
                variant = Variant(**variant)
            except TypeError as exc:
                raise InvalidPost(
                    f"variants[{name!r}]", str(exc), "use keys text, title, link, media, tags"
                ) from exc
        if not isinstance(variant, Variant):
            raise InvalidPost(
                f"variants[{name!r}]",
                "expected a Variant or a dict",
                "use unipost.Variant(text=...)",
            )
        result[str(name)] = variant
    return result


@attrs.frozen(kw_only=True)
class Post:
    """One piece of content to publish everywhere.

    ``id`` and ``revision`` identify it: publishing the same id and revision
    again returns the first result instead of posting twice. Pass your own
    id (an order or campaign id) so that a retried web request is safe too.
    """

    text: str | None = attrs.field(default=None, converter=_text_or_none)
    title: str | None = attrs.field(default=None, converter=_text_or_none)
    link: str | None = attrs.field(default=None, validator=_check_link)
    media: tuple[Media, ...] = attrs.field(
        default=(), converter=_media_tuple, validator=_check_media
    )
    tags: tuple[str, ...] = attrs.field(default=(), converter=_tags, validator=_check_tags)
    language: str | None = None
    variants: Mapping[str, Variant] = attrs.field(factory=dict, converter=_variants)
    id: str = attrs.field(factory=lambda: uuid.uuid4().hex)
    revision: int = 1
    publish_at: dt.datetime | None = attrs.field(default=None, validator=_check_when)
    ttl: dt.timedelta = DEFAULT_TTL
    metadata: Mapping[str, str] = attrs.field(factory=dict)

    def __attrs_post_init__(self) -> None:
        if self.text is None and self.link is None and not self.media and self.title is None:
            raise InvalidPost("post", "it is empty", "give text=, link= or media=")
        if not self.id or len(self.id) > 200:
            raise InvalidPost(
                "id",
                "must be 1 to 200 characters",
                "use a short stable id such as 'offer-2026-12-01'",
            )
        if self.revision < 1:
            raise InvalidPost(
                "revision", f"{self.revision} is below 1", "start at 1 and add 1 per edit"
            )
        if self.ttl <= dt.timedelta(0):
            raise InvalidPost("ttl", "must be positive", "use e.g. timedelta(hours=24)")
        if self.language is not None and not _LANGUAGE_TAG.fullmatch(self.language):
            raise InvalidPost(
                "language",
                f"{self.language!r} is not a language tag",
                "use a BCP 47 tag such as 'en' or 'de-AT' (a hyphen, not '_')",
            )

    def for_channel(self, channel_id: str) -> Post:
        """This post with the variant for ``channel_id`` (if any) applied."""
        variant = self.variants.get(channel_id)
        if variant is None:
            return self
        changes = {
            name: getattr(variant, name)
            for name in ("text", "title", "link", "media", "tags")
            if getattr(variant, name) is not None
        }
        return attrs.evolve(self, **changes)

    def content_hash(self) -> str:
        """A hash of everything that is published (not of id, timing or metadata)."""
        body = self._content()
        body["variants"] = {
            name: {k: v for k, v in attrs.asdict(variant, recurse=False).items() if k != "media"}
            | {"media": [[m.digest(), m.alt] for m in variant.media or ()]}
            for name, variant in sorted(self.variants.items())
        }
        encoded = json.dumps(body, sort_keys=True, default=str).encode()
        return hashlib.sha256(encoded).hexdigest()

    def _content(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "title": self.title,
            "link": self.link,
            "media": [[m.digest(), m.alt] for m in self.media],  # alt text is published too
            "tags": list(self.tags),
            "language": self.language,
        }

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe snapshot, stored in the outbox so a worker can deliver later."""
        return {
            "text": self.text,
            "title": self.title,
            "link": self.link,
            "media": [m.to_dict() for m in self.media],
            "tags": list(self.tags),
            "language": self.language,
            "variants": {
                name: {
                    "text": v.text,
                    "title": v.title,
                    "link": v.link,
                    "media": None if v.media is None else [m.to_dict() for m in v.media],
                    "tags": None if v.tags is None else list(v.tags),
                }
                for name, v in self.variants.items()
            },
            "id": self.id,
            "revision": self.revision,
            "publish_at": None if self.publish_at is None else self.publish_at.isoformat(),
            "ttl": self.ttl.total_seconds(),
            "metadata": dict(self.metadata),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Post:
        """Rebuild a post from :meth:`to_dict` output."""
        variants = {
            name: Variant(
                text=v.get("text"),
                title=v.get("title"),
                link=v.get("link"),
                media=None
                if v.get("media") is None
                else tuple(Media.from_dict(m) for m in v["media"]),
                tags=None if v.get("tags") is None else tuple(v["tags"]),
            )
            for name, v in (data.get("variants") or {}).items()
        }
        publish_at = data.get("publish_at")
        return cls(
            text=data.get("text"),
            title=data.get("title"),
            link=data.get("link"),
            media=tuple(Media.from_dict(m) for m in data.get("media") or ()),
            tags=tuple(data.get("tags") or ()),
            language=data.get("language"),
            variants=variants,
            id=data["id"],
            revision=data.get("revision", 1),
            publish_at=None if publish_at is None else dt.datetime.fromisoformat(publish_at),
            ttl=dt.timedelta(seconds=data.get("ttl", DEFAULT_TTL.total_seconds())),
            metadata=dict(data.get("metadata") or {}),
        )
