"""``unipost``: publish, preview, inspect plugins and channels, operate the outbox.

Human-readable output by default, ``--json`` for scripts (errors included). Exit codes:
0 succeeded, 1 failed, 2 usage error, 3 partial, 4 pending, 5 ambiguous.
A user mistake prints one line naming the problem and the fix, never a traceback;
so does a closed pipe (``unipost outbox list --json | head -1``).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import attrs
from rich.console import Console

from unipost import routes as routing
from unipost.api import build_dispatcher
from unipost.cli_check import cmd_check
from unipost.cli_outbox import cmd_outbox, cmd_worker
from unipost.cli_output import emit, print_report
from unipost.cli_post import read_post, read_route, roles
from unipost.cli_preview import cmd_preview
from unipost.cli_status import breaker_words, domain_breakers
from unipost.config import Config, load_config
from unipost.dispatcher import Dispatcher
from unipost.errors import (
    PluginError,
    StoreError,
    UnipostError,
    UsageError,
)
from unipost.outbox import State
from unipost.plugins import default_host
from unipost.progress import EventSink, PublishProgress
from unipost.redact import redact
from unipost.report import ReportStatus

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
    listing.add_argument(
        "--blocked-by",
        metavar="CHANNEL",
        help="only records waiting for CHANNEL's credential to be authorized again",
    )
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
    retry.add_argument("record", nargs="?", help="the record id (from `unipost outbox list`)")
    retry.add_argument(
        "--blocked-by",
        metavar="CHANNEL",
        help="after authorizing CHANNEL again: send every record its credential blocked, "
        "once each (instead of one record id)",
    )
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
    extra = osub.add_parser(
        "remove-duplicate",
        help="delete the extra copy of a post that a second look found (see `outbox show`)",
    )
    extra.add_argument("record", help="the delivered record flagged as a possible duplicate")
    extra.add_argument("--platform-id", help="which copy, when a record has several")
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
    worker.add_argument(
        "--concurrency",
        type=int,
        default=1,
        metavar="N",
        help="N worker processes sharing the outbox's leases (for a PostgreSQL outbox)",
    )
    # `unipost serve`: the HTTP API and dashboard (the optional extra unipost-sdk[serve]).
    from unipost.serve import command as serve_command

    serve_command.add_arguments(sub.add_parser("serve", help="serve the HTTP API and dashboard"))
    for command in [*sub.choices.values(), *osub.choices.values()]:
        _common(command, top=False)
    return parser


def _cmd_publish(
    args: argparse.Namespace, config: Config, dispatcher: Dispatcher, sink: EventSink
) -> int:
    post = read_post(args)
    route = read_route(config, args.to)
    if post.publish_at is not None:
        report = dispatcher.enqueue(post, route)
        when = post.publish_at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        if args.json:
            emit({**report.to_dict(), "scheduled_for": post.publish_at.isoformat()})
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
        progress = PublishProgress(channels, roles(route), console)
        sink.target = progress
    try:
        if progress is not None:
            with progress:
                report = dispatcher.publish(post, route, deadline=args.deadline)
        else:
            report = dispatcher.publish(post, route, deadline=args.deadline)
    finally:
        sink.target = None
    print_report(report, args.json)
    return EXIT[report.status]


def _cmd_plugins(args: argparse.Namespace) -> int:
    infos = default_host().plugins()
    if args.json:
        emit([attrs.asdict(i) for i in infos])
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
    breakers = domain_breakers(config)
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
        data = breakers.get(str(rows[-1]["failure_domain"]))
        rows[-1]["breaker"] = data.state.value if data is not None else "closed"
        rows[-1]["advisory"] = (data.advisory or None) if data is not None else None
        rows[-1]["status"] = breaker_words(data) or None
    if args.json:
        emit({"source": config.source, "channels": rows, "routes": sorted(config.routes)})
        return 0
    print(f"from {config.source}")
    for row in rows:
        line = f"{row['id']:<16} {row['type']:<12} domain {row['failure_domain'] or '?'}"
        if row["status"]:
            line += f"  — {row['status']}"
        if row["lacks"]:
            line += f"  — cannot send: {row['lacks']}"
        print(line)
    for name in sorted(config.routes):
        print(f"route {name}: {routing.describe(config.routes[name])}")
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
    if args.command == "serve":
        from unipost.serve.command import run_command

        return run_command(args)
    config = load_config(args.config)
    if args.command == "preview":
        return cmd_preview(args, config)
    if args.command == "channels":
        return _cmd_channels(args, config)
    sink = EventSink()
    dispatcher = build_dispatcher(config, observers=[sink])
    try:
        if args.command == "publish":
            return _cmd_publish(args, config, dispatcher, sink)
        if args.command == "check":
            return cmd_check(args, config, dispatcher)
        if args.command == "outbox":
            return cmd_outbox(args, config, dispatcher)
        return cmd_worker(args, config, dispatcher, sink)
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
