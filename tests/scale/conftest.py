"""The outbox tests' local HTTP platforms, for the scale tests."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

OUTBOX_TESTS = Path(__file__).resolve().parent.parent / "outbox"


def _load_outbox_conftest() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "scale_outbox_servers", OUTBOX_TESTS / "conftest.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


servers = _load_outbox_conftest()


@pytest.fixture
def key_server() -> Iterator[Any]:
    server = servers.PostServer(dedupe=True)
    yield server
    server.close()


@pytest.fixture
def lookup_server() -> Iterator[Any]:
    server = servers.PostServer(dedupe=False)
    yield server
    server.close()


@pytest.fixture
def test_channels() -> ModuleType:
    """KeyChannel, LookupChannel and the fast retry policies of the outbox tests."""
    module: ModuleType = servers.channels
    return module
