"""A post as a newsletter e-mail, for the channels that hand one to a mailing service.

Mailchimp, Brevo, SendGrid and Listmonk all want the same three things: a
subject, an HTML body and a plain-text part. :class:`MailingChannel` builds
them once in ``prepare`` (so ``preview`` shows every change) and leaves the
service's own unsubscribe link in place: each service passes its merge tag as
the footer, and unipost never writes an unsubscribe mechanism of its own.
"""

from __future__ import annotations

import html

import attrs

from unipost import text as textmod
from unipost.channel import Change, Channel, Prepared
from unipost.channels._html import paragraphs
from unipost.models import Post

__all__ = ["SUBJECT_LENGTH", "EmailContent", "MailingChannel", "email_of", "render_email"]

#: Subjects are cut to 150 characters: Mailchimp's maximum and beyond what any inbox shows.
SUBJECT_LENGTH = 150
PREVIEW_LENGTH = 150
IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})

_BUTTON = (
    '<table role="presentation" cellspacing="0" cellpadding="0" border="0"><tr>'
    '<td style="border-radius:4px;background:#1a73e8">'
    '<a href="{href}" style="display:inline-block;padding:12px 24px;color:#ffffff;'
    'font-weight:bold;text-decoration:none">{label}</a></td></tr></table>'
)


@attrs.frozen(kw_only=True)
class EmailContent:
    """What a mailing service is given: subject, inbox preview line, HTML and plain text."""

    subject: str
    preview_text: str
    html: str
    text: str


def _first_line(body: str) -> str:
    return next((" ".join(line.split()) for line in body.splitlines() if line.strip()), "")


def _cut(value: str, limit: int) -> str:
    return textmod.truncate(value, limit, textmod.TextUnit.CHARACTERS)


def render_email(
    post: Post,
    body: str,
    *,
    button: str = "Read more",
    footer_html: str = "",
    footer_text: str = "",
) -> tuple[EmailContent, tuple[Change, ...]]:
    """Subject from the title or the first line; images by URL; the link as a button."""
    changes: list[Change] = []
    if post.title:
        subject = _cut(" ".join(post.title.split()), SUBJECT_LENGTH)
    else:
        subject = _cut(_first_line(body), SUBJECT_LENGTH) or "News"
        changes.append(Change(kind="subject", detail=f"subject from the first line: {subject!r}"))
    preview = _cut(" ".join(body.split()), PREVIEW_LENGTH)
    blocks = [f"<h1>{html.escape(post.title)}</h1>"] if post.title else []
    blocks.append(paragraphs(body))
    text_blocks = [post.title] if post.title else []
    text_blocks.append(body)
    images = [m for m in post.media if m.url]
    for item in images:
        src, alt = html.escape(item.url or ""), html.escape(item.alt or "")
        blocks.append(f'<p><img src="{src}" alt="{alt}" style="max-width:100%;height:auto" /></p>')
        text_blocks.append(f"[{item.alt or 'Image'}] {item.url}")
    if images:
        changes.append(Change(kind="images", detail=f"{len(images)} image(s) shown by URL"))
    if post.link:
        label = html.escape(button)
        blocks.append(_BUTTON.format(href=html.escape(post.link), label=label))
        text_blocks.append(f"{button}: {post.link}")
        changes.append(Change(kind="link_button", detail=f"the link is a {button!r} button"))
    if footer_html:
        blocks.append(f'<hr /><p style="font-size:small;color:#666666">{footer_html}</p>')
    if footer_text:
        text_blocks.append(f"--\n{footer_text}")
    lang = f' lang="{html.escape(post.language)}"' if post.language else ""
    document = (
        f'<!DOCTYPE html>\n<html{lang}>\n<head>\n<meta charset="utf-8" />\n'
        f'<meta name="viewport" content="width=device-width" />\n'
        f"<title>{html.escape(subject)}</title>\n</head>\n<body>\n"
        + "\n".join(b for b in blocks if b)
        + "\n</body>\n</html>\n"
    )
    plain = "\n\n".join(b for b in text_blocks if b) + "\n"
    changes.append(Change(kind="plain_text", detail="a plain-text part is sent with the HTML"))
    content = EmailContent(subject=subject, preview_text=preview, html=document, text=plain)
    return content, tuple(changes)


@attrs.frozen(kw_only=True)
class MailingChannel(Channel):
    """Base of the mailing-service channels: ``prepare`` puts an :class:`EmailContent` in
    ``payload["email"]``. Subclasses return the service's unsubscribe merge tags as footer."""

    button_label: str = "Read more"

    def footer(self) -> tuple[str, str]:
        """HTML and text footer: the service's own unsubscribe link, as its merge tag."""
        return "", ""

    def link_suffix(self, post: Post, body: str) -> str:
        return ""  # the link becomes the button, not a bare URL in the text

    def prepare(self, post: Post) -> Prepared:
        prepared = super().prepare(post)
        footer_html, footer_text = self.footer()
        content, changes = render_email(
            prepared.post,
            prepared.text,
            button=self.button_label,
            footer_html=footer_html,
            footer_text=footer_text,
        )
        return attrs.evolve(
            prepared,
            changes=(*prepared.changes, *changes),
            payload={**prepared.payload, "email": content},
        )


def email_of(prepared: Prepared) -> EmailContent:
    """The :class:`EmailContent` a :class:`MailingChannel` prepared."""
    content = prepared.payload["email"]
    assert isinstance(content, EmailContent)
    return content
