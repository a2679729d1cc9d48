"""Where a route stands, from its records: pure functions, shared by both lanes and reports.

A route's records are keyed by path (``"0.1.0"``: the second target's first
target). ``status`` says what a report says; ``passed`` says whether a
``first_of`` may move past a target (failed, blocked, or out of patience).
"""

from __future__ import annotations

from collections.abc import Mapping

from unipost.outbox import Record, State
from unipost.report import ReportStatus
from unipost.routes import FirstOf, Leaf, Route

__all__ = ["node_at", "passed", "position", "status", "within"]

_LEAF_STATUS = {
    State.DELIVERED: ReportStatus.SUCCEEDED,
    State.FAILED: ReportStatus.FAILED,
    State.EXPIRED: ReportStatus.FAILED,
    State.CANCELLED: ReportStatus.FAILED,
    State.SKIPPED: ReportStatus.FAILED,
    State.BLOCKED: ReportStatus.PENDING,  # waits for reauthorize() or resolve()
    State.AMBIGUOUS: ReportStatus.AMBIGUOUS,
}


def position(path: str) -> tuple[int, ...]:
    """Route order of a path: ``0.10`` comes after ``0.2``."""
    return tuple(int(p) for p in path.split("."))


def within(path: str, node_path: str) -> bool:
    """Whether ``path`` is ``node_path`` or a leaf below it."""
    return path == node_path or path.startswith(node_path + ".")


def node_at(route: Route, path: str) -> Route:
    """The target at ``path`` (``"0"`` is the route itself)."""
    node = route
    for index in path.split(".")[1:]:
        assert not isinstance(node, Leaf)
        node = node.targets[int(index)]
    return node


def status(node: Route, path: str, records: Mapping[str, Record]) -> ReportStatus:
    """What a report says about ``node``: succeeded, partial, pending, failed or ambiguous."""
    if isinstance(node, Leaf):
        return _LEAF_STATUS.get(records[path].state, ReportStatus.PENDING)
    statuses = [status(child, f"{path}.{i}", records) for i, child in enumerate(node.targets)]
    succeeded = statuses.count(ReportStatus.SUCCEEDED)
    if isinstance(node, FirstOf):
        if succeeded:
            return ReportStatus.SUCCEEDED
        if ReportStatus.AMBIGUOUS in statuses and node.on_ambiguous == "hold":
            return ReportStatus.AMBIGUOUS
        for candidate in (ReportStatus.PENDING, ReportStatus.AMBIGUOUS, ReportStatus.PARTIAL):
            if candidate in statuses:
                return candidate
        return ReportStatus.FAILED
    need = node.min_success or len(node.targets)
    if succeeded >= need and ReportStatus.FAILED not in statuses:
        return ReportStatus.SUCCEEDED  # the rest may still be pending: min_success is met
    for candidate in (ReportStatus.PENDING, ReportStatus.AMBIGUOUS):
        if candidate in statuses:
            return candidate
    if succeeded or ReportStatus.PARTIAL in statuses:
        return ReportStatus.PARTIAL
    return ReportStatus.FAILED


def passed(node: Route, path: str, records: Mapping[str, Record]) -> bool:
    """Whether a ``first_of`` may move past ``node`` (failed, blocked, or out of patience)."""
    if isinstance(node, Leaf):
        record = records[path]
        if record.state is State.DELIVERED:
            return False
        return record.state.terminal or record.state is State.BLOCKED or record.moved_on
    children = [(child, f"{path}.{i}") for i, child in enumerate(node.targets)]
    if isinstance(node, FirstOf):
        return all(passed(child, p, records) for child, p in children)
    need = node.min_success or len(node.targets)
    alive = sum(1 for child, p in children if not passed(child, p, records))
    return alive < need
