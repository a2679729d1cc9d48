"""unipost's pytest fixtures, opt-in: ``pytest_plugins = ["unipost.testing.pytest_plugin"]``.

Put that line in your top-level ``conftest.py`` (or a test module) and these
fixtures are available:

* ``unipost_clock`` — a fresh :class:`~unipost.testing.VirtualClock`: retries,
  backoff and timeouts complete at once, in order, and can be asserted exactly;
* ``unipost_recorder`` — an :class:`~unipost.testing.EventRecorder` that every
  ``unipost_dispatcher`` reports its events to;
* ``unipost_host`` — a :class:`~unipost.plugins.PluginHost` of its own, which finds
  the installed plugins but shares nothing with the process-wide one, so a
  test can ``register_plugin()`` without leaking into other tests;
* ``unipost_dispatcher`` — a factory: ``unipost_dispatcher(channel, ...)`` builds a
  :class:`~unipost.Dispatcher` over those channel instances (keyed by their
  ``id``) with a memory outbox, the virtual clock, the recorder and the
  host's observers; every dispatcher it made is closed after the test.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from unipost.channel import Channel
from unipost.dispatcher import Dispatcher
from unipost.events import Event
from unipost.outbox import MemoryStore
from unipost.plugins import PluginHost
from unipost.testing.clock import VirtualClock
from unipost.testing.fake import EventRecorder

__all__ = ["unipost_clock", "unipost_dispatcher", "unipost_host", "unipost_recorder"]

DispatcherFactory = Callable[..., Dispatcher]


@pytest.fixture
def unipost_clock() -> VirtualClock:
    """Virtual time for one test."""
    return VirtualClock()


@pytest.fixture
def unipost_recorder() -> EventRecorder:
    """Every event of the dispatchers made by ``unipost_dispatcher``."""
    return EventRecorder()


@pytest.fixture
def unipost_host() -> PluginHost:
    """A plugin host of this test's own (installed plugins, nothing shared)."""
    return PluginHost()


def _call_observer(function: Callable[..., object], event: Event) -> None:
    function(event=event)


@pytest.fixture
def unipost_dispatcher(
    unipost_clock: VirtualClock, unipost_recorder: EventRecorder, unipost_host: PluginHost
) -> Iterator[DispatcherFactory]:
    """``unipost_dispatcher(*channels, **options)``: a dispatcher closed after the test.

    ``options`` go to :class:`~unipost.Dispatcher` (``store=``, ``deadline=``,
    ``seed=``...); the defaults are a memory outbox and seed 0, so jitter repeats.
    """
    made: list[Dispatcher] = []

    def build(*channels: Channel, **options: Any) -> Dispatcher:
        observers = [
            unipost_recorder,
            *(functools.partial(_call_observer, f) for f in unipost_host.observers()),
        ]
        settings: dict[str, Any] = {
            "channels": {channel.id: channel for channel in channels},
            "store": MemoryStore(),
            "clock": unipost_clock,
            "observers": observers,
            "seed": 0,
            **options,
        }
        dispatcher = Dispatcher(**settings)
        made.append(dispatcher)
        return dispatcher

    yield build
    for dispatcher in made:
        dispatcher.close()
