"""The plugin host: owns the pluggy manager, loads entry points, keeps the registry.

Plugins hand channel *classes* to a ``register`` callback; the core calls
them, each in its own error boundary. A plugin that fails to import, or that
registers a name another distribution already has, is recorded with its
distribution name and version, and every other plugin keeps working.

``UNIPOST_LOAD_PLUGINS=a,b`` loads only those entry points (empty: none);
``UNIPOST_DISABLE_PLUGINS=c`` skips some. Built-in channels always load.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Callable, Iterable, Mapping
from importlib import metadata
from typing import TYPE_CHECKING, Any

import attrs
import pluggy

from unipost import hookspecs
from unipost.errors import PluginError, UnknownChannel

if TYPE_CHECKING:
    from unipost.channel import Channel
    from unipost.events import Event

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


@attrs.define
class Register:
    """The callback handed to ``unipost_register_channels``."""

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
    """A fresh host per registry; tests make their own instead of sharing a global."""

    entry_points: list[metadata.EntryPoint] | None = None
    _pm: pluggy.PluginManager = attrs.field(init=False)
    _channels: dict[str, type[Channel]] = attrs.field(init=False, factory=dict)
    _owners: dict[str, str] = attrs.field(init=False, factory=dict)
    _infos: dict[str, PluginInfo] = attrs.field(init=False, factory=dict)
    _loaded: bool = attrs.field(init=False, default=False)

    def __attrs_post_init__(self) -> None:
        self._pm = pluggy.PluginManager(GROUP)
        self._pm.add_hookspecs(hookspecs)

    # -- loading -----------------------------------------------------------

    def load(self) -> None:
        """Import built-ins and the allowed entry points (once)."""
        if self._loaded:
            return
        self._loaded = True
        version = metadata.version("unipost")
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
        self._pm.check_pending()

    def register_plugin(self, plugin: object, name: str, *, distribution: str = "local") -> None:
        """Register an in-process plugin object (a module or class with hookimpls)."""
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
        self._infos[name] = PluginInfo(
            name=name, distribution=distribution, version=version, builtin=builtin
        )
        register = Register(self, name, distribution)
        for impl in self._pm.hook.unipost_register_channels.get_hookimpls():
            if impl.plugin is not plugin:
                continue
            try:
                impl.function(register=register)
            except Exception as exc:
                self._problem(
                    name, distribution, version, f"unipost_register_channels failed: {exc!r}"
                )

    def _problem(self, name: str, distribution: str, version: str, error: str) -> None:
        log.warning("plugin %s (%s %s) disabled: %s", name, distribution, version, error)
        old = self._infos.get(name)
        channels = old.channels if old else ()
        self._infos[name] = PluginInfo(
            name=name, distribution=distribution, version=version, channels=channels, error=error
        )

    def _add_channel(
        self, channel_class: type[Channel], aliases: tuple[str, ...], plugin: str, distribution: str
    ) -> None:
        for key in (channel_class.name, *aliases):
            if key in self._owners and self._owners[key] != distribution:
                info = self._infos[plugin]
                self._problem(
                    plugin,
                    info.distribution,
                    info.version,
                    f"channel {key!r} is already registered by {self._owners[key]}",
                )
                return
        for key in (channel_class.name, *aliases):
            self._channels[key] = channel_class
            self._owners[key] = distribution
        info = self._infos[plugin]
        self._infos[plugin] = attrs.evolve(info, channels=(*info.channels, channel_class.name))

    # -- answers -------------------------------------------------------------

    def plugins(self) -> list[PluginInfo]:
        self.load()
        return sorted(self._infos.values(), key=lambda i: (not i.builtin, i.name))

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
        self.load()
        result: Mapping[str, Any] | None = self._pm.hook.unipost_resolve_credentials(
            channel=channel, account=account, config=config
        )
        return result

    def observers(self) -> list[Callable[..., object]]:
        """Functions implementing ``unipost_publish_event`` (called without pluggy per event)."""
        self.load()
        return [impl.function for impl in self._pm.hook.unipost_publish_event.get_hookimpls()]

    def emit(self, event: Event) -> None:
        for observer in self.observers():
            try:
                observer(event=event)
            except Exception:
                log.exception("observer %r failed; delivery goes on", observer)


_default: PluginHost | None = None


def default_host() -> PluginHost:
    """The process-wide host used when no other is given."""
    global _default
    if _default is None:
        _default = PluginHost()
    return _default
