"""``unipost outbox ...`` and ``unipost worker``: inspect, operate and drain the outbox."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import signal
import sys
from collections.abc import Sequence
from typing import Any

import attrs

from unipost.cli_output import emit
from unipost.config import Config
from unipost.dispatcher import Dispatcher
from unipost.errors import DeliveryError, StoreError, UsageError
from unipost.operations import blocked_by_credential as blocked_by
from unipost.outbox import Attempt, Record, State, Store
from unipost.progress import EventSink, WorkerLog
from unipost.redact import redact


def when(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def record_json(record: Record) -> dict[str, Any]:
    data = {**attrs.asdict(record), "state": record.state.value}
    data["blocked_by"] = record.channel if blocked_by(record) else None
    if data.get("last_error"):
        data["last_error"] = redact(data["last_error"])
    return data


def find_record(store: Store, record_id: str) -> Record | None:
    try:
        return store.record(record_id)
    except StoreError:
        return None


def attempt_json(attempt: Attempt) -> dict[str, Any]:
    data = attrs.asdict(attempt)
    if data.get("message"):
        data["message"] = redact(data["message"])
    return data


def print_attempts(attempts: Sequence[Attempt], label: str) -> None:
    for attempt in attempts:
        result = attempt.error_class or "ok"
        status = f" HTTP {attempt.http_status}" if attempt.http_status else ""
        print(
            f"      {label}#{attempt.n} {when(attempt.started_at)} "
            f"{attempt.duration * 1000:.0f} ms {result}{status} {redact(attempt.message or '')}".rstrip()
        )


def show_record(record: Record, store: Store, as_json: bool) -> int:
    attempts = store.attempts(record.id)
    if as_json:
        emit({**record_json(record), "log": [attempt_json(a) for a in attempts]})
        return 0
    print(
        f"record {record.id}: post {record.post_id} revision {record.revision} → {record.channel}"
    )
    print(f"  state {record.state.value}, {record.attempts} attempt(s), key {record.delivery_key}")
    if not record.state.terminal:
        print(f"  next attempt {when(record.next_attempt_at)} UTC, TTL {when(record.ttl_at)} UTC")
    if record.url or record.platform_id:
        print(f"  published: {record.url or record.platform_id}")
    if record.last_error:
        print(f"  last: {record.last_class or ''} {redact(record.last_error)}")
    for copy in record.extra.get("duplicates", []):
        where = copy.get("url") or copy.get("platform_id")
        if copy.get("removed_at"):
            print(f"  extra copy {where}: removed {when(copy['removed_at'])} UTC")
        else:
            print(
                f"  extra copy {where}: remove it with `unipost outbox remove-duplicate {record.id}`"
            )
    if record.verify_at:
        print(f"  a second look for an extra copy is due {when(record.verify_at)} UTC")
    for index, recipient in enumerate(record.recipients, 1):
        mark = "✓" if recipient.get("ok") else "✗"
        print(
            f"  {mark} #{index} {recipient.get('recipient')} {recipient.get('reason') or ''}".rstrip()
        )
    print_attempts(attempts, "")
    return 0


def cmd_outbox(args: argparse.Namespace, config: Config, dispatcher: Dispatcher) -> int:
    store = dispatcher.store
    if args.action == "list":
        if args.blocked_by:
            records = [
                r
                for r in dispatcher.blocked(args.blocked_by)
                if (not args.state or r.state.value in args.state)
                and (args.channel is None or r.channel == args.channel)
                and (args.post is None or r.post_id == args.post)
            ][: args.limit]
        else:
            records = store.query(
                states=[State(s) for s in args.state],
                channel=args.channel,
                post_id=args.post,
                limit=args.limit,
            )
        if args.json:
            emit([record_json(r) for r in records])
            return 0
        for r in records:
            detail = r.url or (redact(r.last_error) if r.last_error else "")
            if blocked_by(r):
                detail = f"blocked by {r.channel}'s credential: {detail}"
            print(
                f"{r.id}  {r.post_id:<20} {r.channel:<14} {r.state.value:<11} "
                f"attempts {r.attempts}  {detail}".rstrip()
            )
        print(f"{len(records)} record(s) in {store.location}")
        waiting = sorted({r.channel for r in records if blocked_by(r)})
        for channel in waiting:
            print(
                f"after authorizing {channel} again: unipost outbox retry --blocked-by {channel}",
                file=sys.stderr,
            )
        say_lacking(config)
        return 0
    if args.action == "show":
        record = find_record(store, args.target)
        if record is not None:
            return show_record(record, store, args.json)
        report = dispatcher.report(args.target)
        if args.json:
            print(report.to_json(indent=2))
            return 0
        print(report)
        for outcome in report.outcomes:
            print_attempts(outcome.attempts, f"{outcome.channel} ")
        return 0
    if args.action == "cancel":
        record = find_record(store, args.target)
        if record is not None:
            count = dispatcher.cancel(record.post_id, record.channel)
        else:
            count = dispatcher.cancel(args.target, args.channel)
        return done(args, {"cancelled": count}, f"cancelled {count} record(s)")
    if args.action == "retry":
        return retry(args, dispatcher)
    if args.action == "remove-duplicate":
        return remove_duplicate(args, dispatcher)
    record = dispatcher.resolve(
        args.record, delivered=args.delivered, platform_id=args.platform_id, url=args.url
    )
    return done(
        args,
        {"record": record.id, "state": record.state.value},
        f"{record.id} is now {record.state.value}",
    )


def remove_duplicate(args: argparse.Namespace, dispatcher: Dispatcher) -> int:
    """Delete the extra copy a second look found; a platform's refusal is one line, exit 1."""
    try:
        record = dispatcher.remove_duplicate(args.record, args.platform_id)
    except DeliveryError as exc:
        print(
            f"unipost: could not remove the extra copy: {exc.error_class.value}: {redact(str(exc))}"
            " — the record stays flagged; remove it by hand or try again",
            file=sys.stderr,
        )
        return 1
    removed = [c for c in record.extra.get("duplicates", []) if c.get("removed_at")]
    last = max(removed, key=lambda copy: float(copy["removed_at"]))
    line = f"removed the extra copy {last.get('url') or last.get('platform_id')}"
    return done(args, {"record": record.id, "removed": last}, line)


def retry(args: argparse.Namespace, dispatcher: Dispatcher) -> int:
    """One record by id, or with ``--blocked-by`` every record a credential blocked."""
    if (args.record is None) == (args.blocked_by is None):
        raise UsageError(
            "record",
            "give one record id or --blocked-by CHANNEL",
            "unipost outbox retry RECORD_ID, or unipost outbox retry --blocked-by facebook",
        )
    if args.blocked_by is not None:
        count = dispatcher.reauthorize(args.blocked_by)
        return done(
            args,
            {"channel": args.blocked_by, "released": count},
            f"{count} record(s) blocked by {args.blocked_by}'s credential will be sent again "
            "by the worker",
        )
    record = dispatcher.retry(args.record)
    return done(
        args,
        {"record": record.id, "state": record.state.value},
        f"{record.id} will be sent again by the worker",
    )


def done(args: argparse.Namespace, data: dict[str, Any], line: str) -> int:
    if args.json:
        emit(data)
    else:
        print(line)
    return 0


def say_lacking(config: Config) -> None:
    for channel_id, missing in config.lacking().items():
        print(f"note: {channel_id} cannot send yet: {redact(str(missing))}", file=sys.stderr)


def cmd_worker(
    args: argparse.Namespace, config: Config, dispatcher: Dispatcher, sink: EventSink
) -> int:
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
