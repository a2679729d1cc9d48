"""Configured channels, built when first used: read-only work needs no secret."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from typing import Any

import attrs

from unipost.channel import Channel
from unipost.errors import ConfigurationError, MissingSecret
from unipost.plugins import PluginHost
from unipost.redact import register_phone

PLACEHOLDER = "unset"  # stands in for a missing secret in a preview; too short to be registered


@attrs.frozen(kw_only=True)
class Spec:
    """How to build one configured channel: its class and its settings as written."""

    id: str
    type_name: str
    cls: type[Channel]
    settings: Mapping[str, Any]
    inline_ok: bool
    host: PluginHost


class Channels(Mapping[str, Channel]):
    """The configured channels, each built when first used.

    A channel whose secret is not set is still listed (``unipost channels``,
    ``preview``, ``outbox`` work); using it to send raises
    :class:`~unipost.errors.MissingSecret`, naming the variable.
    """

    def __init__(self, specs: Mapping[str, Spec], built: Mapping[str, Channel]) -> None:
        self._specs = dict(specs)
        self._built = dict(built)

    def __getitem__(self, channel_id: str) -> Channel:
        channel = self._built.get(channel_id)
        if channel is None:
            channel = self._built[channel_id] = build_channel(self._specs[channel_id])
        return channel

    def __contains__(self, channel_id: object) -> bool:
        return channel_id in self._specs  # without building it

    def __iter__(self) -> Iterator[str]:
        return iter(self._specs)

    def __len__(self) -> int:
        return len(self._specs)

    def type_name(self, channel_id: str) -> str:
        return self._specs[channel_id].type_name

    def lacking(self) -> dict[str, MissingSecret]:
        """The channels that cannot send yet, with the secret each one lacks."""
        found: dict[str, MissingSecret] = {}
        for channel_id, spec in self._specs.items():
            if channel_id in self._built:
                continue
            try:
                self._built[channel_id] = build_channel(spec)
            except MissingSecret as exc:
                found[channel_id] = exc
        return found

    def inspect(self, channel_id: str) -> Channel | None:
        """The channel, or a stand-in with placeholder secrets for rendering only.

        None when the channel cannot even be rendered without its secrets.
        """
        try:
            return self[channel_id]
        except MissingSecret:
            pass
        try:
            return build_channel(self._specs[channel_id], placeholders=True)
        except Exception:
            return None


def build_channel(spec: Spec, *, placeholders: bool = False) -> Channel:
    """Resolve the channel's credentials (hook, then environment) and construct it."""
    secrets = secret_fields(spec.cls)
    prefix = f"channels.{spec.id}"
    resolved = spec.host.resolve_credentials(spec.type_name, spec.id, spec.settings)
    merged = {**spec.settings, **(resolved or {})}
    values: dict[str, Any] = {}
    missing: MissingSecret | None = None
    for key, value in merged.items():
        try:
            values[key] = resolve_value(
                f"{prefix}.{key}",
                value,
                secret=key in secrets and key not in (resolved or {}),
                inline_ok=spec.inline_ok,
            )
        except MissingSecret as exc:
            missing = missing or exc  # every other value is still checked first
            values[key] = PLACEHOLDER
    if missing is not None and not placeholders:
        raise missing
    register_numbers(values)
    if not placeholders:
        return spec.cls.from_settings(spec.id, values)
    with validators_off():
        return spec.cls.from_settings(spec.id, values)


RECIPIENT_KEYS = frozenset({"to", "recipients", "numbers", "phone", "phone_number"})


def register_numbers(values: Mapping[str, Any]) -> None:
    """Recipients' phone numbers are masked wherever they appear, even written without ``+``."""
    for key, value in values.items():
        if key not in RECIPIENT_KEYS:
            continue
        items = value if isinstance(value, list | tuple) else [value]
        for item in items:
            if isinstance(item, str) and "@" not in item:
                digits = sum(c.isdigit() for c in item)
                if 7 <= digits <= 15 and all(c.isdigit() or c in "+ -().\u00a0" for c in item):
                    register_phone(item)


@contextlib.contextmanager
def validators_off() -> Iterator[None]:
    was = attrs.validators.get_disabled()
    attrs.validators.set_disabled(True)
    try:
        yield
    finally:
        attrs.validators.set_disabled(was)


def secret_fields(cls: type[Channel]) -> set[str]:
    return {f.name for f in attrs.fields(cls) if f.metadata.get("unipost.secret")}


def resolve_value(key: str, value: Any, *, secret: bool, inline_ok: bool) -> Any:
    if isinstance(value, Mapping) and set(value) == {"env"}:
        name = str(value["env"])
        resolved = os.environ.get(name)
        if resolved is None or resolved == "":
            raise MissingSecret(
                key, f"environment variable {name} is not set", f"export {name}=... before running"
            )
        return resolved
    if isinstance(value, Mapping) and "env" in value:
        raise ConfigurationError(
            key,
            "a secret reference takes only 'env'",
            f'write {key.rsplit(".", 1)[-1]} = {{ env = "NAME" }}',
        )
    if secret and isinstance(value, str) and not inline_ok:
        raise ConfigurationError(
            key,
            "a secret is written into the file",
            f'reference it instead: {key.rsplit(".", 1)[-1]} = {{ env = "NAME" }} '
            "(or set allow_inline_secrets = true)",
        )
    return value
