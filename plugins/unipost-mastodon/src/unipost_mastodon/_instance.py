"""What an instance says about itself: its limits, and whether it honours Idempotency-Key.

Many servers speak the Mastodon API. Mastodon itself (and its forks that keep
its code) and Pleroma/Akkoma keep an ``Idempotency-Key`` for an hour, so a
resend with the same key cannot post twice; others accept the header and
ignore it (Pixelfed documents the deviation; GoToSocial and Takahe have had
open requests for it). The software is read from the instance endpoint, and
anything not known to honour the key is reconciled by reading the account's
statuses back instead.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import attrs

__all__ = ["InstanceFacts", "InstanceLimits", "key_problem", "read_facts"]

#: Servers that keep Idempotency-Key on ``POST /api/v1/statuses`` (named in their version).
HONOURING = frozenset({"pleroma", "akkoma"})
_COMPATIBLE = re.compile(r"\(compatible; ([^)]+)\)")
_RELEASE = re.compile(r"[1-9]\d*\.\d+")


@attrs.frozen(kw_only=True)
class InstanceLimits:
    """What ``/api/v2/instance`` says (``configuration.statuses``)."""

    max_characters: int
    max_media_attachments: int
    characters_reserved_per_url: int
    software: str = "unknown version"


@attrs.frozen(kw_only=True)
class InstanceFacts:
    """An instance's limits (None when it publishes none) and why its keys cannot be trusted."""

    limits: InstanceLimits | None = None
    #: None when the server honours Idempotency-Key, else the reason it is not trusted.
    key_problem: str | None = None


def key_problem(body: Mapping[str, Any]) -> str | None:
    """None for software known to honour Idempotency-Key, else why it is not trusted."""
    version = str(body.get("version") or "").strip()
    source = str(body.get("source_url") or "").strip().rstrip("/")
    compatible = _COMPATIBLE.search(version)
    if compatible:
        software = compatible.group(1)
        if software.split()[0].lower() in HONOURING:
            return None
        return f"{software} is not known to honour Idempotency-Key"
    if source and not source.endswith("/mastodon"):
        name = source.rsplit("/", 1)[-1]
        return f"{name} {version}".strip() + " is not known to honour Idempotency-Key"
    if _RELEASE.match(version):
        return None  # Mastodon (its forks keep the source name and the key store)
    return "the server does not say which software it runs, so its Idempotency-Key is not trusted"


def read_facts(body: Any) -> InstanceFacts:
    """The facts in an instance document (v2, or v1 from servers without v2)."""
    if not isinstance(body, Mapping):
        return InstanceFacts(key_problem=key_problem({}))
    return InstanceFacts(limits=_limits(body), key_problem=key_problem(body))


def _limits(body: Mapping[str, Any]) -> InstanceLimits | None:
    try:
        statuses = body["configuration"]["statuses"]
        return InstanceLimits(
            max_characters=int(statuses["max_characters"]),
            max_media_attachments=int(statuses["max_media_attachments"]),
            characters_reserved_per_url=int(statuses["characters_reserved_per_url"]),
            software=f"version {body['version']}" if body.get("version") else "unknown version",
        )
    except (ValueError, KeyError, TypeError):
        return None
