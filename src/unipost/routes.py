"""Routes: where a post goes. ``all_of`` every target, ``first_of`` the first that works.

Routes nest: ``all_of("site", first_of("facebook", "email-list"))``. A plain
list or tuple means ``all_of``; a string is one channel.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Literal, TypeAlias

import attrs

from unipost.errors import UsageError

__all__ = ["AllOf", "FirstOf", "Leaf", "Route", "Target", "all_of", "as_route", "first_of"]


@attrs.frozen
class Leaf:
    """One configured channel, by id."""

    channel: str


@attrs.frozen(kw_only=True)
class AllOf:
    """Deliver to every target; succeed when ``min_success`` (default: all) are delivered."""

    targets: tuple[Route, ...]
    min_success: int | None = None


@attrs.frozen(kw_only=True)
class FirstOf:
    """Try targets in order; stop at the first delivered.

    ``patience`` (seconds) is how long one alternative may take before the next
    is tried (default: the lane's, 10 s inline, 30 min in the worker).
    ``on_ambiguous="hold"`` stops the chain when an alternative may have posted;
    ``"continue"`` moves on and marks the outcome ``possible_duplicate``.
    """

    targets: tuple[Route, ...]
    patience: float | None = None
    on_ambiguous: Literal["hold", "continue"] = "hold"


Route: TypeAlias = Leaf | AllOf | FirstOf
Target: TypeAlias = "str | Route | Sequence[Target]"


def as_route(target: Any) -> Route:
    """Normalise a string, list or route into a :data:`Route`."""
    if isinstance(target, Leaf | AllOf | FirstOf):
        return target
    if isinstance(target, str):
        if not target.strip():
            raise UsageError("to", "empty channel name", "name a configured channel such as 'site'")
        return Leaf(target.strip())
    if isinstance(target, Sequence):
        return all_of(*target)
    raise UsageError(
        "to", f"cannot route to {target!r}", "pass a channel name, a list, all_of() or first_of()"
    )


def all_of(*targets: Any, min_success: int | None = None) -> AllOf:
    """Every target; the report succeeds once ``min_success`` of them are delivered."""
    if not targets:
        raise UsageError(
            "to", "all_of() needs at least one target", "name the channels to publish to"
        )
    routes = tuple(as_route(t) for t in targets)
    if min_success is not None and not 1 <= min_success <= len(routes):
        raise UsageError(
            "min_success", f"{min_success} is outside 1..{len(routes)}", "use a count of targets"
        )
    return AllOf(targets=routes, min_success=min_success)


def first_of(
    *targets: Any, patience: float | None = None, on_ambiguous: Literal["hold", "continue"] = "hold"
) -> FirstOf:
    """The first target that delivers; the others are fallbacks, in order."""
    if not targets:
        raise UsageError(
            "to", "first_of() needs at least one target", "name the channels to try in order"
        )
    if on_ambiguous not in ("hold", "continue"):
        raise UsageError("on_ambiguous", f"{on_ambiguous!r}", "use 'hold' or 'continue'")
    return FirstOf(
        targets=tuple(as_route(t) for t in targets), patience=patience, on_ambiguous=on_ambiguous
    )


def leaves(route: Route, path: str = "0") -> Iterator[tuple[str, Leaf]]:
    """Every leaf with its path (``"0.1.0"``), depth first, in order."""
    if isinstance(route, Leaf):
        yield path, route
        return
    for index, child in enumerate(route.targets):
        yield from leaves(child, f"{path}.{index}")


def to_dict(route: Route) -> dict[str, Any]:
    """A JSON-safe form, stored with the post in the outbox."""
    if isinstance(route, Leaf):
        return {"channel": route.channel}
    children = [to_dict(t) for t in route.targets]
    if isinstance(route, AllOf):
        return {"all_of": children, "min_success": route.min_success}
    return {"first_of": children, "patience": route.patience, "on_ambiguous": route.on_ambiguous}


def from_dict(data: Mapping[str, Any]) -> Route:
    if "channel" in data:
        return Leaf(data["channel"])
    if "all_of" in data:
        return AllOf(
            targets=tuple(from_dict(t) for t in data["all_of"]), min_success=data.get("min_success")
        )
    return FirstOf(
        targets=tuple(from_dict(t) for t in data["first_of"]),
        patience=data.get("patience"),
        on_ambiguous=data.get("on_ambiguous", "hold"),
    )


def describe(route: Route) -> str:
    """``all_of(site, first_of(facebook, email))``."""
    if isinstance(route, Leaf):
        return route.channel
    name = "all_of" if isinstance(route, AllOf) else "first_of"
    return f"{name}({', '.join(describe(t) for t in route.targets)})"
