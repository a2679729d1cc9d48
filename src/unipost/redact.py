"""Keep secrets and personal data out of everything unipost prints, logs or stores.

Three passes:

* every secret the process has loaded (tokens, passwords, webhook URLs) is
  registered and replaced wherever it appears. A secret that is a URL also
  registers its path and query, the tokens inside them, and its host: any URL
  to that host loses its path and query (``https://hooks.example/[REDACTED]``),
  however an HTTP library spelled it (port added, percent-encoded, path alone);
* patterns catch what was never registered (``Bearer …``, Meta ``EAA…`` tokens,
  ``access_token=…`` in URLs, ``"password": "…"``);
* personal data: e-mail addresses, and phone numbers where they are phone
  numbers — written in international form (``+49 151 …``), registered as a
  recipient (:func:`register_phone`), or named as one (``phone: 0151…``).
  Other digit runs stay: media ids, SMTP codes (``535 5.7.8``), Unix times.

Dotted setting names (``channels.x.token: …``), placeholders (``token = { env = … }``,
``TOKEN=...``) and prose ("access token: Session has expired") are not values,
so messages stay readable.
"""

from __future__ import annotations

import threading
import urllib.parse

import regex

__all__ = [
    "REDACTED",
    "forget_secrets",
    "mask_email",
    "mask_phone",
    "redact",
    "register_phone",
    "register_secret",
]

REDACTED = "[REDACTED]"
_MIN_SECRET_LENGTH = 6  # shorter values would blank out ordinary words
_MIN_FRAGMENT_LENGTH = 8  # a path segment or query value worth hiding on its own

_lock = threading.Lock()
_secrets: set[str] = set()
_hosts: set[str] = set()
_phones: dict[str, str] = {}  # digits -> mask
_pattern: regex.Pattern[str] | None = None
_host_pattern: regex.Pattern[str] | None = None
_phone_pattern: regex.Pattern[str] | None = None
_stale = [False]  # secrets or hosts were registered since the patterns were compiled

# A value after "token"/"key"/... with '=' (query strings, env files), or after ':'
# only when quoted (JSON) or when it looks like a credential (letters and digits, 12+).
_CREDENTIAL = r"(?=[A-Za-z0-9._~+/\-]*\d)[A-Za-z0-9._~+/=\-]{12,}"
_TOKEN_PATTERNS = regex.compile(
    rf"""
    (?P<bearer>(?i:bearer|basic)\s+)[A-Za-z0-9._~+/=\-]{{8,}}
    | (?P<word>(?i:token)\s+){_CREDENTIAL}
    | (?P<param>(?<![.\w])(?i:access_token|refresh_token|client_secret|appsecret_proof|password
        |passwd|signature|api[_-]?key|token|secret|key)["']?\s*=\s*["']?)(?![{{\[.<])[^\s&"',;}}]+
    | (?P<quoted>(?<![.\w])(?i:access_token|refresh_token|client_secret|appsecret_proof|password
        |passwd|signature|api[_-]?key|token|secret|key)["']\s*:\s*["'])[^"']+
    | (?P<colon>(?<![.\w])(?i:access_token|refresh_token|client_secret|appsecret_proof|password
        |passwd|signature|api[_-]?key|token|secret|key):\s*){_CREDENTIAL}
    | EAA[A-Za-z0-9]{{10,}}
    | whsec_[A-Za-z0-9+/=]{{8,}}
    """,
    regex.VERBOSE,
)
_EMAIL = regex.compile(r"\b([A-Za-z0-9._%+\-]+)@([A-Za-z0-9.\-]+\.[A-Za-z]{2,})\b")
# International form: a '+' and 8 to 15 digits, spaces, dashes, dots or brackets between.
_E164 = regex.compile(r"(?<![\w+])\+\d(?:[ \-.()]{0,2}\d){7,14}(?![\w])")
# A number named as one: "phone: 0151 2345678", "to=4915112345678", "wa_id": "4915…".
_NAMED_PHONE = regex.compile(
    r"""(?P<name>(?<![\w.])(?i:phone(?:[ _]number)?|mobile|tel|msisdn|wa_id|recipient|to)["']?\s*[:=]\s*["']?)"""
    r"(?P<number>\+?\d(?:[ \-.()]{0,2}\d){7,14})(?!\w)"
)


def _fragments(value: str) -> tuple[set[str], str | None]:
    """A URL secret's parts that must never show on their own, and its host."""
    try:
        url = urllib.parse.urlsplit(value)
    except ValueError:
        return set(), None
    if url.scheme not in ("http", "https") or not url.hostname:
        return set(), None
    parts: set[str] = set()
    rest = value.split("://", 1)[1]
    parts.add(rest)
    tail = url.path + (f"?{url.query}" if url.query else "")
    if len(tail) > 1:
        parts.add(tail)
        parts.add(urllib.parse.quote(tail, safe="/?=&"))
    pieces = [*url.path.split("/"), *(v for _k, v in urllib.parse.parse_qsl(url.query))]
    for piece in pieces:
        if len(piece) >= 16 or (
            len(piece) >= _MIN_FRAGMENT_LENGTH and any(c.isdigit() for c in piece)
        ):
            parts.add(piece)
    host = url.hostname if tail.strip("/") else None
    return {p for p in parts if len(p) >= _MIN_SECRET_LENGTH}, host


def register_secret(value: str | None) -> None:
    """Remember ``value`` so that :func:`redact` replaces it everywhere.

    For a URL (a webhook with its token in the path), also its path, query
    and the tokens in them, and every URL to its host loses path and query.
    Plugins call it (``unipost.plugin.register_secret``) for a secret fragment
    that is not a ``secret()`` field of their channel.
    """
    global _pattern, _host_pattern
    if not value or len(value) < _MIN_SECRET_LENGTH:
        return
    with _lock:
        if value in _secrets:
            return
        fragments, host = _fragments(value)
        _secrets.add(value)
        _secrets.update(fragments)
        if host is not None:
            _hosts.add(host)
        # Compiled at the next redact(), once: registering a thousand channels' secrets
        # one by one must not recompile a growing pattern a thousand times.
        _pattern = _host_pattern = None
        _stale[0] = True


def _compile() -> None:
    """Build the secret and host patterns from what is registered (under the lock)."""
    global _pattern, _host_pattern
    with _lock:
        if not _stale[0]:
            return
        if _secrets:
            ordered = sorted(_secrets, key=len, reverse=True)
            _pattern = regex.compile("|".join(regex.escape(s) for s in ordered))
        if _hosts:
            names = "|".join(regex.escape(h) for h in sorted(_hosts, key=len, reverse=True))
            _host_pattern = regex.compile(
                rf"(?i)(?P<keep>(?:https?://)?(?:{names})(?::\d+)?)(?P<path>[/?][^\s\"'<>)\]]*)"
            )
        _stale[0] = False


def register_phone(number: str | None) -> None:
    """Remember a recipient's number: masked wherever it appears, with or without ``+``."""
    global _phone_pattern
    digits = "".join(c for c in number or "" if c.isdigit())
    if len(digits) < 7:
        return
    with _lock:
        if digits in _phones:
            return
        _phones[digits] = mask_phone(number or "")
        ordered = sorted(_phones, key=len, reverse=True)
        _phone_pattern = regex.compile(
            r"(?<!\d)\+?(?:" + "|".join(regex.escape(d) for d in ordered) + r")(?!\d)"
        )


def forget_secrets() -> None:
    """Drop every registered secret and number (tests use this between cases)."""
    global _pattern, _host_pattern, _phone_pattern
    with _lock:
        _secrets.clear()
        _hosts.clear()
        _phones.clear()
        _pattern = _host_pattern = _phone_pattern = None
        _stale[0] = False


def mask_email(address: str) -> str:
    """``alice@example.com`` → ``***@example.com``."""
    _, at, domain = address.rpartition("@")
    return f"***@{domain}" if at and domain else "***"


def mask_phone(number: str) -> str:
    """Enough to tell recipients apart, not enough to call them.

    ``+4915112345678`` → ``+49*******5678`` (country code and last four digits);
    a short number keeps its last two (``+***78``).
    """
    digits = [c for c in number if c.isdigit()]
    if len(digits) >= 10:
        plus = "+" if number.strip().startswith("+") else ""
        return plus + "".join(digits[:2]) + "*" * (len(digits) - 6) + "".join(digits[-4:])
    return "+***" + "".join(digits[-2:])


def _token(match: regex.Match[str]) -> str:
    prefix = next(
        (
            match.group(name)
            for name in ("bearer", "word", "param", "quoted", "colon")
            if match.group(name)
        ),
        "",
    )
    return prefix + REDACTED


def _phones_in(text: str) -> str:
    pattern = _phone_pattern
    if pattern is not None:
        text = pattern.sub(
            lambda m: _phones.get("".join(c for c in m.group(0) if c.isdigit()), REDACTED), text
        )
    text = _E164.sub(lambda m: mask_phone(m.group(0)), text)
    return _NAMED_PHONE.sub(lambda m: m.group("name") + mask_phone(m.group("number")), text)


def redact(text: str, *, personal: bool = True) -> str:
    """``text`` with registered secrets, token-looking values and (by default) PII masked."""
    if _stale[0]:
        _compile()
    pattern = _pattern
    if pattern is not None:
        text = pattern.sub(REDACTED, text)
    hosts = _host_pattern
    if hosts is not None:
        text = hosts.sub(
            lambda m: m.group("keep") + ("/" + REDACTED if m.group("path") != "/" else "/"), text
        )
    text = _TOKEN_PATTERNS.sub(_token, text)
    if personal:
        text = _EMAIL.sub(lambda m: mask_email(m.group(0)), text)
        text = _phones_in(text)
    return text
