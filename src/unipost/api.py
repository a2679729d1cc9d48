"""The one-call surface: ``unipost.publish(post, to=...)`` on a process-wide dispatcher.

The dispatcher is built on first use from ``unipost.toml`` (or the built-in
default: the site feed in ``./site``) with the SQLite outbox, and reused, so
connections stay pooled across calls.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Sequence
from typing import Any

from unipost.config import Config, load_config
from unipost.dispatcher import Dispatcher, Plan
from unipost.events import Event
from unipost.models import Post
from unipost.plugins import PluginHost, default_host
from unipost.report import Report
from unipost.status_feeds import StatusSource

__all__ = ["apublish", "build_dispatcher", "default_dispatcher", "preview", "publish", "report"]

_lock = threading.Lock()
_default: tuple[Dispatcher, Config] | None = None


def _observe(function: Callable[..., object], event: object) -> None:
    function(event=event)


def build_dispatcher(
    config: Config,
    *,
    host: PluginHost | None = None,
    observers: Sequence[Callable[[Event], object]] = (),
    **overrides: Any,
) -> Dispatcher:
    """A dispatcher for ``config``: its channels, outbox and options, the plugins' observers,
    and ``observers`` of the caller's own (the CLI's progress display)."""
    host = host or default_host()
    observers = [
        *(functools.partial(_observe, function) for function in host.observers()),
        *observers,
    ]
    options: dict[str, Any] = {
        "channels": config.channels,
        "store": config.store(),
        "retry_ambiguous": config.retry_ambiguous,
        "credential_warn_days": config.credential_warn_days,
        "credential_check_every": config.credential_check_hours * 3600 or None,
        "observers": observers,
        "status": config.status,
        "status_sources": _status_sources(config, host) if config.status.enabled else (),
        **dict(config.dispatch),
    }
    options.update(overrides)
    return Dispatcher(**options)


def _status_sources(config: Config, host: PluginHost) -> tuple[StatusSource, ...]:
    """The plugins' status feeds for every channel that can be built (secrets set)."""
    lacking = config.lacking()
    built = {cid: config.channels[cid] for cid in config.channels if cid not in lacking}
    return host.status_sources(built)


def default_dispatcher() -> tuple[Dispatcher, Config]:
    """The process-wide dispatcher and the config it was built from."""
    global _default
    with _lock:
        if _default is None:
            config = load_config()
            _default = (build_dispatcher(config), config)
        return _default


def publish(post: Post, to: Any = None, *, deadline: float | None = None) -> Report:
    """Publish ``post`` to ``to`` (channel names, a route, or a route name from unipost.toml)."""
    dispatcher, config = default_dispatcher()
    return dispatcher.publish(post, config.route(to), deadline=deadline)


async def apublish(post: Post, to: Any = None, *, deadline: float | None = None) -> Report:
    """``await`` form of :func:`publish`; the same implementation runs both."""
    dispatcher, config = default_dispatcher()
    return await dispatcher.apublish(post, config.route(to), deadline=deadline)


def preview(post: Post, to: Any = None) -> Plan:
    """How ``post`` renders for each target, and what was changed; no network."""
    dispatcher, config = default_dispatcher()
    return dispatcher.plan(post, config.route(to))


def report(post_id: str, revision: int | None = None) -> Report:
    """The report of an earlier publish, read from the outbox."""
    dispatcher, _config = default_dispatcher()
    return dispatcher.report(post_id, revision)
