"""Post text as Ghost's native Lexical document: paragraphs, links, image cards.

Lexical is what the Ghost editor stores, so nothing is lost in a conversion
(``?source=html`` is lossy); links are real link nodes, line breaks real
``linebreak`` nodes, further images image cards with their alt text.
"""

from __future__ import annotations

import json
import re
from typing import Any

from unipost.plugin import (
    find_urls,
)

__all__ = ["document"]


def _text(value: str) -> dict[str, Any]:
    return {
        "detail": 0,
        "format": 0,
        "mode": "normal",
        "style": "",
        "text": value,
        "type": "extended-text",
        "version": 1,
    }


def _element(kind: str, children: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "children": children,
        "direction": "ltr",
        "format": "",
        "indent": 0,
        "type": kind,
        "version": 1,
    } | extra


def _inline(line: str) -> list[dict[str, Any]]:
    nodes: list[dict[str, Any]] = []
    position = 0
    for start, end in find_urls(line):
        if start > position:
            nodes.append(_text(line[position:start]))
        url = line[start:end]
        href = url if url.lower().startswith(("http://", "https://")) else "https://" + url
        nodes.append(_element("link", [_text(url)], rel=None, target=None, title=None, url=href))
        position = end
    if position < len(line):
        nodes.append(_text(line[position:]))
    return nodes


def _paragraph(block: str) -> dict[str, Any]:
    children: list[dict[str, Any]] = []
    for index, line in enumerate(block.split("\n")):
        if index:
            children.append({"type": "linebreak", "version": 1})
        children.extend(_inline(line))
    return _element("paragraph", children)


def _image(url: str, alt: str | None) -> dict[str, Any]:
    return {
        "type": "image",
        "version": 1,
        "src": url,
        "width": None,
        "height": None,
        "title": "",
        "alt": alt or "",
        "caption": "",
        "cardWidth": "regular",
        "href": "",
    }


def document(body: str, images: list[tuple[str, str | None]]) -> str:
    """The ``lexical`` field: a JSON string whose root holds paragraphs, then image cards."""
    blocks = [b.strip() for b in re.split(r"\n\s*\n", body) if b.strip()]
    children = [_paragraph(block) for block in blocks]
    children.extend(_image(url, alt) for url, alt in images)
    return json.dumps({"root": _element("root", children)}, ensure_ascii=False)
