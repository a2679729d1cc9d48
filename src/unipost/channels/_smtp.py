"""SMTP as the email channel speaks it: one session, MAIL/RCPT/DATA, and what replies mean."""

from __future__ import annotations

import email.policy
import smtplib
import socket
import ssl
from collections.abc import Callable
from email.message import EmailMessage
from typing import Protocol

import attrs

from unipost.channel import RecipientResult
from unipost.errors import Ambiguous, AuthFailed, DeliveryError, NotSent, Permanent, Transient
from unipost.redact import mask_email


class Endpoint(Protocol):
    """The settings of an SMTP server, as the email channel holds them."""

    @property
    def host(self) -> str: ...
    @property
    def smtp_port(self) -> int: ...
    @property
    def security(self) -> str: ...
    @property
    def username(self) -> str | None: ...
    @property
    def password(self) -> str | None: ...

    def _context(self) -> ssl.SSLContext: ...


__all__ = ["POLICY", "Session", "all_refused", "before_data", "describe", "for_code", "transmit"]

# 7bit keeps every part ASCII-safe (quoted-printable or base64), whatever the server offers.
POLICY = email.policy.SMTP.clone(cte_type="7bit")


class Session:
    """A connected, secured and authenticated SMTP connection; errors come out classified."""

    def __init__(self, channel: Endpoint, timeout: float) -> None:
        self.channel = channel
        self.timeout = timeout
        self.smtp: smtplib.SMTP | None = None

    def __enter__(self) -> smtplib.SMTP:
        channel = self.channel
        host, port = channel.host, channel.smtp_port
        try:
            if channel.security == "tls":
                self.smtp = smtplib.SMTP_SSL(
                    host, port, timeout=self.timeout, context=channel._context()
                )
            else:
                self.smtp = smtplib.SMTP(host, port, timeout=self.timeout)
            smtp = self.smtp
            smtp.ehlo()
            if channel.security == "starttls":
                if not smtp.has_extn("starttls"):
                    raise Permanent(
                        f"{host} does not offer STARTTLS; refusing to send in clear text "
                        f"(use security = 'tls' if it listens on port 465)"
                    )
                smtp.starttls(context=channel._context())
                smtp.ehlo()
            if channel.username and channel.password:
                smtp.login(channel.username, channel.password)
        except DeliveryError:
            self._close()
            raise
        except Exception as exc:
            self._close()
            raise before_data(exc, host) from exc
        return smtp

    def __exit__(self, *_exc: object) -> None:
        self._close()

    def _close(self) -> None:
        if self.smtp is None:
            return
        try:
            self.smtp.quit()
        except (smtplib.SMTPException, OSError):
            self.smtp.close()
        self.smtp = None


def transmit(
    smtp: smtplib.SMTP,
    sender: str,
    batch: list[str],
    message: EmailMessage,
    applying: Callable[[], None],
) -> list[RecipientResult]:
    """MAIL, RCPT per address, DATA: one message to ``batch``."""
    try:
        code, reply = smtp.mail(sender)
        if code != 250:
            raise smtplib.SMTPSenderRefused(code, reply, sender)
        accepted = []
        refused = []
        for address in batch:
            code, reply = smtp.rcpt(address)
            if code in (250, 251):
                accepted.append(address)
            else:
                refused.append(
                    RecipientResult(
                        recipient=mask_email(address), ok=False, reason=describe(code, reply)
                    )
                )
        if not accepted:
            smtp.rset()
            return refused
    except smtplib.SMTPServerDisconnected as exc:
        raise NotSent(
            f"the server closed the connection before the message was sent: {exc}"
        ) from exc
    except (smtplib.SMTPException, OSError) as exc:
        raise before_data(exc, "the server") from exc
    applying()  # from DATA on, a lost answer may hide a delivered message
    try:
        code, reply = smtp.data(message.as_bytes(policy=POLICY))
    except smtplib.SMTPDataError as exc:
        raise for_code(exc.smtp_code, exc.smtp_error, "refused the message") from exc
    except (smtplib.SMTPServerDisconnected, OSError) as exc:
        raise Ambiguous(
            f"the connection was lost after the message was sent ({exc}); it may have been "
            "delivered, and a resent copy carries the same Message-ID"
        ) from exc
    if code != 250:  # smtplib.data() returns the final reply without checking it
        raise for_code(code, reply, "refused the message")
    queued = reply.decode("utf-8", "replace")
    return [
        *refused,
        *(
            RecipientResult(recipient=mask_email(a), ok=True, platform_id=queued[:200])
            for a in accepted
        ),
    ]


def describe(code: int, reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    return f"{code} {' '.join(text.split())}"[:300]


def for_code(code: int, reply: bytes | str, what: str) -> DeliveryError:
    """4xx is "try later", 5xx is "no"; 535 is a rejected password."""
    text = f"SMTP {what}: {describe(code, reply)}"
    if code in (530, 534, 535):
        return AuthFailed(text, platform_code=code)
    if 400 <= code < 500:
        return Transient(text, platform_code=code)
    return Permanent(text, platform_code=code)


def before_data(exc: Exception, host: str) -> DeliveryError:
    """Anything that fails before DATA never delivered the message."""
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return for_code(exc.smtp_code, exc.smtp_error, "rejected the login")
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return Permanent(f"{host} does not support this: {exc}; check security and username")
    if isinstance(exc, smtplib.SMTPConnectError):
        return NotSent(f"{host} refused the session: {describe(exc.smtp_code, exc.smtp_error)}")
    if isinstance(exc, smtplib.SMTPResponseException):
        return for_code(exc.smtp_code, exc.smtp_error, "answered")
    if isinstance(exc, ssl.SSLCertVerificationError):
        return Permanent(
            f"the TLS certificate of {host} failed verification ({exc.verify_message}); "
            "fix the server's certificate or set ca_file to your private CA"
        )
    if isinstance(exc, ssl.SSLError):
        return NotSent(f"TLS with {host} failed: {exc.reason or exc}")
    if isinstance(exc, smtplib.SMTPServerDisconnected):  # smtplib's word for reply timeouts too
        return NotSent(f"{host} was lost before the message was sent: {exc}")
    if isinstance(exc, TimeoutError | socket.timeout):
        return NotSent(f"timed out talking to {host} before the message was sent")
    if isinstance(exc, OSError):
        return NotSent(f"could not connect to {host}: {exc.strerror or exc}")
    return Permanent(f"SMTP with {host} failed: {exc}")


def all_refused(reasons: str, results: list[RecipientResult]) -> DeliveryError:
    codes = [int(r.reason[:3]) for r in results if r.reason and r.reason[:3].isdigit()]
    detail = {"recipients": [attrs.asdict(r) for r in results]}
    if codes and all(400 <= c < 500 for c in codes):
        return Transient(f"every recipient was refused for now: {reasons}", detail=detail)
    return Permanent(f"every recipient was refused: {reasons}", detail=detail)
