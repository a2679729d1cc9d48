"""What the CLI shows while it works: live per-channel progress, and the worker's log.

Three forms of one stream of :class:`~unipost.events.Event`: on a terminal, a
live table (``publish``) or coloured log lines (``worker``), drawn with rich;
piped, plain lines; with ``--json``, one JSON object per line. Events arrive on
the dispatcher's thread, so every update takes a lock.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Callable, Iterable
from typing import IO, Any

import attrs
from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from unipost.events import Event
from unipost.redact import redact

__all__ = ["EventSink", "PublishProgress", "WorkerLog", "describe"]


@attrs.define
class EventSink:
    """An observer given to the dispatcher before anyone knows who will listen."""

    target: Callable[[Event], object] | None = None

    def __call__(self, event: Event) -> None:
        target = self.target
        if target is not None:
            target(event)


def _cause(fields: dict[str, Any]) -> str:
    bits = [str(fields["error_class"])] if fields.get("error_class") else []
    if fields.get("http_status"):
        bits.append(f"HTTP {fields['http_status']}")
    if fields.get("platform_code"):
        bits.append(f"code {fields['platform_code']}")
    return " ".join(bits)


def _seconds(value: Any) -> str:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return "a while"
    return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f} s"


def describe(event: Event, last_error: str = "") -> tuple[str, str] | None:
    """``(kind, one human line)`` for an event worth showing, else None."""
    fields = dict(event.fields)
    name = event.name
    if name == "attempt.start":
        return "pick", f"sending (attempt {fields.get('attempt', '?')})"
    if name == "attempt.end":
        return "error", f"attempt failed: {_cause(fields)}"
    if name == "delivered":
        url = fields.get("url") or ""
        return "ok", f"delivered {url}".rstrip()
    if name == "retry.scheduled":
        why = _cause(fields) or last_error
        return "defer", f"waiting {_seconds(fields.get('wait_for'))} before the next try" + (
            f" ({why})" if why else ""
        )
    if name == "ratelimit.wait":
        return "defer", f"rate limit: waiting {_seconds(fields.get('wait_for'))}"
    if name == "fallback":
        if "from" in fields:
            return "fallback", f"{fields['from']} did not deliver: trying {fields['to']}"
        return "fallback", f"moving on to the next alternative ({fields.get('reason', '')})"
    if name in ("failed", "expired", "blocked"):
        reason = fields.get("reason") or fields.get("error_class") or ""
        return "bad", f"{name}: {reason}".rstrip(": ")
    if name == "ambiguous":
        action = fields.get("action", "hold")
        reason = fields.get("reason") or fields.get("error_class") or ""
        verb = "looking it up" if action == "reconcile" else "held for a person"
        return "bad", f"may have been published: {verb} ({reason})"
    if name == "breaker.transition":
        return (
            "breaker",
            f"breaker for {fields.get('domain')} {fields.get('from')} → {fields.get('to')}",
        )
    if name == "worker.error":
        return "bad", f"worker error: {fields.get('error', '')}"
    return None


_STYLE = {
    "pick": "cyan",
    "ok": "green",
    "defer": "yellow",
    "fallback": "magenta",
    "bad": "red",
    "error": "yellow",
    "breaker": "magenta",
}
_MARK = {"pick": "…", "ok": "✓", "defer": "⏸", "fallback": "↪", "bad": "✗", "error": "!"}


class PublishProgress:
    """A live table of the targets of one publish, on a terminal (stderr)."""

    def __init__(self, channels: Iterable[str], roles: dict[str, str], console: Console) -> None:
        self._lock = threading.Lock()
        self._rows: dict[str, tuple[str, str]] = dict.fromkeys(channels, ("wait", "queued"))
        self._roles = roles
        self._console = console
        self._started = time.monotonic()
        self._live = Live(
            get_renderable=self._render, console=console, refresh_per_second=8, transient=True
        )

    def _render(self) -> Table:
        table = Table.grid(padding=(0, 2))
        elapsed = time.monotonic() - self._started
        table.add_row(Text(f"publishing… {elapsed:4.1f} s", style="bold"), Text(""), Text(""))
        with self._lock:
            rows = list(self._rows.items())
        for channel, (kind, line) in rows:
            table.add_row(
                Text(f"{_MARK.get(kind, '·')} {channel}", style=_STYLE.get(kind, "")),
                Text(self._roles.get(channel, ""), style="dim"),
                Text(line),
            )
        return table

    def __call__(self, event: Event) -> None:
        if event.channel is None or event.channel not in self._rows:
            return
        shown = describe(event)
        if shown is not None:
            with self._lock:
                self._rows[event.channel] = shown

    def __enter__(self) -> PublishProgress:
        self._live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._live.stop()


class WorkerLog:
    """One line per pick-up, delivery, deferral and failure, with its cause.

    ``mode`` is ``"rich"`` on a terminal, ``"plain"`` when piped, ``"json"`` for
    JSON lines.
    """

    def __init__(self, mode: str, stream: IO[str]) -> None:
        self.mode = mode
        self._stream = stream
        self._lock = threading.Lock()
        self._console = Console(file=stream, highlight=False) if mode == "rich" else None
        self._errors: dict[tuple[str | None, str | None], str] = {}
        self.counts: dict[str, int] = {}
        self._last_error = ""

    def line(self, text: str, **fields: Any) -> None:
        """A line of the worker's own (start, summary)."""
        with self._lock:
            if self.mode == "json":
                self._write(json.dumps({"event": "worker", "message": text, **fields}))
            elif self._console is not None:
                self._console.print(Text(text, style="bold"))
            else:
                self._write(text)

    def _write(self, text: str) -> None:
        self._stream.write(text + "\n")
        self._stream.flush()

    def __call__(self, event: Event) -> None:
        who = (event.post_id, event.channel)
        if event.name == "attempt.end":
            self._errors[who] = _cause(dict(event.fields))
        shown = describe(event, self._errors.get(who, ""))
        if shown is None:
            return
        kind, text = shown
        if event.name == "worker.error":
            if text == self._last_error:
                return  # the same failure on every poll is said once
            self._last_error = text
        self.counts[kind] = self.counts.get(kind, 0) + 1
        target = f"{event.post_id or ''}→{event.channel}" if event.channel else event.post_id or ""
        with self._lock:
            if self.mode == "json":
                record = {
                    "at": event.at,
                    "event": event.name,
                    "post_id": event.post_id,
                    "channel": event.channel,
                    "message": text,
                    **{k: v for k, v in event.fields.items() if k not in ("key",)},
                }
                self._write(json.dumps(record, default=str))
                return
            when = dt.datetime.fromtimestamp(event.at, dt.UTC).strftime("%H:%M:%S")
            if self._console is not None:
                self._console.print(
                    Text(f"{when} "),
                    Text(f"{_MARK.get(kind, '·')} {target}", style=_STYLE.get(kind, "")),
                    Text(redact(text)),
                )
            else:
                self._write(f"{when} {kind:<8} {target} {redact(text)}".rstrip())
