"""What a post becomes on WordPress: a slug that names it across revisions, a title, HTML.

The slug is derived from the unipost post id, never from the title, so that
revision 2 (a new title, say) finds and edits the post revision 1 created, and
a create whose answer was lost can be found again.
"""

from __future__ import annotations

import hashlib
import html
import re
import unicodedata

from unipost.plugin import (
    TextUnit,
    find_urls,
    truncate,
)

__all__ = ["SLUG_LIMIT", "TITLE_FROM_TEXT", "content_html", "media_slug", "slug_for", "title_for"]

SLUG_LIMIT = 190  # WordPress keeps 200 characters of post_name; room for its "-2" suffixes
TITLE_FROM_TEXT = 80  # graphemes of the first line used when a post has no title


def slug_for(post_id: str) -> str:
    """``offer-2026-12-01`` stays as it is; anything else is folded to what WordPress keeps.

    Only ``[a-z0-9-]`` survives, the characters WordPress's ``sanitize_title``
    leaves untouched, so ``GET /wp/v2/posts?slug=`` finds exactly this value.
    """
    folded = unicodedata.normalize("NFKD", post_id).encode("ascii", "ignore").decode().lower()
    slug = re.sub(r"[^a-z0-9]+", "-", folded).strip("-")[:SLUG_LIMIT].strip("-")
    if not slug:
        slug = "post-" + hashlib.sha256(post_id.encode()).hexdigest()[:16]
    return slug


def media_slug(post_slug: str, digest: str) -> str:
    """One attachment per (post, file content): a retried or edited post reuses its upload.

    ``digest`` is ``Media.digest()`` (``sha256:<hex>``); only hex goes into the slug.
    """
    hexdigest = digest.rpartition(":")[2]
    return f"{post_slug[: SLUG_LIMIT - 17]}-{hexdigest[:16]}"


def title_for(title: str | None, body: str) -> tuple[str, bool]:
    """The post title, or the first line of the text when there is none (and whether it was)."""
    if title:
        return title, False
    first = next((line.strip() for line in body.splitlines() if line.strip()), "")
    return truncate(first, TITLE_FROM_TEXT, TextUnit.GRAPHEMES), True


def _linked(line: str) -> str:
    """One line, escaped, with its URLs as links."""
    out = []
    position = 0
    for start, end in find_urls(line):
        url = line[start:end]
        href = url if url.lower().startswith(("http://", "https://")) else "https://" + url
        out.append(html.escape(line[position:start]))
        out.append(f'<a href="{html.escape(href)}">{html.escape(url)}</a>')
        position = end
    out.append(html.escape(line[position:]))
    return "".join(out)


def paragraphs(body: str) -> str:
    """Blocks separated by a blank line as ``<p>``, line breaks as ``<br />``."""
    blocks = [block.strip() for block in re.split(r"\n\s*\n", body) if block.strip()]
    return "\n".join(
        "<p>" + "<br />".join(_linked(ln) for ln in b.split("\n")) + "</p>" for b in blocks
    )


def content_html(body: str, images: list[tuple[str, str | None]]) -> str:
    """Paragraphs (links clickable), then every image after the featured one as a figure."""
    blocks = [paragraphs(body)] if body.strip() else []
    for url, alt in images:
        blocks.append(
            '<figure class="wp-block-image"><img src="'
            + html.escape(url)
            + '" alt="'
            + html.escape(alt or "")
            + '" /></figure>'
        )
    return "\n".join(blocks)
