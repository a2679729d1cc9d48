"""``unipost.toml``: channels, reusable routes, and where the outbox lives.

::

    [outbox]
    path = ".unipost/outbox.sqlite3"   # the default, beside unipost.toml; or "memory" (tests)
    # url = "postgresql://unipost@db.internal/shop"  # instead of path: workers on many machines
    # shared_state = "redis://cache.internal:6379/0"  # breakers and budgets in Redis (optional)

    [channels.site]
    type = "site"
    directory = "public"

    [channels.mastodon]
    type = "mastodon"
    instance = "https://social.example"
    token = { env = "MASTODON_TOKEN" }

    [routes]
    default = ["site", "mastodon"]
    announce = { all_of = ["site", { first_of = ["facebook", "email-list"] }] }

Secrets are referenced from environment variables (``{ env = "NAME" }``) or
resolved by a plugin's ``unipost_resolve_credentials`` hook; writing one into
the file needs ``allow_inline_secrets = true``. Unknown keys, unset variables
and unknown channel types are errors that name the key and the fix.
"""

from __future__ import annotations

import contextlib
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from unipost import routes as routing
from unipost.channel import Channel
from unipost.config_channels import Channels, Spec, build_channel
from unipost.config_values import (
    check_dispatch,
    check_route_options,
    check_settings,
    credential_settings,
)
from unipost.errors import ConfigurationError, MissingSecret, UnknownChannel, UsageError
from unipost.outbox import MemoryStore, Store
from unipost.plugins import PluginHost, default_host
from unipost.routes import Route
from unipost.status_poll import StatusSettings, parse_status

__all__ = ["Channels", "Config", "default_outbox_path", "find_config", "load_config"]

CONFIG_NAME = "unipost.toml"
#: The project's own outbox, beside unipost.toml (or in the working directory without one).
OUTBOX_DIR = ".unipost"
_TOP_KEYS = {
    "outbox",
    "channels",
    "routes",
    "dispatch",
    "credentials",
    "allow_inline_secrets",
    "status",
}
_DISPATCH_KEYS = {
    "deadline",
    "attempt_timeout",
    "verify_after",
    "max_in_flight",
    "per_domain",
    "per_channel",
}
_CHANNEL_META = {"type", "on_ambiguous"}
# Seconds may be fractional; the caps are counts.


def default_outbox_path(project: Path | None = None) -> Path:
    """``$UNIPOST_OUTBOX``, else ``.unipost/outbox.sqlite3`` in the project directory.

    One outbox per project: a post id published in one folder can never be
    answered from another folder's records.
    """
    override = os.environ.get("UNIPOST_OUTBOX")
    if override:
        return Path(override).expanduser()
    return (project or Path.cwd()) / OUTBOX_DIR / "outbox.sqlite3"


@attrs.frozen(kw_only=True)
class Config:
    """Channels built from settings, named routes, and dispatcher options."""

    channels: Mapping[str, Channel]
    routes: Mapping[str, Route] = attrs.field(factory=dict)
    outbox: str | None = None  # a path, "memory", a postgresql:// URL, or None: the project's file
    shared_state: str | None = None  # a redis:// URL: breakers and budgets shared through Redis
    dispatch: Mapping[str, Any] = attrs.field(factory=dict)
    #: ``[credentials] warn_days``: warn this many days before a credential lapses.
    credential_warn_days: float = 7.0
    #: ``[credentials] check_hours``: the worker checks every channel this often (0: never).
    credential_check_hours: float = 24.0
    retry_ambiguous: frozenset[str] = frozenset()
    status: StatusSettings = attrs.field(factory=StatusSettings)  # [status]: platform feeds
    source: str = "built-in defaults"
    #: The directory the project lives in: where unipost.toml is, else the working directory.
    project: Path = attrs.field(factory=Path.cwd)

    @classmethod
    def default(cls, host: PluginHost | None = None) -> Config:
        """No file: the business's own site feed, in ``./site``. No account needed."""
        host = host or default_host()
        site = host.channel_class("site").from_settings("site", {})
        return cls(channels={"site": site})

    def route(self, to: Any) -> Route:
        """Resolve route names (``"announce"``) and channel names into a route.

        A name that is neither is refused here, listing both the channels and
        the routes that exist.
        """
        if to is None:
            to = "default" if "default" in self.routes else next(iter(self.channels), "site")
        if isinstance(to, str) and to in self.routes and to not in self.channels:
            return self.routes[to]
        if isinstance(to, list | tuple):
            to = [
                self.routes[t]
                if isinstance(t, str) and t in self.routes and t not in self.channels
                else t
                for t in to
            ]
        route = routing.as_route(to)
        for _path, leaf in routing.leaves(route):
            if leaf.channel not in self.channels:
                channels = ", ".join(sorted(self.channels)) or "none"
                routes = ", ".join(sorted(self.routes)) or "none"
                raise UnknownChannel(
                    "to",
                    f"no channel or route named {leaf.channel!r}",
                    f"use a channel ({channels}) or a route ({routes}), "
                    f"or configure [channels.{leaf.channel}] in unipost.toml",
                )
        return route

    def lacking(self) -> dict[str, MissingSecret]:
        """Channels whose secrets are not set (they are listed, but cannot send)."""
        if isinstance(self.channels, Channels):
            return self.channels.lacking()
        return {}

    def inspect(self, channel_id: str) -> Channel | None:
        """The channel, or a stand-in for showing it when its secrets are not set."""
        if isinstance(self.channels, Channels):
            return self.channels.inspect(channel_id)
        return self.channels[channel_id]

    def type_of(self, channel_id: str) -> str:
        """The channel's type name, without building it."""
        if isinstance(self.channels, Channels):
            return self.channels.type_name(channel_id)
        return self.channels[channel_id].name

    def outbox_path(self) -> Path | None:
        """The outbox file (None for an in-memory outbox)."""
        if self.outbox == "memory":
            return None
        if self.outbox:
            return Path(self.outbox).expanduser()
        return default_outbox_path(self.project)

    def store(self) -> Store:
        store = self._records_store()
        if self.shared_state is None:
            return store
        from unipost.redis_state import RedisState
        from unipost.store_proxy import DelegatingStore

        return DelegatingStore(store, shared=RedisState(self.shared_state))

    def _records_store(self) -> Store:
        target = self.outbox or os.environ.get("UNIPOST_OUTBOX") or ""
        if _is_postgres_url(target):
            from unipost.postgres_store import PostgresStore

            return PostgresStore(target)
        path = self.outbox_path()
        if path is None:
            return MemoryStore()
        from unipost.sqlite_store import SQLiteStore

        path.parent.mkdir(parents=True, exist_ok=True)
        return SQLiteStore(path)


def _is_postgres_url(value: str) -> bool:
    return value.startswith(("postgresql://", "postgres://"))


def find_config(start: Path | None = None) -> Path | None:
    """``$UNIPOST_CONFIG``, else ``unipost.toml`` in the current directory."""
    override = os.environ.get("UNIPOST_CONFIG")
    if override:
        path = Path(override).expanduser()
        if not path.is_file():
            raise ConfigurationError(
                "UNIPOST_CONFIG", f"{path} does not exist", "point it at your unipost.toml"
            )
        return path
    candidate = (start or Path.cwd()) / CONFIG_NAME
    return candidate if candidate.is_file() else None


def _route_from_toml(key: str, value: Any) -> Route:
    try:
        if isinstance(value, str | list):
            return routing.as_route(
                [_route_from_toml(key, v) if isinstance(v, dict) else v for v in value]
                if isinstance(value, list)
                else value
            )
        if isinstance(value, dict):
            check_route_options(key, value)
            if "all_of" in value:
                extra = set(value) - {"all_of", "min_success"}
                if extra:
                    raise ConfigurationError(
                        f"{key}.{sorted(extra)[0]}", "unknown key", "all_of takes min_success"
                    )
                return routing.all_of(
                    *(_route_from_toml(key, v) for v in value["all_of"]),
                    min_success=value.get("min_success"),
                )
            if "first_of" in value:
                extra = set(value) - {"first_of", "patience", "on_ambiguous"}
                if extra:
                    raise ConfigurationError(
                        f"{key}.{sorted(extra)[0]}",
                        "unknown key",
                        "first_of takes patience and on_ambiguous",
                    )
                return routing.first_of(
                    *(_route_from_toml(key, v) for v in value["first_of"]),
                    patience=value.get("patience"),
                    on_ambiguous=value.get("on_ambiguous", "hold"),
                )
    except ConfigurationError:
        raise
    except UsageError as exc:
        raise ConfigurationError(key, exc.problem, exc.fix) from exc
    raise ConfigurationError(
        key,
        f"cannot read route {value!r}",
        'use "name", ["a", "b"], { all_of = [...] } or { first_of = [...] }',
    )


def parse_config(
    data: Mapping[str, Any],
    *,
    host: PluginHost | None = None,
    source: str = "<dict>",
    project: Path | None = None,
) -> Config:
    """Build a :class:`Config` from parsed TOML (or any mapping).

    Every value is checked here; a channel whose secret is not set is kept,
    and built when it is about to send (:class:`Channels`).
    """
    host = host or default_host()
    for key in data:
        if key not in _TOP_KEYS:
            raise ConfigurationError(
                key, "unknown top-level key", f"use one of: {', '.join(sorted(_TOP_KEYS))}"
            )
    inline = data.get("allow_inline_secrets", False)
    if not isinstance(inline, bool):
        raise ConfigurationError(
            "allow_inline_secrets",
            f"must be true or false, not {inline!r}",
            "write allow_inline_secrets = true",
        )
    specs: dict[str, Spec] = {}
    built: dict[str, Channel] = {}
    retry_ambiguous: set[str] = set()
    raw_channels = data.get("channels", {})
    if not isinstance(raw_channels, Mapping):
        raise ConfigurationError("channels", "must be a table", "write [channels.<name>] sections")
    for channel_id, raw in raw_channels.items():
        prefix = f"channels.{channel_id}"
        if not isinstance(raw, Mapping):
            raise ConfigurationError(
                prefix, "must be a table", f'write [{prefix}] with type = "..."'
            )
        type_name = raw.get("type")
        if not type_name:
            raise ConfigurationError(
                f"{prefix}.type", "missing", 'add type = "site" (or another channel type)'
            )
        if not isinstance(type_name, str):
            raise ConfigurationError(
                f"{prefix}.type", f"must be a string, not {type_name!r}", 'write type = "site"'
            )
        try:
            cls = host.channel_class(type_name)
        except UsageError as exc:
            raise ConfigurationError(f"{prefix}.type", exc.problem, exc.fix) from exc
        on_ambiguous = raw.get("on_ambiguous", "hold")
        if on_ambiguous not in ("hold", "retry"):
            raise ConfigurationError(
                f"{prefix}.on_ambiguous", f"{on_ambiguous!r}", 'use "hold" or "retry"'
            )
        if on_ambiguous == "retry":
            retry_ambiguous.add(channel_id)
        settings = {k: v for k, v in raw.items() if k not in _CHANNEL_META}
        check_settings(cls, prefix, settings)
        spec = Spec(
            id=str(channel_id),
            type_name=type_name,
            cls=cls,
            settings=settings,
            inline_ok=inline,
            host=host,
        )
        specs[spec.id] = spec
        # Read-only work needs no secret: a channel that lacks one is built when it is
        # about to send. Everything but the missing value was checked above.
        with contextlib.suppress(MissingSecret):
            built[spec.id] = build_channel(spec)
    raw_routes = data.get("routes", {})
    if not isinstance(raw_routes, Mapping):
        raise ConfigurationError("routes", "must be a table", "write [routes] name = [...]")
    routes = {
        str(name): _route_from_toml(f"routes.{name}", value) for name, value in raw_routes.items()
    }
    for name, route in routes.items():
        for _path, leaf in routing.leaves(route):
            if leaf.channel not in specs:
                raise ConfigurationError(
                    f"routes.{name}",
                    f"names the channel {leaf.channel!r}, which is not configured",
                    f"add [channels.{leaf.channel}] or fix the name",
                )
    outbox = data.get("outbox", {})
    if not isinstance(outbox, Mapping) or set(outbox) - {"path", "url", "shared_state"}:
        raise ConfigurationError(
            "outbox",
            "only 'path', 'url' and 'shared_state' are known",
            'write [outbox] path = "outbox.sqlite3" or url = "postgresql://…"',
        )
    shared_state = outbox.get("shared_state")
    if shared_state is not None and (
        not isinstance(shared_state, str)
        or not shared_state.startswith(("redis://", "rediss://", "unix://"))
    ):
        raise ConfigurationError(
            "outbox.shared_state",
            "must be a Redis URL",
            'write shared_state = "redis://host:6379/0" (or leave it out: the outbox keeps it)',
        )
    if "url" in outbox:
        url = outbox["url"]
        if "path" in outbox:
            raise ConfigurationError(
                "outbox.url", "is given together with outbox.path", "keep one of the two"
            )
        if not isinstance(url, str) or not _is_postgres_url(url):
            raise ConfigurationError(
                "outbox.url",
                "must be a PostgreSQL URL",
                'write url = "postgresql://user@host:5432/dbname" (or use path for a file)',
            )
    path = outbox.get("path")
    if path is not None and (not isinstance(path, str) or not path.strip()):
        raise ConfigurationError(
            "outbox.path",
            f'in [outbox], path must be a file name or "memory", not {path!r}',
            'write path = "outbox.sqlite3"',
        )
    raw_dispatch = data.get("dispatch", {})
    if not isinstance(raw_dispatch, Mapping):
        raise ConfigurationError("dispatch", "must be a table", "write [dispatch] deadline = 30")
    dispatch = dict(raw_dispatch)
    check_dispatch(dispatch, _DISPATCH_KEYS)
    warn_days, check_hours = credential_settings(data.get("credentials", {}))
    channels: Mapping[str, Channel] = (
        Channels(specs, built) if specs else dict(Config.default(host).channels)
    )
    return Config(
        channels=channels,
        routes=routes,
        outbox=outbox.get("url", path),
        shared_state=shared_state,
        dispatch=dispatch,
        credential_warn_days=warn_days,
        credential_check_hours=check_hours,
        retry_ambiguous=frozenset(retry_ambiguous),
        status=parse_status(data.get("status", {})),
        source=source,
        project=project or Path.cwd(),
    )


def load_config(path: str | Path | None = None, *, host: PluginHost | None = None) -> Config:
    """Read ``unipost.toml`` (found as :func:`find_config` says), or the built-in default.

    A mistake names the file as well as the key: ``unipost.toml: channels.site.max_items: ...``.
    """
    file = Path(path).expanduser() if path is not None else find_config()
    if file is None:
        return Config.default(host)
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigurationError(
            "config", f"{file} does not exist", "create it or pass another path"
        ) from None
    except IsADirectoryError:
        raise ConfigurationError(
            "config", f"{file} is a directory", "give the path of the unipost.toml file"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(
            str(file), f"not valid TOML ({exc})", "fix the syntax at the line shown"
        ) from exc
    project = file.resolve().parent
    try:
        config = parse_config(data, host=host, source=str(file), project=project)
    except ConfigurationError as exc:
        if exc.problem.endswith(f"(in {file})"):
            raise
        raise type(exc)(exc.field, f"{exc.problem} (in {file})", exc.fix) from exc
    if config.outbox not in (None, "memory") and not _is_postgres_url(config.outbox):
        # A relative [outbox] path belongs to the file that names it, not to the cwd.
        config = attrs.evolve(config, outbox=str(file.parent / Path(config.outbox).expanduser()))
    return config
