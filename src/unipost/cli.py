"""``unipost``: publish, preview, inspect plugins and channels, operate the outbox.

Human-readable output by default, ``--json`` for scripts. Exit codes:
0 succeeded, 1 failed, 2 usage error, 3 partial, 4 pending, 5 ambiguous.
A user mistake prints one line naming the problem and the fix, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import signal
import sys
from collections.abc import Sequence
from typing import Any

import attrs

from unipost.api import build_dispatcher
from unipost.config import Config, load_config
from unipost.dispatcher import Dispatcher
from unipost.errors import DeliveryError, PluginError, StoreError, UsageError
from unipost.models import Media, Post
from unipost.outbox import Attempt, Record, State, Store
from unipost.plugins import default_host
from unipost.redact import redact
from unipost.report import Report, ReportStatus

__all__ = ["main"]

EXIT = {
    ReportStatus.SUCCEEDED: 0,
    ReportStatus.FAILED: 1,
    ReportStatus.PARTIAL: 3,
    ReportStatus.PENDING: 4,
    ReportStatus.AMBIGUOUS: 5,
}
USAGE_ERROR = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse's own exit code is 2 as well
        raise UsageError("command line", message, f"see `{self.prog} --help`")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="unipost", description="Publish one post to many channels.")
    parser.add_argument(
        "--config", help="path to unipost.toml (default: ./unipost.toml or $UNIPOST_CONFIG)"
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def post_arguments(p: argparse.ArgumentParser) -> None:
        p.add_argument("text", nargs="?", help="the text of the post")
        p.add_argument("--title")
        p.add_argument("--link")
        p.add_argument(
            "--image",
            action="append",
            default=[],
            metavar="PATH",
            help="attach an image (repeatable)",
        )
        p.add_argument(
            "--alt", action="append", default=[], metavar="TEXT", help="alt text, one per --image"
        )
        p.add_argument("--tag", action="append", default=[], help="a tag (repeatable)")
        p.add_argument("--to", help="channels (comma-separated) or a route name from unipost.toml")
        p.add_argument(
            "--id", help="a stable post id: publishing the same id again does not post twice"
        )
        p.add_argument("--language")

    publish = sub.add_parser("publish", help="publish a post")
    post_arguments(publish)
    publish.add_argument(
        "--at", help="publish later: an ISO 8601 time with zone, e.g. 2026-12-24T09:00+01:00"
    )
    publish.add_argument(
        "--deadline", type=float, help="seconds to wait before returning (default 30)"
    )
    preview = sub.add_parser("preview", help="show how a post renders per channel; nothing is sent")
    post_arguments(preview)
    sub.add_parser("plugins", help="installed plugins, their versions and channel types")
    sub.add_parser("channels", help="configured channels")
    check = sub.add_parser("check", help="check credentials and reachability")
    check.add_argument("channel", nargs="*", help="channels to check (default: all)")
    outbox = sub.add_parser("outbox", help="inspect and operate the outbox")
    osub = outbox.add_subparsers(dest="action", required=True, parser_class=_Parser)
    listing = osub.add_parser("list", help="list records")
    listing.add_argument("--state", action="append", default=[], choices=[s.value for s in State])
    listing.add_argument("--channel")
    listing.add_argument("--post")
    listing.add_argument("--limit", type=int, default=1000)
    show = osub.add_parser("show", help="one record and its attempts, or a post's report")
    show.add_argument("target", help="a record id or a post id")
    retry = osub.add_parser("retry", help="send a failed, expired or waiting record again now")
    retry.add_argument("record")
    cancel = osub.add_parser("cancel", help="cancel what is not delivered of a post")
    cancel.add_argument("target", help="a post id, or one record id")
    cancel.add_argument("--channel")
    resolve = osub.add_parser(
        "resolve", help="settle an ambiguous record after checking the platform"
    )
    resolve.add_argument("record")
    group = resolve.add_mutually_exclusive_group(required=True)
    group.add_argument("--delivered", action="store_true", help="it was published")
    group.add_argument("--not-delivered", action="store_true", help="it was not: send it again")
    resolve.add_argument("--url", help="where it was published")
    resolve.add_argument("--platform-id", help="the platform's id of the post")
    worker = sub.add_parser("worker", help="deliver due records until stopped (Ctrl-C)")
    worker.add_argument(
        "--once", action="store_true", help="deliver what is due now, then exit (for cron)"
    )
    worker.add_argument("--poll", type=float, default=1.0)
    # `unipost serve`: the HTTP API and dashboard (the optional extra unipost-sdk[serve]).
    from unipost.serve import command as serve_command

    serve_command.add_arguments(sub.add_parser("serve", help="serve the HTTP API and dashboard"))
    worker.add_argument(
        "--concurrency",
        type=int,
        default=1,
        metavar="N",
        help="N worker processes sharing the outbox's leases (for a PostgreSQL outbox)",
    )
    # `unipost publish ... --json` reads as naturally as `unipost --json publish ...`.
    for command in [*sub.choices.values(), *osub.choices.values()]:
        command.add_argument(
            "--json", action="store_true", default=argparse.SUPPRESS, help="machine-readable output"
        )
    return parser


def _post(args: argparse.Namespace) -> Post:
    if len(args.alt) > len(args.image):
        raise UsageError("--alt", "more --alt than --image", "give one --alt after each --image")
    media = [
        Media.from_path(path, alt=args.alt[i] if i < len(args.alt) else None)
        for i, path in enumerate(args.image)
    ]
    extra: dict[str, Any] = {}
    if args.id:
        extra["id"] = args.id
    if getattr(args, "at", None):
        try:
            moment = dt.datetime.fromisoformat(args.at)
        except ValueError:
            raise UsageError(
                "--at", f"{args.at!r} is not an ISO 8601 time", "use e.g. 2026-12-24T09:00+01:00"
            ) from None
        extra["publish_at"] = moment
    return Post(
        text=args.text,
        title=args.title,
        link=args.link,
        media=media,
        tags=args.tag,
        language=args.language,
        **extra,
    )


def _route(config: Config, to: str | None) -> Any:
    if to is None:
        return config.route(None)
    names = [part.strip() for part in to.split(",") if part.strip()]
    if len(names) == 1:
        return config.route(names[0])
    return config.route(names)


def _print_report(report: Report, as_json: bool) -> None:
    if as_json:
        print(report.to_json(indent=2))
        return
    print(report)
    for outcome in report.outcomes:
        for key, value in outcome.extra.items():
            shown = ", ".join(map(str, value)) if isinstance(value, list) else value
            print(f"      {key}: {shown}")
        for recipient in outcome.recipients:
            mark = "✓" if recipient.ok else "✗"
            print(f"      {mark} {recipient.recipient} {recipient.reason or ''}".rstrip())


def _cmd_publish(args: argparse.Namespace, config: Config, dispatcher: Dispatcher) -> int:
    report = dispatcher.publish(_post(args), _route(config, args.to), deadline=args.deadline)
    _print_report(report, args.json)
    return EXIT[report.status]


def _cmd_preview(args: argparse.Namespace, config: Config, dispatcher: Dispatcher) -> int:
    plan = dispatcher.plan(_post(args), _route(config, args.to))
    if args.json:
        print(
            json.dumps(
                {
                    "prepared": {
                        name: {
                            "parts": list(p.parts),
                            "changes": [attrs.asdict(c) for c in p.changes],
                        }
                        for name, p in plan.prepared.items()
                    },
                    "rejected": {name: str(e) for name, e in plan.rejected.items()},
                    "warnings": list(plan.warnings),
                },
                indent=2,
            )
        )
        return 0
    for name, prepared in plan.prepared.items():
        print(f"── {name} ({dispatcher.channels[name].name})")
        for index, part in enumerate(prepared.parts, 1):
            label = f"[{index}/{len(prepared.parts)}] " if len(prepared.parts) > 1 else ""
            print("   " + label + part.replace("\n", "\n   "))
        for change in prepared.changes:
            print(f"   · {change.kind}: {change.detail}")
    for name, error in plan.rejected.items():
        print(f"── {name}: cannot publish: {error}")
    for warning in plan.warnings:
        print(f"warning: {warning}")
    return 0


def _cmd_plugins(args: argparse.Namespace) -> int:
    infos = default_host().plugins()
    if args.json:
        print(json.dumps([attrs.asdict(i) for i in infos], indent=2))
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


def _cmd_channels(args: argparse.Namespace, config: Config, dispatcher: Dispatcher) -> int:
    rows = [
        {
            "id": cid,
            "type": ch.name,
            "failure_domain": ch.failure_domain,
            "text_limit": ch.capabilities.text_limit,
            "unit": ch.capabilities.text_unit.value,
        }
        for cid, ch in config.channels.items()
    ]
    if args.json:
        print(
            json.dumps(
                {"source": config.source, "channels": rows, "routes": sorted(config.routes)},
                indent=2,
            )
        )
        return 0
    print(f"from {config.source}")
    for row in rows:
        print(f"{row['id']:<16} {row['type']:<12} domain {row['failure_domain']}")
    for name in sorted(config.routes):
        print(f"route {name}")
    return 0


def _cmd_check(args: argparse.Namespace, config: Config, dispatcher: Dispatcher) -> int:
    results: dict[str, str] = {}
    failed = False
    for channel_id in args.channel or list(config.channels):
        try:
            results[channel_id] = "ok: " + dispatcher.check(channel_id)
        except DeliveryError as exc:
            failed = True
            results[channel_id] = f"failed: {exc}"
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for channel_id, result in results.items():
            print(f"{channel_id:<16} {result}")
    return 1 if failed else 0


def _when(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def _record_json(record: Record) -> dict[str, Any]:
    return {**attrs.asdict(record), "state": record.state.value}


def _find_record(store: Store, record_id: str) -> Record | None:
    try:
        return store.record(record_id)
    except StoreError:
        return None


def _print_attempts(attempts: Sequence[Attempt], label: str) -> None:
    for attempt in attempts:
        result = attempt.error_class or "ok"
        status = f" HTTP {attempt.http_status}" if attempt.http_status else ""
        print(
            f"      {label}#{attempt.n} {_when(attempt.started_at)} "
            f"{attempt.duration * 1000:.0f} ms {result}{status} {attempt.message or ''}".rstrip()
        )


def _show_record(record: Record, store: Store, as_json: bool) -> int:
    attempts = store.attempts(record.id)
    if as_json:
        shown = {**_record_json(record), "log": [attrs.asdict(a) for a in attempts]}
        print(json.dumps(shown, indent=2))
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
            print(json.dumps([_record_json(r) for r in records], indent=2))
            return 0
        for r in records:
            detail = r.url or (redact(r.last_error) if r.last_error else "")
            print(
                f"{r.id}  {r.post_id:<20} {r.channel:<14} {r.state.value:<11} "
                f"attempts {r.attempts}  {detail}".rstrip()
            )
        print(f"{len(records)} record(s) in {store.location}")
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
        print(f"cancelled {count} record(s)")
        return 0
    if args.action == "retry":
        record = dispatcher.retry(args.record)
        print(f"{record.id} will be sent again by the worker")
        return 0
    record = dispatcher.resolve(
        args.record, delivered=args.delivered, platform_id=args.platform_id, url=args.url
    )
    print(f"{record.id} is now {record.state.value}")
    return 0


def _cmd_worker(args: argparse.Namespace, dispatcher: Dispatcher) -> int:
    if args.concurrency != 1:  # N processes, each with its own dispatcher (unipost.workers)
        if args.concurrency < 1 or not dispatcher.store.durable:
            raise UsageError(
                "--concurrency",
                "needs N ≥ 1 and a durable outbox that processes can share",
                "set [outbox] url (PostgreSQL) or path, and give --concurrency 1 or more",
            )
        from unipost.workers import run_workers

        return run_workers(
            args.config, concurrency=args.concurrency, poll=args.poll, once=args.once,
            location=dispatcher.store.location,
        )  # fmt: skip

    async def run() -> None:
        try:
            if args.once:
                while await dispatcher.arun_due():
                    pass
                return
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            print(
                f"worker delivering from {dispatcher.store.location} (Ctrl-C to stop)", flush=True
            )
            await dispatcher.arun_worker(stop=stop, poll=args.poll)
        finally:
            await dispatcher.aclose()

    asyncio.run(run())
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``unipost`` command."""
    try:
        args = _parser().parse_args(argv)
        if args.command == "plugins":
            return _cmd_plugins(args)
        if args.command == "serve":
            from unipost.serve.command import run_command

            return run_command(args)
        config = load_config(args.config)
        dispatcher = build_dispatcher(config)
        try:
            if args.command == "publish":
                return _cmd_publish(args, config, dispatcher)
            if args.command == "preview":
                return _cmd_preview(args, config, dispatcher)
            if args.command == "channels":
                return _cmd_channels(args, config, dispatcher)
            if args.command == "check":
                return _cmd_check(args, config, dispatcher)
            if args.command == "outbox":
                return _cmd_outbox(args, config, dispatcher)
            return _cmd_worker(args, dispatcher)
        finally:
            dispatcher.close()
    except UsageError as exc:
        print(f"unipost: {redact(str(exc))}", file=sys.stderr)
        return USAGE_ERROR
    except (PluginError, StoreError) as exc:
        print(f"unipost: {redact(str(exc))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
