"""Every value in unipost.toml has a type and a range: checked at load, naming table and key."""

from __future__ import annotations

import enum
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from unipost.channel import Channel
from unipost.errors import ConfigurationError

_DISPATCH_NUMBERS = {"deadline": float, "attempt_timeout": float, "verify_after": float}


# -- value types ------------------------------------------------------------------------------


def type_word(tp: Any) -> str:
    words = {bool: "true or false", int: "a whole number", float: "a number", str: "a string"}
    if tp in words:
        return words[tp]
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(type_word(a) for a in typing.get_args(tp) if a is not type(None))
    if origin in (list, tuple, set, frozenset) or getattr(origin, "__name__", "") == "Sequence":
        return "a list"
    if origin is typing.Literal:
        return " or ".join(repr(a) for a in typing.get_args(tp))
    return getattr(tp, "__name__", str(tp))


def conforms(value: Any, tp: Any) -> bool:
    """Whether a TOML value fits an annotation; unknown annotations are accepted."""
    if tp is Any or tp is object:
        return True
    if tp is type(None):
        return value is None
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if tp is str or tp is Path:
        return isinstance(value, str)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return value in {m.value for m in tp} or isinstance(value, tp)
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        return any(conforms(value, a) for a in args)
    if origin is typing.Literal:
        return value in args
    if origin in (list, tuple, set, frozenset) or (
        isinstance(origin, type) and origin.__name__ in ("Sequence", "Collection", "Iterable")
    ):
        if not isinstance(value, list | tuple):
            return False
        item = args[0] if args else Any
        return all(conforms(v, item) for v in value)
    if origin in (dict,) or (isinstance(origin, type) and origin.__name__ == "Mapping"):
        return isinstance(value, Mapping)
    return True


def numeric(tp: Any) -> bool:
    """``int``, ``float`` or an optional one (``int | None``)."""
    if tp in (int, float):
        return True
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        kinds = [a for a in typing.get_args(tp) if a is not type(None)]
        return bool(kinds) and all(a in (int, float) for a in kinds)
    return False


def check_settings(cls: type[Channel], prefix: str, settings: Mapping[str, Any]) -> None:
    """Each setting has the type its field declares, and numbers are in range.

    Fields with a converter decide for themselves; numeric settings without a
    validator of their own must be positive (ports at most 65535).
    """
    try:
        hints = typing.get_type_hints(cls)
    except Exception:  # an annotation this module cannot resolve: the channel checks it
        hints = {}
    fields = {f.alias or f.name: f for f in attrs.fields(cls) if f.init and f.name != "id"}
    renamed = getattr(cls, "renamed_settings", {})  # old names a channel still reads
    for key, value in settings.items():
        field = fields.get(renamed.get(key, key))
        if field is None:
            raise ConfigurationError(
                f"{prefix}.{key}",
                "unknown setting",
                f"settings for {cls.name}: {', '.join(sorted(fields)) or 'none'}",
            )
        if field.converter is not None:
            continue
        if isinstance(value, Mapping) and "env" in value:
            continue  # resolved later; a variable's text is checked by the channel
        tp = hints.get(field.name, Any)
        table = f"[{prefix}]"
        if not conforms(value, tp):
            raise ConfigurationError(
                f"{prefix}.{key}",
                f"in {table}, {key} must be {type_word(tp)}, not {value!r}",
                f"write e.g. {key} = {587 if key == 'port' else example(tp, field.default)}",
            )
        if field.validator is None and numeric(tp) and value is not None:
            top = 65535 if key == "port" else None
            if value <= 0 or (top is not None and value > top):
                span = f"between 1 and {top}" if top else "above 0"
                raise ConfigurationError(
                    f"{prefix}.{key}",
                    f"in {table}, {key} must be {span}, not {value!r}",
                    f"write e.g. {key} = {example(tp, field.default)}",
                )


def example(tp: Any, default: Any) -> str:
    if (
        default is not attrs.NOTHING
        and default is not None
        and not isinstance(
            default,
            attrs.Factory,  # type: ignore[arg-type]
        )
    ):
        return "true" if default is True else "false" if default is False else repr(default)
    word = type_word(tp)
    return {"a whole number": "1", "a number": "1.5", "a string": '"..."'}.get(word, "...")


def check_dispatch(dispatch: Mapping[str, Any], known: set[str]) -> None:
    for key, value in dispatch.items():
        if key not in known:
            raise ConfigurationError(
                f"dispatch.{key}", "unknown key", f"use one of: {', '.join(sorted(known))}"
            )
        if key in _DISPATCH_NUMBERS:
            ok = conforms(value, float) and value > 0
            need = "a number of seconds above 0"
            example = "30"
        else:
            ok = conforms(value, int) and value >= 1
            need = "a whole number of 1 or more"
            example = "4"
        if not ok:
            raise ConfigurationError(
                f"dispatch.{key}",
                f"in [dispatch], {key} must be {need}, not {value!r}",
                f"write e.g. {key} = {example}",
            )


def credential_settings(section: Any) -> tuple[float, float]:
    """``[credentials]``: ``warn_days`` ahead of an expiry (default 7) and the worker's
    ``check_hours`` between rounds of checks (default 24; 0 turns them off)."""
    if not isinstance(section, Mapping):
        raise ConfigurationError(
            "credentials", "must be a table", "write [credentials] warn_days = 7"
        )
    for key in section:
        if key not in ("warn_days", "check_hours"):
            raise ConfigurationError(
                f"credentials.{key}", "unknown key", "use warn_days or check_hours"
            )
    values = []
    for key, default, example in (("warn_days", 7, 7), ("check_hours", 24, 24)):
        value = section.get(key, default)
        if not (conforms(value, float) and value >= 0):
            unit = "days" if key == "warn_days" else "hours"
            raise ConfigurationError(
                f"credentials.{key}",
                f"in [credentials], {key} must be a number of {unit} of 0 or more, not {value!r}",
                f"write e.g. {key} = {example}",
            )
        values.append(float(value))
    return values[0], values[1]


def check_route_options(key: str, value: Mapping[str, Any]) -> None:
    patience = value.get("patience")
    if patience is not None and not (conforms(patience, float) and patience > 0):
        raise ConfigurationError(
            f"{key}.patience",
            f"must be a number of seconds above 0, not {patience!r}",
            "write e.g. patience = 60",
        )
    minimum = value.get("min_success")
    if minimum is not None and not (conforms(minimum, int) and minimum >= 1):
        raise ConfigurationError(
            f"{key}.min_success",
            f"must be a whole number of 1 or more, not {minimum!r}",
            "write e.g. min_success = 1",
        )
