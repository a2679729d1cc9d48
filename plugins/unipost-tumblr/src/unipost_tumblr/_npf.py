"""Post content as Neue Post Format blocks (tumblr/docs ``npf-spec.md``).

A heading block for the title, a text block per paragraph (a paragraph over
4,096 code points is cut at words into several), link formatting whose
offsets count code points (Python string indices are code points), an image
block per file, and a link block for the post's link, which Tumblr shows as a
card.
"""

from __future__ import annotations

from typing import Any

from unipost.plugin import (
    Media,
    find_urls,
)

__all__ = ["TEXT_BLOCK_LIMIT", "blocks", "image_block", "is_remote", "media_identifier"]

TEXT_BLOCK_LIMIT = 4096  # code points per text block


def _chunks(paragraph: str) -> list[str]:
    """A paragraph in pieces of at most 4,096 code points, cut at a space when there is one."""
    pieces = []
    while len(paragraph) > TEXT_BLOCK_LIMIT:
        cut = paragraph.rfind(" ", 0, TEXT_BLOCK_LIMIT + 1)
        if cut <= TEXT_BLOCK_LIMIT // 2:
            cut = TEXT_BLOCK_LIMIT
        pieces.append(paragraph[:cut].rstrip())
        paragraph = paragraph[cut:].lstrip()
    if paragraph:
        pieces.append(paragraph)
    return pieces


def text_block(text: str, subtype: str | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "text", "text": text}
    if subtype:
        block["subtype"] = subtype
    links = []
    for start, end in find_urls(text):
        url = text[start:end]
        href = url if url.lower().startswith(("http://", "https://")) else "https://" + url
        links.append({"start": start, "end": end, "type": "link", "url": href})
    if links:
        block["formatting"] = links
    return block


def is_remote(media: Media) -> bool:
    """Given by URL only (``Media.from_url``): referenced, not uploaded."""
    return media.data is None and media.path is None


def media_identifier(index: int) -> str:
    """The multipart part name that carries file ``index``."""
    return f"unipost-media-{index}"


def image_block(media: Media, index: int) -> dict[str, Any]:
    item: dict[str, Any] = {"type": media.mime_type}
    if is_remote(media):
        item["url"] = media.url  # NPF media objects may point at a public URL
    else:
        item["identifier"] = media_identifier(index)
    if media.width and media.height:
        item["width"], item["height"] = media.width, media.height
    block: dict[str, Any] = {"type": "image", "media": [item]}
    if media.alt:
        block["alt_text"] = media.alt
    return block


def blocks(title: str | None, body: str, media: tuple[Media, ...], link: str | None) -> list[Any]:
    """Every content block of the post, in reading order."""
    content: list[Any] = []
    if title:
        content.append(text_block(title, "heading1"))
    for paragraph in body.split("\n"):
        for piece in _chunks(paragraph.strip()):
            content.append(text_block(piece))
    content.extend(image_block(item, index) for index, item in enumerate(media))
    if link:
        content.append({"type": "link", "url": link})
    return content
