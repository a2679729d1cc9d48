"""User text as HTML, shared by the channels that render it (site pages, e-mail)."""

from __future__ import annotations

import html
import re

from unipost import text as textmod

__all__ = ["paragraphs"]


def paragraphs(body: str) -> str:
    """User text, escaped, as ``<p>`` paragraphs with ``<br />`` line breaks; URLs become links."""
    blocks = [block.strip() for block in re.split(r"\n\s*\n", body) if block.strip()]
    return "\n".join(
        "<p>" + "<br />".join(_linkify(line) for line in block.split("\n")) + "</p>"
        for block in blocks
    )


def _linkify(line: str) -> str:
    out = []
    position = 0
    for start, end in textmod.find_urls(line):
        url = line[start:end]
        href = url if url.lower().startswith(("http://", "https://")) else "https://" + url
        out.append(html.escape(line[position:start]))
        out.append(f'<a href="{html.escape(href)}">{html.escape(url)}</a>')
        position = end
    out.append(html.escape(line[position:]))
    return "".join(out)
