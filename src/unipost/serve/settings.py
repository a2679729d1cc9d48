"""How the server is exposed: bind address, TLS, tokens and limits.

Tokens are configured as SHA-256 hashes, never in plain text, so a leaked
tokens file does not leak access. The tokens themselves are 256 random bits
(:func:`new_token`), which is why one fast hash is enough: nothing to guess.
Binding anything but loopback needs TLS, or an explicit flag saying a TLS proxy
sits in front, because bearer tokens must not cross a network in the clear.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import ipaddress
import secrets
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs

from unipost.errors import ConfigurationError

__all__ = [
    "TOKEN_PREFIX",
    "Scope",
    "ServeSettings",
    "Token",
    "hash_token",
    "load_tokens",
    "new_token",
]

TOKEN_PREFIX = "upt_"  # noqa: S105 - a label, not a secret
_HEX64 = frozenset("0123456789abcdef")


class Scope(enum.Enum):
    """What a token may do. ``operate`` changes the outbox and breakers; it implies ``read``."""

    PUBLISH = "publish"
    READ = "read"
    OPERATE = "operate"


def hash_token(token: str) -> str:
    """The SHA-256 hex digest that a tokens file stores in place of ``token``."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    """A fresh random bearer token (shown once; store only :func:`hash_token` of it)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


@attrs.frozen(kw_only=True)
class Token:
    """One configured client: a name for logs, the token's hash, and its scopes."""

    name: str
    sha256: str = attrs.field(repr=False)
    scopes: frozenset[Scope]

    def matches(self, presented: str) -> bool:
        return hmac.compare_digest(hash_token(presented), self.sha256)

    def allows(self, scope: Scope) -> bool:
        if scope is Scope.READ and Scope.OPERATE in self.scopes:
            return True
        return scope in self.scopes


def _token_from_toml(index: int, entry: Any) -> Token:
    where = f"tokens[{index}]"
    if not isinstance(entry, dict):
        raise ConfigurationError(
            where, "is not a table", "write [[tokens]] name = ... sha256 = ..."
        )
    if "token" in entry:
        raise ConfigurationError(
            f"{where}.token",
            "is a plain token",
            "store its sha256 (see `unipost serve --new-token`)",
        )
    unknown = set(entry) - {"name", "sha256", "scopes"}
    if unknown:
        raise ConfigurationError(
            f"{where}.{sorted(unknown)[0]}", "unknown key", "a token has name, sha256 and scopes"
        )
    name = entry.get("name")
    if not isinstance(name, str) or not name:
        raise ConfigurationError(f"{where}.name", "is missing", 'name the client, e.g. "crm"')
    digest = entry.get("sha256")
    if not isinstance(digest, str) or len(digest) != 64 or not set(digest) <= _HEX64:
        raise ConfigurationError(
            f"{where}.sha256",
            "is not a lower-case SHA-256 hex digest",
            "create one with `unipost serve --new-token publish,read`",
        )
    scopes = entry.get("scopes")
    known = ", ".join(s.value for s in Scope)
    if not isinstance(scopes, list) or not scopes:
        raise ConfigurationError(f"{where}.scopes", "is missing or empty", f"list some of {known}")
    try:
        parsed = frozenset(Scope(s) for s in scopes)
    except ValueError:
        raise ConfigurationError(
            f"{where}.scopes", f"{scopes!r} has an unknown scope", f"use {known}"
        ) from None
    return Token(name=name, sha256=digest, scopes=parsed)


def load_tokens(path: str | Path) -> tuple[Token, ...]:
    """Read a tokens file: ``[[tokens]]`` tables with ``name``, ``sha256`` and ``scopes``."""
    file = Path(path).expanduser()
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigurationError(
            "--tokens", f"{file} does not exist", "create it with `unipost serve --new-token ...`"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError("--tokens", f"{file} is not valid TOML: {exc}", "fix it") from None
    entries = data.get("tokens")
    if not isinstance(entries, list) or not entries:
        raise ConfigurationError(
            "--tokens", f"{file} has no [[tokens]]", "add one from `unipost serve --new-token`"
        )
    tokens = tuple(_token_from_toml(i, e) for i, e in enumerate(entries))
    names = [t.name for t in tokens]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConfigurationError("--tokens", f"name {duplicates[0]!r} is used twice", "rename one")
    return tokens


def token_entry(name: str, token: str, scopes: Sequence[Scope]) -> str:
    """The TOML a person pastes into the tokens file for ``token``."""
    listed = ", ".join(f'"{s.value}"' for s in scopes)
    return f'[[tokens]]\nname = "{name}"\nsha256 = "{hash_token(token)}"\nscopes = [{listed}]\n'


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@attrs.frozen(kw_only=True)
class ServeSettings:
    """Everything ``unipost serve`` needs besides the unipost config."""

    tokens: tuple[Token, ...]
    host: str = "127.0.0.1"
    port: int = 8750
    tls_cert: str | None = None
    tls_key: str | None = attrs.field(default=None, repr=False)
    #: A TLS-terminating proxy sits in front: a non-loopback bind without TLS is intended.
    behind_tls_proxy: bool = False
    max_body: int = 8 * 1024 * 1024
    #: How long ``POST /v1/posts`` waits before answering 202 (a request may ask for less).
    deadline: float = 10.0
    #: Deliver what the inline lane left over, in this process.
    worker: bool = True
    worker_poll: float = 1.0
    #: Browser origins allowed to call the API (CORS). Empty: CORS off.
    cors_origins: tuple[str, ...] = ()

    def __attrs_post_init__(self) -> None:
        if not self.tokens:
            raise ConfigurationError(
                "--tokens", "no token is configured", "create one with `unipost serve --new-token`"
            )
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ConfigurationError(
                "--tls-cert/--tls-key", "only one is given", "give both files, or neither"
            )
        if not is_loopback(self.host) and self.tls_cert is None and not self.behind_tls_proxy:
            raise ConfigurationError(
                "--host",
                f"{self.host} is reachable from other machines, and TLS is off",
                "give --tls-cert and --tls-key, or --behind-tls-proxy if a proxy terminates TLS",
            )
        if self.max_body < 1024:
            raise ConfigurationError("--max-body", "is below 1024 bytes", "allow at least 1 KiB")
        if not 0 <= self.deadline <= 300:
            raise ConfigurationError("--deadline", "must be 0 to 300 seconds", "use e.g. 10")
        if "*" in self.cors_origins:
            raise ConfigurationError(
                "--cors-origin", "'*' would let any site use a token", "name each origin"
            )

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None

    def token_for(self, presented: str) -> Token | None:
        """The configured token matching ``presented``; every entry is compared (constant work)."""
        found = None
        for token in self.tokens:
            if token.matches(presented):
                found = token
        return found
