"""unipost's testing kit: drive channels, fake ones, virtual time, contract tests.

``ChannelContract`` needs pytest and is imported on first use.
"""

from __future__ import annotations

from typing import Any

from unipost.testing._drive import adeliver, check, deliver, lookup, make_context

__all__ = ["ChannelContract", "adeliver", "check", "deliver", "lookup", "make_context"]


def __getattr__(name: str) -> Any:
    if name == "ChannelContract":
        from unipost.testing.contract import ChannelContract

        return ChannelContract
    raise AttributeError(name)
