"""Fixtures for dispatcher tests: a rig on virtual time whose invariants are checked."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.dispatch.invariants import Rig, build_rig, release


@pytest.fixture
def make_rig() -> Iterator[Callable[..., Rig]]:
    made: list[Rig] = []

    def build(*args: Any, **kwargs: Any) -> Rig:
        rig = build_rig(*args, **kwargs)
        made.append(rig)
        return rig

    yield build
    for rig in made:
        release(rig)
        rig.dispatcher.close()
