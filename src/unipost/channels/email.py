"""The ``email`` channel: SMTP submission with TLS, one message per recipient or BCC batches.

Only the standard library is used (``smtplib``, ``email``, ``ssl``), in a
worker thread. SMTP has no idempotency: the ``Message-ID`` is derived from
the delivery key so that a resent message is recognisably the same one, and
a connection lost after the message data was sent is reported as ambiguous;
only that one message (one recipient, or one BCC batch) is in doubt, because
the send stops there.
"""

from __future__ import annotations

import asyncio
import csv
import email.policy
import email.utils
import html
import re
import ssl
import urllib.parse
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import attrs

from unipost import text as textmod
from unipost.channel import (
    Capabilities,
    Channel,
    Context,
    Idempotency,
    Prepared,
    Receipt,
    RecipientResult,
    is_loopback,
)
from unipost.channel import secret as secret_field
from unipost.channels._html import paragraphs
from unipost.channels._smtp import POLICY, Session, all_refused, transmit
from unipost.errors import (
    DeliveryError,
    Permanent,
)
from unipost.hookspecs import hookimpl
from unipost.redact import mask_email

if TYPE_CHECKING:
    from unipost.plugins import Register

__all__ = ["EmailChannel"]

_DEFAULT_PORTS = {"tls": 465, "starttls": 587, "none": 25}
_SUBJECT_LENGTH = 120
_ADDRESS = re.compile(r"^[^@\s<>,;\"]+@[^@\s<>,;\"]+\.[^@\s<>,;\"]+$")


def _tuple(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value or ())


def _is_address(value: str) -> bool:
    """A plain ASCII address: anything else would break the SMTP envelope or a header."""
    return value.isascii() and _ADDRESS.match(value) is not None


def _mask(address: str) -> str:
    """``mask_email`` keeps what follows the last ``@``; a value without one must not show."""
    return mask_email(address) if "@" in address else "***"


def _check_addresses(_instance: Any, attribute: Any, value: tuple[str, ...]) -> None:
    for address in value:
        if not _is_address(address):
            raise ValueError(f"{attribute.name}: {_mask(address)} is not an e-mail address")


def _check_from(_instance: Any, _attribute: Any, value: str) -> None:
    _name, address = email.utils.parseaddr(value)
    if "\n" in value or "\r" in value or not _is_address(address):
        raise ValueError("from_addr must be an address such as 'Bakery <news@bakery.example>'")


def _one_of(*choices: str) -> Any:
    def check(_instance: Any, attribute: Any, value: str) -> None:
        if value not in choices:
            raise ValueError(f"{attribute.name} must be one of {', '.join(choices)}, got {value!r}")

    return check


@attrs.frozen(kw_only=True)
class EmailChannel(Channel):
    """Send the post as an e-mail newsletter through your SMTP submission server."""

    name: ClassVar[str] = "email"
    capabilities: ClassVar[Capabilities] = Capabilities(
        text_limit=None,
        max_media=10,
        media_types=frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"}),
        max_media_bytes=10 * 1024 * 1024,
        title=True,
        # A Message-ID from the delivery key lets mail clients thread a resend with the
        # original, but SMTP cannot deduplicate: an ambiguous send is held, not resent.
        idempotency=Idempotency.NONE,
        health_check=True,
    )

    host: str
    from_addr: str = attrs.field(validator=_check_from)
    port: int | None = None
    security: str = attrs.field(default="tls", validator=_one_of("tls", "starttls", "none"))
    username: str | None = None
    password: str | None = secret_field(default=None)
    to: tuple[str, ...] = attrs.field(default=(), converter=_tuple, validator=_check_addresses)
    recipients_csv: str | None = None
    mode: str = attrs.field(default="each", validator=_one_of("each", "bcc"))
    batch_size: int = 50
    images: str = attrs.field(default="inline", validator=_one_of("inline", "attach"))
    unsubscribe_url: str | None = None
    unsubscribe_mailto: str | None = None
    timeout: float = 30.0
    ca_file: str | None = None

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        if self.security == "none" and not is_loopback(self.host):
            raise ValueError(
                f"security = 'none' sends mail and passwords in clear text; it is only allowed to "
                f"this machine, not {self.host}: use 'tls' (port 465) or 'starttls' (port 587)"
            )
        if bool(self.username) != bool(self.password):
            raise ValueError("give both username and password, or neither")
        if not self.to and not self.recipients_csv:
            raise ValueError("give recipients: to = [...] or recipients_csv = 'path.csv'")
        if self.batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        if self.timeout <= 0:
            raise ValueError("timeout must be positive")
        if self.unsubscribe_url and not self.unsubscribe_url.startswith(("https://", "http://")):
            raise ValueError("unsubscribe_url must be an http(s) URL")
        if self.unsubscribe_mailto and not _is_address(
            self.unsubscribe_mailto.removeprefix("mailto:")
        ):
            raise ValueError("unsubscribe_mailto must be an e-mail address")

    @property
    def failure_domain(self) -> str:
        return f"smtp:{self.host}"

    @property
    def smtp_port(self) -> int:
        return self.port or _DEFAULT_PORTS[self.security]

    @property
    def domain(self) -> str:
        return email.utils.parseaddr(self.from_addr)[1].rpartition("@")[2]

    def message_id(self, delivery_key: str) -> str:
        """The same key gives the same Message-ID, so a resent copy threads as one message."""
        local = (
            re.sub(r"[^A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]", "-", delivery_key).strip(".") or "unipost"
        )
        return f"<{local}@{self.domain}>"

    # -- delivery ------------------------------------------------------------

    async def deliver(self, prepared: Prepared, ctx: Context) -> Receipt:
        """SMTP is blocking; it runs in a worker thread within the attempt's deadline."""
        timeout = max(1.0, min(self.timeout, ctx.remaining()))
        return await asyncio.to_thread(
            self._send, prepared, ctx.delivery_key, timeout, ctx.applying, ctx.now()
        )

    async def check(self, ctx: Context) -> str:
        timeout = max(1.0, min(self.timeout, ctx.remaining()))
        return await asyncio.to_thread(self._check, timeout)

    def _check(self, timeout: float) -> str:
        with self._session(timeout):
            pass
        who = f", authenticated as {self.username}" if self.username else ""
        return f"{self.host}:{self.smtp_port} ({self.security}){who}"

    def recipients(self) -> list[str]:
        """``to`` then the CSV's ``email`` column, without duplicates (case-insensitive)."""
        found = list(self.to)
        if self.recipients_csv:
            found.extend(_read_csv(Path(self.recipients_csv).expanduser()))
        seen: set[str] = set()
        unique = []
        for address in found:
            if address.lower() not in seen:
                seen.add(address.lower())
                unique.append(address)
        return unique

    def _send(
        self,
        prepared: Prepared,
        key: str,
        timeout: float,
        applying: Callable[[], None],
        now: float,
    ) -> Receipt:
        recipients = self.recipients()
        valid = [a for a in recipients if _is_address(a)]
        results = [
            RecipientResult(recipient=_mask(a), ok=False, reason="not an e-mail address")
            for a in recipients
            if not _is_address(a)
        ]
        if not valid:
            raise Permanent(f"channels.{self.id}: no valid recipients")
        message_id = self.message_id(key)
        if self.mode == "each":
            batches = [[address] for address in valid]
        else:
            batches = [
                valid[i : i + self.batch_size] for i in range(0, len(valid), self.batch_size)
            ]
        sender = email.utils.parseaddr(self.from_addr)[1]
        with self._session(timeout) as smtp:
            for number, batch in enumerate(batches):
                message = self.build_message(
                    prepared, message_id, batch if self.mode == "each" else None, now=now
                )
                try:
                    results.extend(transmit(smtp, sender, batch, message, applying))
                except DeliveryError as error:
                    if not any(r.ok for r in results):
                        raise
                    # Some recipients have the mail: report them, and why the rest do not.
                    for rest in batches[number:]:
                        results.extend(
                            RecipientResult(recipient=mask_email(a), ok=False, reason=str(error))
                            for a in rest
                        )
                    break
        if not any(r.ok for r in results):
            reasons = "; ".join(sorted({r.reason or "" for r in results}))
            raise all_refused(reasons, results)
        return Receipt(
            platform_id=message_id.strip("<>"),
            url="mid:" + urllib.parse.quote(message_id.strip("<>"), safe="@!$&'()*+,;=-._~"),
            recipients=tuple(results),
            extra={
                "message_id": message_id,
                "sent": sum(r.ok for r in results),
                "failed": sum(not r.ok for r in results),
            },
        )

    def _context(self) -> ssl.SSLContext:
        """The system's trust store with hostname checks; ``ca_file`` replaces it (a private CA)."""
        return ssl.create_default_context(cafile=self.ca_file)

    def _session(self, timeout: float) -> Session:
        return Session(self, timeout)

    # -- the message -----------------------------------------------------------

    def subject(self, prepared: Prepared) -> str:
        if prepared.post.title:
            return " ".join(prepared.post.title.split())
        first = next((line.strip() for line in prepared.text.splitlines() if line.strip()), "")
        if not first:
            return "News"
        return textmod.truncate(
            " ".join(first.split()), _SUBJECT_LENGTH, textmod.TextUnit.GRAPHEMES
        )

    def build_message(
        self, prepared: Prepared, message_id: str, to: list[str] | None, *, now: float
    ) -> EmailMessage:
        """Plain text and HTML alternatives; images inline (cid) or attached."""
        post = prepared.post
        message = EmailMessage(policy=POLICY)
        message["Subject"] = self.subject(prepared)
        message["From"] = self.from_addr
        # BCC batches: the recipients are only in the envelope, never in a header.
        message["To"] = ", ".join(to) if to else self.from_addr
        message["Date"] = email.utils.formatdate(now, usegmt=True)  # the dispatcher's clock
        message["Message-ID"] = message_id
        unsubscribe = []
        if self.unsubscribe_url:
            unsubscribe.append(f"<{self.unsubscribe_url}>")
        if self.unsubscribe_mailto:
            unsubscribe.append(f"<mailto:{self.unsubscribe_mailto.removeprefix('mailto:')}>")
        if unsubscribe:
            message["List-Unsubscribe"] = ", ".join(unsubscribe)
        if self.unsubscribe_url and self.unsubscribe_url.startswith("https://"):
            message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        plain = prepared.text
        if post.title:
            plain = f"{post.title}\n\n{plain}" if plain else post.title
        if self.unsubscribe_url:
            plain += f"\n\n--\nUnsubscribe: {self.unsubscribe_url}"
        message.set_content(plain + "\n")

        local = [m for m in post.media if m.path is not None or m.data is not None]
        cids = {id(m): email.utils.make_msgid(domain=self.domain)[1:-1] for m in local}
        inline = self.images == "inline"
        message.add_alternative(self._html(prepared, cids if inline else {}), subtype="html")
        html_part = message.get_body(preferencelist=("html",))
        assert html_part is not None
        for number, item in enumerate(local, 1):
            maintype, _, subtype = item.mime_type.partition("/")
            filename = item.filename or f"image-{number}.{subtype}"
            if inline:
                html_part.add_related(
                    item.read(),
                    maintype,
                    subtype,
                    cid=f"<{cids[id(item)]}>",
                    filename=filename,
                    disposition="inline",
                )
            else:
                message.add_attachment(item.read(), maintype, subtype, filename=filename)
        if post.language:  # after the body: making a multipart moves Content-* headers down
            message["Content-Language"] = post.language
        return message

    def _html(self, prepared: Prepared, cids: dict[int, str]) -> str:
        post = prepared.post
        lang = f' lang="{html.escape(post.language)}"' if post.language else ""
        body = []
        if post.title:
            body.append(f"<h1>{html.escape(post.title)}</h1>")
        body.append(paragraphs(prepared.text))
        for item in post.media:
            if id(item) in cids:
                src = f"cid:{cids[id(item)]}"
            elif item.url is not None:
                src = item.url
            else:
                continue
            alt = html.escape(item.alt or "")
            body.append(
                f'<p><img src="{html.escape(src)}" alt="{alt}" style="max-width:100%" /></p>'
            )
        if self.unsubscribe_url:
            link = html.escape(self.unsubscribe_url)
            body.append(f'<hr /><p style="font-size:small"><a href="{link}">Unsubscribe</a></p>')
        title = html.escape(self.subject(prepared))
        content = "\n".join(b for b in body if b)
        return (
            f'<!DOCTYPE html>\n<html{lang}>\n<head>\n<meta charset="utf-8" />\n'
            f"<title>{title}</title>\n</head>\n<body>\n{content}\n</body>\n</html>\n"
        )


def _read_csv(path: Path) -> Iterator[str]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            column = next(
                (f for f in reader.fieldnames or () if f.strip().lower() == "email"), None
            )
            if column is None:
                raise Permanent(f"{path} has no 'email' column (the first row names the columns)")
            rows = [(row.get(column) or "").strip() for row in reader]
    except OSError as exc:
        raise Permanent(f"cannot read recipients_csv {path}: {exc.strerror or exc}") from exc
    return (row for row in rows if row)


@hookimpl
def unipost_register_channels(register: Register) -> None:
    register(EmailChannel)
