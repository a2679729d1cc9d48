"""unipost's testing kit: drive channels, fake ones, virtual time, contract tests.

* :func:`set_testing` — every new dispatcher runs on a :class:`VirtualClock`: no real waiting.
* :class:`FakeChannel` / :class:`FakeServer` — a scriptable channel that records what it "posted".
* :class:`EventRecorder` — an observer that keeps every event.
* :func:`deliver` / :func:`adeliver` — drive one channel's flow directly (pytest-httpx sees it);
  :func:`check` / :func:`check_status` its credential check.
* ``ChannelContract`` — the conformance tests a plugin subclasses (needs pytest; imported on use).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from unipost.clock import SystemClock, set_default_clock
from unipost.testing._drive import (
    adeliver,
    check,
    check_status,
    delete,
    deliver,
    lookup,
    make_context,
)
from unipost.testing.clock import VirtualClock
from unipost.testing.fake import (
    EventRecorder,
    FakeChannel,
    FakeServer,
    fake_channel,
    lands_later,
    png,
)

__all__ = [
    "ChannelContract",
    "EventRecorder",
    "FakeChannel",
    "FakeServer",
    "VirtualClock",
    "adeliver",
    "check",
    "check_status",
    "delete",
    "deliver",
    "fake_channel",
    "lands_later",
    "lookup",
    "make_context",
    "png",
    "set_testing",
]


@contextmanager
def _restoring() -> Iterator[None]:
    try:
        yield
    finally:
        set_default_clock(SystemClock)


def set_testing(on: bool = True) -> Any:
    """Make every new dispatcher use virtual time (stamina's ``set_testing``).

    Works as a plain call or as a context manager that switches back on exit.
    """
    set_default_clock(VirtualClock if on else SystemClock)
    return _restoring()


def __getattr__(name: str) -> Any:
    if name == "ChannelContract":
        from unipost.testing.contract import ChannelContract

        return ChannelContract
    raise AttributeError(name)
