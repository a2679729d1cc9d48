"""The plugin host: owns the pluggy manager, loads entry points, keeps the registry.

Plugins hand channel *classes* to a ``register`` callback; the core calls
them, each in its own error boundary. A plugin that fails to import,
implements a hook that does not exist, raises while registering, or registers
a name another distribution already has, is disabled as a whole and recorded
with its distribution name and version; every other plugin keeps working.

Loading is lazy: ``import unipost`` reads no entry point; the first question
asked of a host (``plugins()``, ``channel_class()``, ...) imports them all.

``UNIPOST_LOAD_PLUGINS=a,b`` loads only those entry points (empty: none);
``UNIPOST_DISABLE_PLUGINS=c`` skips some. Built-in channels always load.
"""

from __future__ import annotations

import importlib
import logging
import os
import threading
from collections.abc import Callable, Iterable, Mapping
from importlib import metadata
from typing import TYPE_CHECKING, Any, cast

import attrs
import pluggy

from unipost import hookspecs
from unipost.errors import PluginError, UnknownChannel
from unipost.hookspecs import Register

if TYPE_CHECKING:
    from unipost.channel import Channel
    from unipost.events import Event
    from unipost.status_feeds import StatusSource

__all__ = ["PluginHost", "PluginInfo", "Register", "default_host"]

log = logging.getLogger("unipost.plugins")

GROUP = "unipost"
BUILTIN_MODULES = ("unipost.channels.site", "unipost.channels.email", "unipost.channels.webhook")


@attrs.frozen(kw_only=True)
class PluginInfo:
    """One row of ``unipost plugins``."""

    name: str
    distribution: str
    version: str
    channels: tuple[str, ...] = ()
    builtin: bool = False
    error: str | None = None


class _Conflict(Exception):
    """A plugin registered a channel name that another distribution owns."""


@attrs.define
class _Registrar:
    """The :class:`~unipost.hookspecs.Register` callback handed to each plugin."""

    _host: PluginHost
    _plugin: str
    _distribution: str

    def __call__(self, channel_class: type[Channel], *, aliases: Iterable[str] = ()) -> None:
        self._host._add_channel(channel_class, tuple(aliases), self._plugin, self._distribution)


def _split_env(name: str) -> set[str] | None:
    value = os.environ.get(name)
    if value is None:
        return None
    return {part.strip() for part in value.split(",") if part.strip()}


@attrs.define
class PluginHost:
    """A fresh host per registry; tests make their own instead of sharing a global.

    ``entry_points`` replaces discovery (the ``unipost`` group of the installed
    distributions), so a test can load exactly the plugins it names.
    """

    entry_points: list[metadata.EntryPoint] | None = None
    _pm: pluggy.PluginManager = attrs.field(init=False)
    _channels: dict[str, type[Channel]] = attrs.field(init=False, factory=dict)
    _owners: dict[str, tuple[str, str]] = attrs.field(init=False, factory=dict)  # (plugin, dist)
    _infos: dict[tuple[str, str], PluginInfo] = attrs.field(init=False, factory=dict)
    _loaded: bool = attrs.field(init=False, default=False)
    _lock: threading.RLock = attrs.field(init=False, factory=threading.RLock)

    def __attrs_post_init__(self) -> None:
        self._pm = pluggy.PluginManager(GROUP)
        self._pm.add_hookspecs(hookspecs)

    # -- loading -----------------------------------------------------------

    def load(self) -> None:
        """Import built-ins and the allowed entry points (once, even across threads)."""
        with self._lock:
            if self._loaded:
                return
            self._loaded = True
            version = metadata.version("unipost-sdk")
            for module_name in BUILTIN_MODULES:
                module = importlib.import_module(module_name)
                self._register_plugin(
                    module, module_name.rsplit(".", 1)[-1], "unipost", version, builtin=True
                )
            allow = _split_env("UNIPOST_LOAD_PLUGINS")
            block = _split_env("UNIPOST_DISABLE_PLUGINS") or set()
            points = self.entry_points
            if points is None:
                points = list(metadata.entry_points(group=GROUP))
            for point in points:
                if (allow is not None and point.name not in allow) or point.name in block:
                    continue
                dist = point.dist
                dist_name = dist.name if dist is not None else point.value.split(":")[0]
                dist_version = dist.version if dist is not None else "?"
                try:
                    plugin = point.load()
                except Exception as exc:  # a broken plugin must not take the others down
                    self._problem(point.name, dist_name, dist_version, f"import failed: {exc!r}")
                    continue
                self._register_plugin(plugin, point.name, dist_name, dist_version)

    def register_plugin(self, plugin: object, name: str, *, distribution: str = "local") -> None:
        """Register an in-process plugin object (a module or class with hookimpls)."""
        with self._lock:
            self.load()
            self._register_plugin(plugin, name, distribution, "local")

    def _register_plugin(
        self, plugin: Any, name: str, distribution: str, version: str, *, builtin: bool = False
    ) -> None:
        try:
            self._pm.register(plugin, name=name)
        except (ValueError, pluggy.PluginValidationError) as exc:
            self._problem(name, distribution, version, f"cannot register: {exc}")
            return
        try:
            self._pm.check_pending()  # earlier plugins passed, so only this one can fail
        except pluggy.PluginValidationError as exc:
            self._pm.unregister(plugin)
            self._problem(name, distribution, version, f"unknown hook: {exc}")
            return
        key = (name, distribution)
        self._infos[key] = PluginInfo(
            name=name, distribution=distribution, version=version, builtin=builtin
        )
        register = _Registrar(self, name, distribution)
        hook = self._pm.hook.unipost_register_channels
        mine = [impl for impl in hook.get_hookimpls() if impl.plugin is plugin]
        try:
            # pluggy's own execution (wrappers, tracing and monitoring apply), for this plugin's
            # implementation only: what subset_hook_caller does, for unhashable plugins too.
            self._pm._hookexec(hook.name, mine, {"register": register}, False)
        except _Conflict as exc:
            self._disable(plugin, key, str(exc))
        except Exception as exc:
            self._disable(plugin, key, f"unipost_register_channels failed: {exc!r}")

    def _disable(self, plugin: object, key: tuple[str, str], error: str) -> None:
        """Take a half-registered plugin out again: no channels, no hooks."""
        self._pm.unregister(plugin)
        for alias in [alias for alias, owner in self._owners.items() if owner == key]:
            del self._channels[alias], self._owners[alias]
        info = self._infos[key]
        self._problem(info.name, info.distribution, info.version, error)

    def _problem(self, name: str, distribution: str, version: str, error: str) -> None:
        log.warning("plugin %s (%s %s) disabled: %s", name, distribution, version, error)
        self._infos[(name, distribution)] = PluginInfo(
            name=name, distribution=distribution, version=version, error=error
        )

    def _add_channel(
        self, channel_class: type[Channel], aliases: tuple[str, ...], plugin: str, distribution: str
    ) -> None:
        for key in (channel_class.name, *aliases):
            owner = self._owners.get(key)
            if owner is not None and owner[1] != distribution:
                raise _Conflict(f"channel {key!r} is already registered by {owner[1]}")
        for key in (channel_class.name, *aliases):
            self._channels[key] = channel_class
            self._owners[key] = (plugin, distribution)
        info = self._infos[(plugin, distribution)]
        self._infos[(plugin, distribution)] = attrs.evolve(
            info, channels=(*info.channels, channel_class.name)
        )

    # -- answers -------------------------------------------------------------

    def plugins(self) -> list[PluginInfo]:
        """Every plugin seen, built-ins first; broken ones carry ``error``."""
        self.load()
        return sorted(self._infos.values(), key=lambda i: (not i.builtin, i.name, i.distribution))

    def channel_types(self) -> dict[str, type[Channel]]:
        self.load()
        return dict(self._channels)

    def channel_class(self, type_name: str) -> type[Channel]:
        self.load()
        try:
            return self._channels[type_name]
        except KeyError:
            broken = [i for i in self._infos.values() if i.error and i.name == type_name]
            if broken:
                info = broken[0]
                raise PluginError(
                    f"channel type {type_name!r} comes from {info.distribution} {info.version}, "
                    f"which failed to load: {info.error}",
                    distribution=info.distribution,
                ) from None
            known = ", ".join(sorted(self._channels)) or "none"
            raise UnknownChannel(
                "type",
                f"no channel type {type_name!r} is installed",
                f"install unipost-{type_name}, or use one of: {known}",
            ) from None

    def resolve_credentials(
        self, channel: str, account: str, config: Mapping[str, Any]
    ) -> Mapping[str, Any] | None:
        """Ask ``unipost_resolve_credentials`` implementations; the first answer wins."""
        self.load()
        hook = self._pm.hook.unipost_resolve_credentials
        try:
            answer = hook(channel=channel, account=account, config=config)
        except Exception as exc:
            culprit = _raised_by(exc, hook.get_hookimpls())
            raise PluginError(
                f"plugin {culprit!r} failed to resolve credentials for channels.{account}: {exc!r}",
                distribution=culprit,
            ) from exc
        return cast("Mapping[str, Any] | None", answer)

    def store_credentials(self, channel: str, account: str, values: Mapping[str, Any]) -> bool:
        """Hand renewed credentials to ``unipost_store_credentials``; False when none stored them."""
        self.load()
        offered: dict[str, Any] = {"channel": channel, "account": account, "values": values}
        for impl in reversed(self._pm.hook.unipost_store_credentials.get_hookimpls()):
            try:
                stored = impl.function(**{k: v for k, v in offered.items() if k in impl.argnames})
            except Exception as exc:
                raise PluginError(
                    f"plugin {impl.plugin_name!r} failed to store renewed credentials for "
                    f"channels.{account}: {exc!r}",
                    distribution=impl.plugin_name,
                ) from exc
            if stored:
                return True
        return False

    def status_sources(self, channels: Mapping[str, Channel]) -> tuple[StatusSource, ...]:
        """Every status feed the plugins name for ``channels`` (``unipost_status_sources``).

        A plugin that raises here is logged and skipped: a status feed is
        advice, and never worth a channel that cannot be built."""
        self.load()
        found: dict[StatusSource, None] = {}
        for impl in reversed(self._pm.hook.unipost_status_sources.get_hookimpls()):
            try:
                for channel in channels.values():
                    answer = cast("Iterable[StatusSource] | None", impl.function(channel=channel))
                    found.update(dict.fromkeys(answer or ()))
            except Exception:
                log.exception(
                    "plugin %r failed to name status sources; its feeds are left out",
                    impl.plugin_name,
                )
        return tuple(found)

    def observers(self) -> list[Callable[..., object]]:
        """The ``unipost_publish_event`` hook as one observer (none when no plugin implements it).

        Called through pluggy like every hook, so hook wrappers and pluggy's
        tracing apply to it.
        """
        self.load()
        if not self._pm.hook.unipost_publish_event.get_hookimpls():
            return []
        return [self._publish_event]

    def _publish_event(self, event: Event) -> None:
        self._pm.hook.unipost_publish_event(event=event)


def _raised_by(exc: BaseException, impls: list[pluggy.HookImpl]) -> str:
    """The plugin whose hook implementation raised ``exc`` (from the traceback)."""
    codes = {getattr(impl.function, "__code__", None): impl.plugin_name for impl in impls}
    tb = exc.__traceback__
    culprit = "unknown"
    while tb is not None:
        culprit = codes.get(tb.tb_frame.f_code, culprit)
        tb = tb.tb_next
    return culprit


_default: PluginHost | None = None


def default_host() -> PluginHost:
    """The process-wide host used when no other is given."""
    global _default
    if _default is None:
        _default = PluginHost()
    return _default
