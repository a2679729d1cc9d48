"""``unipost``: publish, preview, inspect plugins and channels, operate the outbox.

Human-readable output by default, ``--json`` for scripts (errors included). Exit codes:
0 succeeded, 1 failed, 2 usage error, 3 partial, 4 pending, 5 ambiguous.
A user mistake prints one line naming the problem and the fix, never a traceback;
so does a closed pipe (``unipost outbox list --json | head -1``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import attrs
from rich.console import Console

from unipost import routes as routing
from unipost.api import build_dispatcher
from unipost.config import Config, load_config
from unipost.dispatcher import Dispatcher
from unipost.errors import (
    DeliveryError,
    InvalidPost,
    PluginError,
    StoreError,
    UnipostError,
    UsageError,
)
from unipost.models import Media, Post
from unipost.outbox import Attempt, Record, State, Store
from unipost.planning import make_plan
from unipost.plugins import default_host
from unipost.progress import EventSink, PublishProgress, WorkerLog
from unipost.redact import redact
from unipost.report import Report, ReportStatus
from unipost.routes import FirstOf, Leaf, Route

__all__ = ["main"]

EXIT = {
    ReportStatus.SUCCEEDED: 0,
    ReportStatus.FAILED: 1,
    ReportStatus.PARTIAL: 3,
    ReportStatus.PENDING: 4,
    ReportStatus.AMBIGUOUS: 5,
}
USAGE_ERROR = 2
BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a writer whose reader left
LOG_LEVELS = ("debug", "info", "warning", "error")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse's own exit code is 2 as well
        raise UsageError("command line", message, f"see `{self.prog} --help`")


def _number(
    flag: str, *, kind: type[int] | type[float] = float, minimum: float = 0.0, strict: bool = True
) -> Callable[[str], float]:
    """An argparse type: a finite number above (or at least) ``minimum``, named in the error."""

    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            word = "a whole number" if kind is int else "a number"
            raise argparse.ArgumentTypeError(f"{flag} must be {word}, not {text!r}") from None
        if value != value or value in (float("inf"), float("-inf")):
            raise argparse.ArgumentTypeError(f"{flag} must be a finite number, not {text!r}")
        if value < minimum or (strict and value == minimum):
            bound = f"above {minimum:g}" if strict else f"at least {minimum:g}"
            raise argparse.ArgumentTypeError(f"{flag} must be {bound}, not {text!r}")
        return value

    return parse


def _common(parser: argparse.ArgumentParser, *, top: bool) -> None:
    """Flags accepted before or after the command (``unipost publish ... --json``)."""
    default: Any = None if top else argparse.SUPPRESS
    parser.add_argument(
        "--json",
        action="store_true",
        default=False if top else argparse.SUPPRESS,
        help="machine-readable output: JSON (one object, or JSON lines for worker); errors too",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0 if top else argparse.SUPPRESS,
        help="log what the dispatcher does to stderr (-v: info, -vv: debug)",
    )
    parser.add_argument(
        "--log-level",
        choices=LOG_LEVELS,
        default=default,
        help="log level for the unipost logger on stderr (overrides -v)",
    )


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="unipost", description="Publish one post to many channels.")
    parser.add_argument(
        "--config",
        metavar="PATH",
        help="path to unipost.toml (default: ./unipost.toml or $UNIPOST_CONFIG)",
    )
    _common(parser, top=True)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def post_arguments(p: argparse.ArgumentParser) -> None:
        p.add_argument("text", nargs="?", help="the text of the post")
        p.add_argument(
            "--title",
            help="a title: a headline on the site and the e-mail subject; elsewhere it leads the text",
        )
        p.add_argument(
            "--link",
            metavar="URL",
            help="a link (https://...); appended where a platform has no link field",
        )
        p.add_argument(
            "--image",
            action="append",
            default=[],
            metavar="PATH",
            help="attach an image or video file (repeatable)",
        )
        p.add_argument(
            "--alt",
            action="append",
            default=[],
            metavar="TEXT",
            help="alt text for the --image before it (one per --image)",
        )
        p.add_argument(
            "--tag", action="append", default=[], help="a tag (repeatable); #hashtags where used"
        )
        p.add_argument(
            "--to",
            action="append",
            default=[],
            metavar="TARGETS",
            help="channels (comma-separated) or a route name from unipost.toml (repeatable: "
            "--to a --to b sends to both)",
        )
        p.add_argument(
            "--id", help="a stable post id: publishing the same id again does not post twice"
        )
        p.add_argument(
            "--language", metavar="TAG", help="the post's language as a BCP 47 tag (en, de-AT)"
        )

    publish = sub.add_parser("publish", help="publish a post")
    post_arguments(publish)
    publish.add_argument(
        "--at",
        metavar="TIME",
        help="publish later: ISO 8601 with a zone (2026-12-24T09:00+01:00) or Unix seconds; "
        "returns at once, `unipost worker` sends it",
    )
    publish.add_argument(
        "--deadline",
        metavar="SECONDS",
        type=_number("--deadline", strict=False),
        help="seconds to wait before returning (default 30; 0 returns at once); "
        "the rest stays in the outbox for `unipost worker`",
    )
    preview = sub.add_parser("preview", help="show how a post renders per channel; nothing is sent")
    post_arguments(preview)
    sub.add_parser("plugins", help="installed plugins, their versions and channel types")
    sub.add_parser("channels", help="configured channels, routes, and which lack secrets")
    check = sub.add_parser("check", help="check credentials and reachability")
    check.add_argument("channel", nargs="*", help="channels to check (default: all)")
    outbox = sub.add_parser("outbox", help="inspect and operate the outbox")
    osub = outbox.add_subparsers(dest="action", required=True, parser_class=_Parser)
    listing = osub.add_parser("list", help="list records, oldest first")
    listing.add_argument(
        "--state",
        action="append",
        default=[],
        choices=[s.value for s in State],
        help="only records in this state (repeatable)",
    )
    listing.add_argument("--channel", help="only records of this channel")
    listing.add_argument("--post", metavar="ID", help="only records of this post id")
    listing.add_argument(
        "--limit",
        type=_number("--limit", kind=int, minimum=1, strict=False),
        default=1000,
        metavar="N",
        help="at most N records (default 1000)",
    )
    show = osub.add_parser("show", help="one record and its attempts, or a post's report")
    show.add_argument("target", help="a record id or a post id")
    retry = osub.add_parser("retry", help="send a failed, expired or waiting record again now")
    retry.add_argument("record", help="the record id (from `unipost outbox list`)")
    cancel = osub.add_parser("cancel", help="cancel what is not delivered of a post")
    cancel.add_argument("target", help="a post id, or one record id")
    cancel.add_argument("--channel", help="only this channel's record of the post")
    resolve = osub.add_parser(
        "resolve", help="settle an ambiguous record after checking the platform"
    )
    resolve.add_argument("record", help="the ambiguous record's id")
    group = resolve.add_mutually_exclusive_group(required=True)
    group.add_argument("--delivered", action="store_true", help="it was published")
    group.add_argument("--not-delivered", action="store_true", help="it was not: send it again")
    resolve.add_argument("--url", help="where it was published")
    resolve.add_argument("--platform-id", help="the platform's id of the post")
    worker = sub.add_parser("worker", help="deliver due records until stopped (Ctrl-C)")
    worker.add_argument(
        "--once", action="store_true", help="deliver what is due now, then exit (for cron)"
    )
    worker.add_argument(
        "--poll",
        type=_number("--poll"),
        default=1.0,
        metavar="SECONDS",
        help="seconds between looks at the outbox when nothing is due (default 1)",
    )
    for command in [*sub.choices.values(), *osub.choices.values()]:
        _common(command, top=False)
    return parser


# -- reading the post -----------------------------------------------------------------------


def _moment(text: str, now: float) -> dt.datetime:
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


def _media(args: argparse.Namespace) -> list[Media]:
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


def _post(args: argparse.Namespace) -> Post:
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
        extra["publish_at"] = _moment(at, time.time())
    try:
        return Post(
            text=args.text,
            title=args.title,
            link=args.link,
            media=_media(args),
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


def _route(config: Config, to: Sequence[str]) -> Route:
    names = [part.strip() for item in to for part in item.split(",")]
    if to and not any(names):
        raise UsageError("--to", "is empty", "name a channel or a route, e.g. --to site")
    names = [n for n in names if n]
    if not names:
        return config.route(None)
    if len(names) == 1:
        return config.route(names[0])
    return config.route(names)


def _roles(route: Route) -> dict[str, str]:
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


# -- output -----------------------------------------------------------------------------


def _emit(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str))


def _print_report(report: Report, as_json: bool) -> None:
    if as_json:
        print(report.to_json(indent=2))
        return
    print(report.head())
    for outcome in report.outcomes:
        print("  " + outcome.line())
        for key, value in outcome.extra.items():
            shown = ", ".join(map(str, value)) if isinstance(value, list) else value
            print(f"      {key}: {shown}")
        for index, recipient in enumerate(outcome.recipients, 1):
            mark = "✓" if recipient.ok else "✗"
            print(f"      {mark} #{index} {recipient.recipient} {recipient.reason or ''}".rstrip())
    for warning in report.warnings:
        print(f"  warning: {warning}")


def _cmd_publish(
    args: argparse.Namespace, config: Config, dispatcher: Dispatcher, sink: EventSink
) -> int:
    post = _post(args)
    route = _route(config, args.to)
    if post.publish_at is not None:
        report = dispatcher.enqueue(post, route)
        when = post.publish_at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        if args.json:
            _emit({**report.to_dict(), "scheduled_for": post.publish_at.isoformat()})
        elif report.replayed:
            print(report)
        else:
            print(f"post {report.post_id}: scheduled for {when} ({post.publish_at.isoformat()})")
            for outcome in report.outcomes:
                print(f"  … {outcome.channel:<14} scheduled")
            print("  `unipost worker` publishes it then; see it with `unipost outbox show`")
        return 0
    progress: PublishProgress | None = None
    if not args.json and sys.stderr.isatty():
        console = Console(file=sys.stderr)
        channels = [leaf.channel for _p, leaf in routing.leaves(route)]
        progress = PublishProgress(channels, _roles(route), console)
        sink.target = progress
    try:
        if progress is not None:
            with progress:
                report = dispatcher.publish(post, route, deadline=args.deadline)
        else:
            report = dispatcher.publish(post, route, deadline=args.deadline)
    finally:
        sink.target = None
    _print_report(report, args.json)
    return EXIT[report.status]


def _media_lines(post: Post) -> list[dict[str, Any]]:
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


def _preview_of(channel_id: str, config: Config, post: Post, role: str) -> dict[str, Any]:
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
    entry["media"] = _media_lines(shown)
    if shown.link and caps.link_cards:
        entry["link_card"] = shown.link
    entry["changes"] = changes
    return entry


def _cmd_preview(args: argparse.Namespace, config: Config) -> int:
    post = _post(args)
    route = _route(config, args.to)
    roles = _roles(route)
    shown: dict[str, dict[str, Any]] = {}
    rejected: dict[str, str] = {}
    for _path, leaf in routing.leaves(route):
        try:
            shown[leaf.channel] = _preview_of(leaf.channel, config, post, roles[leaf.channel])
        except UsageError as exc:
            rejected[leaf.channel] = redact(str(exc))
    warnings = _route_warnings(config, post, route)
    if args.json:
        _emit(
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


def _route_warnings(config: Config, post: Post, route: Route) -> list[str]:
    """The planner's own warnings (shared failure domains), when every channel can be shown."""
    channels = {leaf.channel: config.inspect(leaf.channel) for _p, leaf in routing.leaves(route)}
    shown = {k: v for k, v in channels.items() if v is not None}
    if len(shown) < len(channels):
        return []
    return list(make_plan(shown, post, route).warnings)


def _cmd_plugins(args: argparse.Namespace) -> int:
    infos = default_host().plugins()
    if args.json:
        _emit([attrs.asdict(i) for i in infos])
        return 0
    rows = [
        (
            info.name,
            "built-in" if info.builtin else info.distribution,
            info.version,
            f"BROKEN: {info.error}" if info.error else ", ".join(info.channels),
        )
        for info in infos
    ]
    widths = [max((len(row[i]) for row in rows), default=0) for i in range(3)]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False))
            + "  "
            + row[3]
        )
    return 0


def _cmd_channels(args: argparse.Namespace, config: Config) -> int:
    lacking = config.lacking()
    rows = []
    for cid in config.channels:
        channel = config.inspect(cid)
        rows.append(
            {
                "id": cid,
                "type": channel.name if channel is not None else config.type_of(cid),
                # A stand-in's domain may come from a placeholder (a webhook's URL is its secret).
                "failure_domain": None
                if channel is None or cid in lacking
                else channel.failure_domain,
                "text_limit": channel.capabilities.text_limit if channel is not None else None,
                "unit": channel.capabilities.text_unit.value if channel is not None else None,
                "lacks": redact(str(lacking[cid])) if cid in lacking else None,
            }
        )
    if args.json:
        _emit({"source": config.source, "channels": rows, "routes": sorted(config.routes)})
        return 0
    print(f"from {config.source}")
    for row in rows:
        line = f"{row['id']:<16} {row['type']:<12} domain {row['failure_domain'] or '?'}"
        if row["lacks"]:
            line += f"  — cannot send: {row['lacks']}"
        print(line)
    for name in sorted(config.routes):
        print(f"route {name}: {routing.describe(config.routes[name])}")
    return 0


def _cmd_check(args: argparse.Namespace, config: Config, dispatcher: Dispatcher) -> int:
    results: dict[str, str] = {}
    failed = False
    for channel_id in args.channel or list(config.channels):
        try:
            results[channel_id] = "ok: " + dispatcher.check(channel_id)
        except (DeliveryError, UsageError) as exc:
            failed = True
            results[channel_id] = f"failed: {redact(str(exc))}"
    if args.json:
        _emit(results)
    else:
        for channel_id, result in results.items():
            print(f"{channel_id:<16} {result}")
    return 1 if failed else 0


def _when(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def _record_json(record: Record) -> dict[str, Any]:
    data = {**attrs.asdict(record), "state": record.state.value}
    if data.get("last_error"):
        data["last_error"] = redact(data["last_error"])
    return data


def _find_record(store: Store, record_id: str) -> Record | None:
    try:
        return store.record(record_id)
    except StoreError:
        return None


def _attempt_json(attempt: Attempt) -> dict[str, Any]:
    data = attrs.asdict(attempt)
    if data.get("message"):
        data["message"] = redact(data["message"])
    return data


def _print_attempts(attempts: Sequence[Attempt], label: str) -> None:
    for attempt in attempts:
        result = attempt.error_class or "ok"
        status = f" HTTP {attempt.http_status}" if attempt.http_status else ""
        print(
            f"      {label}#{attempt.n} {_when(attempt.started_at)} "
            f"{attempt.duration * 1000:.0f} ms {result}{status} {redact(attempt.message or '')}".rstrip()
        )


def _show_record(record: Record, store: Store, as_json: bool) -> int:
    attempts = store.attempts(record.id)
    if as_json:
        _emit({**_record_json(record), "log": [_attempt_json(a) for a in attempts]})
        return 0
    print(
        f"record {record.id}: post {record.post_id} revision {record.revision} → {record.channel}"
    )
    print(f"  state {record.state.value}, {record.attempts} attempt(s), key {record.delivery_key}")
    if not record.state.terminal:
        print(f"  next attempt {_when(record.next_attempt_at)} UTC, TTL {_when(record.ttl_at)} UTC")
    if record.url or record.platform_id:
        print(f"  published: {record.url or record.platform_id}")
    if record.last_error:
        print(f"  last: {record.last_class or ''} {redact(record.last_error)}")
    for index, recipient in enumerate(record.recipients, 1):
        mark = "✓" if recipient.get("ok") else "✗"
        print(
            f"  {mark} #{index} {recipient.get('recipient')} {recipient.get('reason') or ''}".rstrip()
        )
    _print_attempts(attempts, "")
    return 0


def _cmd_outbox(args: argparse.Namespace, config: Config, dispatcher: Dispatcher) -> int:
    store = dispatcher.store
    if args.action == "list":
        records = store.query(
            states=[State(s) for s in args.state],
            channel=args.channel,
            post_id=args.post,
            limit=args.limit,
        )
        if args.json:
            _emit([_record_json(r) for r in records])
            return 0
        for r in records:
            detail = r.url or (redact(r.last_error) if r.last_error else "")
            print(
                f"{r.id}  {r.post_id:<20} {r.channel:<14} {r.state.value:<11} "
                f"attempts {r.attempts}  {detail}".rstrip()
            )
        print(f"{len(records)} record(s) in {store.location}")
        _say_lacking(config)
        return 0
    if args.action == "show":
        record = _find_record(store, args.target)
        if record is not None:
            return _show_record(record, store, args.json)
        report = dispatcher.report(args.target)
        if args.json:
            print(report.to_json(indent=2))
            return 0
        print(report)
        for outcome in report.outcomes:
            _print_attempts(outcome.attempts, f"{outcome.channel} ")
        return 0
    if args.action == "cancel":
        record = _find_record(store, args.target)
        if record is not None:
            count = dispatcher.cancel(record.post_id, record.channel)
        else:
            count = dispatcher.cancel(args.target, args.channel)
        return _done(args, {"cancelled": count}, f"cancelled {count} record(s)")
    if args.action == "retry":
        record = dispatcher.retry(args.record)
        return _done(
            args,
            {"record": record.id, "state": record.state.value},
            f"{record.id} will be sent again by the worker",
        )
    record = dispatcher.resolve(
        args.record, delivered=args.delivered, platform_id=args.platform_id, url=args.url
    )
    return _done(
        args,
        {"record": record.id, "state": record.state.value},
        f"{record.id} is now {record.state.value}",
    )


def _done(args: argparse.Namespace, data: dict[str, Any], line: str) -> int:
    if args.json:
        _emit(data)
    else:
        print(line)
    return 0


def _say_lacking(config: Config) -> None:
    for channel_id, missing in config.lacking().items():
        print(f"note: {channel_id} cannot send yet: {redact(str(missing))}", file=sys.stderr)


def _cmd_worker(
    args: argparse.Namespace, config: Config, dispatcher: Dispatcher, sink: EventSink
) -> int:
    mode = "json" if args.json else "rich" if sys.stdout.isatty() else "plain"
    log = WorkerLog(mode, sys.stdout)
    sink.target = log
    for channel_id, missing in config.lacking().items():
        log.line(
            f"note: {channel_id} cannot send until its secret is set; its records wait "
            f"({redact(str(missing))})",
            channel=channel_id,
        )

    async def run() -> None:
        try:
            if args.once:
                moved = 0
                while True:
                    step = await dispatcher.arun_due()
                    if not step:
                        break
                    moved += step
                counts = log.counts
                log.line(
                    f"worker --once: {moved} publication(s) advanced, "
                    f"{counts.get('ok', 0)} delivered, {counts.get('defer', 0)} deferred, "
                    f"{counts.get('bad', 0)} failed or held"
                    if moved
                    else "worker --once: nothing due",
                    advanced=moved,
                    delivered=counts.get("ok", 0),
                    deferred=counts.get("defer", 0),
                    failed=counts.get("bad", 0),
                )
                return
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            log.line(
                f"worker delivering from {dispatcher.store.location} (Ctrl-C to stop)",
                outbox=dispatcher.store.location,
            )
            await dispatcher.arun_worker(stop=stop, poll=args.poll)
            log.line("worker stopped")
        finally:
            await dispatcher.aclose()

    try:
        asyncio.run(run())
    finally:
        sink.target = None
    return 0


# -- the entry point ----------------------------------------------------------------------


@contextlib.contextmanager
def _logging(args: argparse.Namespace) -> Iterator[None]:
    """``-v``/``--log-level``: the ``unipost`` logger to stderr for this command only."""
    level_name = getattr(args, "log_level", None)
    verbose = getattr(args, "verbose", 0) or 0
    if level_name:
        level = getattr(logging, level_name.upper())
    elif verbose:
        level = logging.DEBUG if verbose > 1 else logging.INFO
    else:
        yield
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("unipost")
    before = logger.level
    logger.addHandler(handler)
    logger.setLevel(level)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(before)


def _fail(exc: BaseException, code: int, as_json: bool) -> int:
    message = redact(str(exc)) if str(exc) else type(exc).__name__
    if as_json:
        error: dict[str, Any] = {"type": type(exc).__name__, "message": message}
        if isinstance(exc, UsageError):
            error.update(field=redact(exc.field), problem=redact(exc.problem), fix=redact(exc.fix))
        print(json.dumps({"error": error, "exit_code": code}, indent=2))
    else:
        print(f"unipost: {message}", file=sys.stderr)
    return code


def _run(argv: Sequence[str], as_json: bool) -> int:
    try:
        args = _parser().parse_args(argv)
        as_json = args.json
        with _logging(args):
            return _command(args)
    except UsageError as exc:
        return _fail(exc, USAGE_ERROR, as_json)
    except (PluginError, StoreError) as exc:
        return _fail(exc, 1, as_json)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        raise
    except (UnipostError, Exception) as exc:  # a bug, not the user's: still one line
        logging.getLogger("unipost").debug("unexpected error", exc_info=True)
        return _fail(
            RuntimeError(f"unexpected {type(exc).__name__}: {exc} (run with -vv for details)"),
            1,
            as_json,
        )


def _command(args: argparse.Namespace) -> int:
    if args.command == "plugins":
        return _cmd_plugins(args)
    config = load_config(args.config)
    if args.command == "preview":
        return _cmd_preview(args, config)
    if args.command == "channels":
        return _cmd_channels(args, config)
    sink = EventSink()
    dispatcher = build_dispatcher(config, observers=[sink])
    try:
        if args.command == "publish":
            return _cmd_publish(args, config, dispatcher, sink)
        if args.command == "check":
            return _cmd_check(args, config, dispatcher)
        if args.command == "outbox":
            return _cmd_outbox(args, config, dispatcher)
        return _cmd_worker(args, config, dispatcher, sink)
    finally:
        dispatcher.close()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``unipost`` command."""
    words = list(sys.argv[1:] if argv is None else argv)
    as_json = "--json" in words[: words.index("--")] if "--" in words else "--json" in words
    try:
        code = _run(words, as_json)
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        # The reader left (`| head -1`): stop quietly, and keep Python from complaining at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return BROKEN_PIPE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
