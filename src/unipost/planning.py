"""Planning a publication: render every target once, refuse what cannot work, open records.

Everything here is decided before anything is sent: ``prepare`` runs once
per channel (pure), a route that no alternative can satisfy is refused with
the reasons, and the records are written with their delivery keys. The plan
keeps the prepared payloads and the route object for the route walker.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from collections.abc import Mapping
from typing import Any

import attrs

from unipost import lifecycle
from unipost import routes as routing
from unipost.channel import Channel, Prepared
from unipost.errors import ContentRejected, UnknownChannel, UsageError
from unipost.models import Media, Post
from unipost.outbox import Publication, Record, Store
from unipost.routes import AllOf, FirstOf, Leaf, Route
from unipost.spool import media_name

__all__ = [
    "Plan",
    "SharedFailureDomainWarning",
    "delivery_key",
    "make_plan",
    "open_publication",
    "require_viable",
]


class SharedFailureDomainWarning(UserWarning):
    """Alternatives of one ``first_of`` fail together (Instagram is no fallback for Facebook)."""


@attrs.frozen(kw_only=True)
class Plan:
    """What ``preview`` shows and ``publish`` sends: each target rendered, or why it cannot be."""

    route: Route
    prepared: Mapping[str, Prepared]
    rejected: Mapping[str, ContentRejected]
    warnings: tuple[str, ...]


def channel_named(channels: Mapping[str, Channel], channel_id: str) -> Channel:
    try:
        return channels[channel_id]
    except KeyError:
        known = ", ".join(sorted(channels)) or "none configured"
        raise UnknownChannel(
            "to",
            f"no channel named {channel_id!r}",
            f"configure [channels.{channel_id}] in unipost.toml, or use one of: {known}",
        ) from None


def make_plan(channels: Mapping[str, Channel], post: Post, to: Any) -> Plan:
    """Render ``post`` for every target of ``to``; pure, no I/O (``unipost preview``)."""
    route = routing.as_route(to)
    seen: set[str] = set()
    prepared: dict[str, Prepared] = {}
    rejected: dict[str, ContentRejected] = {}
    for _path, leaf in routing.leaves(route):
        if leaf.channel in seen:
            raise UsageError(
                "to", f"{leaf.channel!r} appears twice in the route", "name each channel once"
            )
        seen.add(leaf.channel)
        channel = channel_named(channels, leaf.channel)
        try:
            prepared[leaf.channel] = channel.prepare(post)
        except ContentRejected as exc:
            rejected[leaf.channel] = exc
    return Plan(
        route=route,
        prepared=prepared,
        rejected=rejected,
        warnings=tuple(_domain_warnings(channels, route)),
    )


def _domain_warnings(channels: Mapping[str, Channel], route: Route) -> list[str]:
    found: list[str] = []
    if isinstance(route, Leaf):
        return found
    if isinstance(route, FirstOf):
        owners: dict[str, str] = {}
        for child in route.targets:
            for _p, leaf in routing.leaves(child):
                domain = channels[leaf.channel].failure_domain
                if domain in owners and owners[domain] != leaf.channel:
                    found.append(
                        f"{routing.describe(route)}: {owners[domain]} and {leaf.channel} share the "
                        f"failure domain {domain!r}, so one outage takes out both; add an "
                        "alternative outside it"
                    )
                owners.setdefault(domain, leaf.channel)
    for child in route.targets:
        found.extend(_domain_warnings(channels, child))
    return found


def require_viable(route: Route, plan: Plan) -> None:
    """Raise the rejection when no way through ``route`` is left (nothing is sent then)."""
    if isinstance(route, Leaf):
        if route.channel in plan.rejected:
            raise plan.rejected[route.channel]
        return
    if isinstance(route, AllOf):
        for child in route.targets:
            require_viable(child, plan)
        return
    problems: list[ContentRejected] = []
    for child in route.targets:
        try:
            require_viable(child, plan)
        except ContentRejected as exc:
            problems.append(exc)
        else:
            return
    raise ContentRejected(
        "to",
        f"the post fits none of {routing.describe(route)}: " + "; ".join(str(p) for p in problems),
        problems[0].fix,
    )


def delivery_key(secret: bytes, post_id: str, channel_id: str, revision: int) -> str:
    """``up1-`` + 32 base32 characters of an HMAC: stable, unguessable, free of PII.

    The secret belongs to the outbox, so another project's outbox can never
    answer for this one's posts.
    """
    message = f"{post_id}\x1f{channel_id}\x1f{revision}".encode()
    digest = hmac.new(secret, message, hashlib.sha256).digest()
    return "up1-" + base64.b32encode(digest).decode().rstrip("=").lower()[:32]


def _spool(store: Store, post: Post) -> Post:
    """Media given as bytes go to the store, which keeps them where its workers can read them."""
    if not any(m.data is not None and m.path is None for m in post.media):
        return post
    media: list[Media] = []
    for item in post.media:
        if item.data is not None and item.path is None:
            path = store.spool_media(media_name(item.data, item.filename), item.data)
            item = attrs.evolve(item, path=path, data=None)
        media.append(item)
    return attrs.evolve(post, media=tuple(media))


def open_publication(
    store: Store, post: Post, plan: Plan, now: float
) -> tuple[Publication, list[Record]]:
    """Write the publication and one record per target (or find the ones written before).

    Raises the content rejection when no way through the route is left.
    """
    require_viable(plan.route, plan)
    start = max(now, post.publish_at.timestamp()) if post.publish_at else now
    ttl_at = start + post.ttl.total_seconds()
    publication = Publication(
        id=uuid.uuid4().hex,
        post_id=post.id,
        revision=post.revision,
        content_hash=post.content_hash(),
        post=_spool(store, post).to_dict(),
        route=routing.to_dict(plan.route),
        created_at=now,
    )
    secret = store.secret()
    records = []
    for path, leaf in routing.leaves(plan.route):
        record = Record(
            id=uuid.uuid4().hex,
            publication_id=publication.id,
            post_id=post.id,
            revision=post.revision,
            channel=leaf.channel,
            path=path,
            delivery_key=delivery_key(secret, post.id, leaf.channel, post.revision),
            ttl_at=ttl_at,
            next_attempt_at=start,
            created_at=now,
            updated_at=now,
        )
        rejection = plan.rejected.get(leaf.channel)
        if rejection is not None:
            lifecycle.apply(record, lifecycle.rejected(str(rejection)), now)
        records.append(record)
    return store.open_publication(publication, records)
