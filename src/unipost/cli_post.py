"""The CLI's post: ``publish``/``preview`` arguments read into a Post and a route, checked first."""

from __future__ import annotations

import argparse
import datetime as dt
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from unipost import routes as routing
from unipost.config import Config
from unipost.errors import (
    InvalidPost,
    UsageError,
)
from unipost.models import Media, Post
from unipost.routes import FirstOf, Leaf, Route


def parse_at(text: str, now: float) -> dt.datetime:
    """``--at``: ISO 8601 with a zone, or Unix seconds; never empty, never in the past."""
    if not text.strip():
        raise UsageError(
            "--at", "is empty", "give a time such as 2026-12-24T09:00+01:00, or leave out --at"
        )
    try:
        moment = dt.datetime.fromtimestamp(float(text), dt.UTC)
    except (ValueError, OverflowError, OSError):
        try:
            moment = dt.datetime.fromisoformat(text.strip())
        except ValueError:
            raise UsageError(
                "--at",
                f"{text!r} is not an ISO 8601 time",
                "use e.g. 2026-12-24T09:00+01:00 (or Unix seconds)",
            ) from None
    if moment.tzinfo is None:
        raise UsageError(
            "--at",
            f"{text!r} has no time zone",
            f"add one, e.g. {text.strip()}+01:00 or {text.strip()}Z",
        )
    if moment.timestamp() < now:
        shown = moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        current = dt.datetime.fromtimestamp(now, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        raise UsageError(
            "--at",
            f"{shown} is in the past (it is now {current})",
            "give a future time, or leave out --at to publish now",
        )
    return moment


def media_of(args: argparse.Namespace) -> list[Media]:
    if len(args.alt) > len(args.image):
        raise UsageError("--alt", "more --alt than --image", "give one --alt after each --image")
    media = []
    for i, name in enumerate(args.image):
        path = Path(name).expanduser()
        if path.is_dir():
            raise UsageError(
                "--image",
                f"{name} is a directory",
                "give an image file, e.g. --image photos/shop.jpg",
            )
        media.append(Media.from_path(path, alt=args.alt[i] if i < len(args.alt) else None))
    return media


def read_post(args: argparse.Namespace) -> Post:
    if not (args.text or "").strip() and not args.image and not args.title and not args.link:
        raise UsageError(
            "TEXT",
            "the post is empty",
            'give its text (unipost publish "Open 9-5 today"), or --title, --link or --image',
        )
    extra: dict[str, Any] = {}
    if args.id is not None:
        if not args.id.strip():
            raise UsageError("--id", "is empty", "give a stable id such as hours-2026-12-01")
        extra["id"] = args.id
    at = getattr(args, "at", None)
    if at is not None:
        extra["publish_at"] = parse_at(at, time.time())
    try:
        return Post(
            text=args.text,
            title=args.title,
            link=args.link,
            media=media_of(args),
            tags=args.tag,
            language=args.language,
            **extra,
        )
    except InvalidPost as exc:
        flag = {
            "text": "TEXT",
            "post": "TEXT",
            "id": "--id",
            "tags": "--tag",
            "publish_at": "--at",
        }.get(exc.field, f"--{exc.field.split('.')[0].split('[')[0]}")
        raise InvalidPost(flag, exc.problem, exc.fix) from exc


def read_route(config: Config, to: Sequence[str]) -> Route:
    names = [part.strip() for item in to for part in item.split(",")]
    if to and not any(names):
        raise UsageError("--to", "is empty", "name a channel or a route, e.g. --to site")
    names = [n for n in names if n]
    if not names:
        return config.route(None)
    if len(names) == 1:
        return config.route(names[0])
    return config.route(names)


def roles(route: Route) -> dict[str, str]:
    """Each channel's place in a ``first_of``: ``primary`` or ``fallback N: only if ...``."""
    roles: dict[str, str] = {}

    def walk(node: Route, role: str) -> None:
        if isinstance(node, Leaf):
            roles[node.channel] = role
        elif isinstance(node, FirstOf):
            for i, child in enumerate(node.targets):
                if i == 0:
                    walk(child, role or "primary")
                else:
                    before = ", ".join(routing.describe(t) for t in node.targets[:i])
                    walk(child, f"fallback {i}: only if {before} does not deliver")
        else:
            for child in node.targets:
                walk(child, role)

    walk(route, "")
    return roles
