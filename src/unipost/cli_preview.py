"""``unipost preview``: everything each channel will do with a post, nothing sent."""

from __future__ import annotations

import argparse
from typing import Any

import attrs

from unipost import routes as routing
from unipost.cli_output import emit
from unipost.cli_post import read_post, read_route, roles
from unipost.config import Config
from unipost.errors import (
    UsageError,
)
from unipost.models import Post
from unipost.planning import make_plan
from unipost.redact import redact
from unipost.routes import Route


def media_lines(post: Post) -> list[dict[str, Any]]:
    shown = []
    for index, item in enumerate(post.media, 1):
        name = item.filename or (item.path.name if item.path else None) or item.url or "media"
        shown.append(
            {
                "n": index,
                "name": str(name),
                "type": item.mime_type,
                "bytes": item.size,
                "alt": item.alt,
            }
        )
    return shown


def preview_of(channel_id: str, config: Config, post: Post, role: str) -> dict[str, Any]:
    """Everything one channel will do with the post, as data (printed or JSON)."""
    channel = config.inspect(channel_id)
    lacking = config.lacking().get(channel_id)
    entry: dict[str, Any] = {"role": role or None, "lacks": str(lacking) if lacking else None}
    if channel is None:
        entry["type"] = config.type_of(channel_id)
        entry["error"] = "cannot be shown without its secrets"
        return entry
    entry["type"] = channel.name
    prepared = channel.prepare(post)
    caps = channel.capabilities
    shown = prepared.post
    entry["parts"] = list(prepared.parts)
    changes = [attrs.asdict(c) for c in prepared.changes]
    if shown.title:
        if caps.title:
            entry["title"] = shown.title
        elif not any(c["kind"] == "title" for c in changes):
            changes.insert(
                0, {"kind": "title", "detail": "the title leads the text (no title field)"}
            )
    subject = getattr(channel, "subject", None)
    if callable(subject):
        try:
            entry["subject"] = str(subject(prepared))
        except Exception:  # a channel's own helper; the preview goes on without it
            entry["subject"] = None
    entry["media"] = media_lines(shown)
    if shown.link and caps.link_cards:
        entry["link_card"] = shown.link
    entry["changes"] = changes
    return entry


def cmd_preview(args: argparse.Namespace, config: Config) -> int:
    post = read_post(args)
    route = read_route(config, args.to)
    places = roles(route)
    shown: dict[str, dict[str, Any]] = {}
    rejected: dict[str, str] = {}
    for _path, leaf in routing.leaves(route):
        try:
            shown[leaf.channel] = preview_of(leaf.channel, config, post, places[leaf.channel])
        except UsageError as exc:
            rejected[leaf.channel] = redact(str(exc))
    warnings = route_warnings(config, post, route)
    if args.json:
        emit(
            {
                "route": routing.describe(route),
                "warnings": warnings,
                "prepared": shown,
                "rejected": rejected,
                "lacking": {k: str(v) for k, v in config.lacking().items()},
            }
        )
        return 0
    print(f"route: {routing.describe(route)} (nothing is sent)")
    for name, entry in shown.items():
        role = f" · {entry['role']}" if entry.get("role") else ""
        print(f"── {name} ({entry['type']}){role}")
        if entry.get("lacks"):
            print(f"   ! cannot send yet: {entry['lacks']}")
        if entry.get("error"):
            print(f"   {entry['error']}")
            continue
        if entry.get("subject") is not None:
            print(f"   subject: {entry['subject']}")
        if entry.get("title"):
            print(f"   title (headline): {entry['title']}")
        parts = entry["parts"]
        for index, part in enumerate(parts, 1):
            label = f"[{index}/{len(parts)}] " if len(parts) > 1 else ""
            print("   " + label + part.replace("\n", "\n   "))
        for item in entry["media"]:
            size = f", {item['bytes'] // 1024 or 1} kB" if item["bytes"] else ""
            alt = f"alt: {item['alt']!r}" if item["alt"] else "no alt text"
            print(f"   image {item['n']}: {item['name']} ({item['type']}{size}), {alt}")
        if entry.get("link_card"):
            print(f"   link card: {entry['link_card']}")
        for change in entry["changes"]:
            print(f"   · {change['kind']}: {change['detail']}")
    for name, error in rejected.items():
        print(f"── {name}: cannot publish: {error}")
    for warning in warnings:
        print(f"warning: {warning}")
    return 0


def route_warnings(config: Config, post: Post, route: Route) -> list[str]:
    """The planner's own warnings (shared failure domains), when every channel can be shown."""
    channels = {leaf.channel: config.inspect(leaf.channel) for _p, leaf in routing.leaves(route)}
    shown = {k: v for k, v in channels.items() if v is not None}
    if len(shown) < len(channels):
        return []
    return list(make_plan(shown, post, route).warnings)
