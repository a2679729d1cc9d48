"""Keep secrets and personal data out of everything unipost prints, logs or stores.

Two passes: every secret the process has loaded (tokens, passwords, webhook
URLs) is registered and replaced wherever it appears, and patterns catch what
was never registered (``Bearer …``, Meta ``EAA…`` tokens, ``access_token=…``
in URLs, e-mail addresses, phone numbers). Dotted setting names
(``channels.x.token: …``) and placeholders (``token = { env = … }``, ``TOKEN=...``)
are not values, so unipost's own error messages stay readable.
"""

from __future__ import annotations

import threading

import regex

__all__ = ["REDACTED", "forget_secrets", "mask_email", "mask_phone", "redact", "register_secret"]

REDACTED = "[REDACTED]"
_MIN_SECRET_LENGTH = 6  # shorter values would blank out ordinary words

_lock = threading.Lock()
_secrets: set[str] = set()
_pattern: regex.Pattern[str] | None = None

_TOKEN_PATTERNS = regex.compile(
    r"""
    (?P<bearer>(?i:bearer|basic|token)\s+)[A-Za-z0-9._~+/=\-]{8,}
    | (?P<param>(?<!\.)(?i:access_token|refresh_token|client_secret|appsecret_proof|password
        |passwd|signature|api[_-]?key|token|secret|key)["']?\s*[=:]\s*["']?)(?![{\[.<])[^\s&"',;}]+
    | EAA[A-Za-z0-9]{10,}
    | whsec_[A-Za-z0-9+/=]{8,}
    """,
    regex.VERBOSE,
)
_EMAIL = regex.compile(r"\b([A-Za-z0-9._%+\-]+)@([A-Za-z0-9.\-]+\.[A-Za-z]{2,})\b")
# Not IPv4 addresses (127.0.0.1) or ISO dates (2026-12-24 09:00), which only look like numbers.
_PHONE = regex.compile(
    r"(?<![\w/.-])(?!\d{1,3}(?:\.\d{1,3}){3}(?![\d.])|\d{4}-\d\d-\d\d)\+?\d[\d \-().]{7,}\d(?![\w/])"
)


def register_secret(value: str | None) -> None:
    """Remember ``value`` so that :func:`redact` replaces it everywhere."""
    global _pattern
    if not value or len(value) < _MIN_SECRET_LENGTH:
        return
    with _lock:
        if value in _secrets:
            return
        _secrets.add(value)
        ordered = sorted(_secrets, key=len, reverse=True)
        _pattern = regex.compile("|".join(regex.escape(s) for s in ordered))


def forget_secrets() -> None:
    """Drop every registered secret (tests use this between cases)."""
    global _pattern
    with _lock:
        _secrets.clear()
        _pattern = None


def mask_email(address: str) -> str:
    """``alice@example.com`` → ``***@example.com``."""
    _, at, domain = address.rpartition("@")
    return f"***@{domain}" if at and domain else "***"


def mask_phone(number: str) -> str:
    """Keep the last two digits of a phone number: ``+4915112345678`` → ``+***78``."""
    digits = [c for c in number if c.isdigit()]
    return "+***" + "".join(digits[-2:])


def _token(match: regex.Match[str]) -> str:
    prefix = match.group("bearer") or match.group("param") or ""
    return prefix + REDACTED


def redact(text: str, *, personal: bool = True) -> str:
    """``text`` with registered secrets, token-looking values and (by default) PII masked."""
    pattern = _pattern
    if pattern is not None:
        text = pattern.sub(REDACTED, text)
    text = _TOKEN_PATTERNS.sub(_token, text)
    if personal:
        text = _EMAIL.sub(lambda m: mask_email(m.group(0)), text)
        text = _PHONE.sub(lambda m: mask_phone(m.group(0)), text)
    return text
