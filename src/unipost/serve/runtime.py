"""What every handler shares: the dispatcher, the config it came from, the settings."""

from __future__ import annotations

import time

import attrs
from starlette.requests import Request

from unipost.config import Config
from unipost.dispatcher import Dispatcher
from unipost.serve.auth import Sessions
from unipost.serve.settings import ServeSettings

__all__ = ["Runtime", "runtime"]


@attrs.define(kw_only=True)
class Runtime:
    dispatcher: Dispatcher
    config: Config
    settings: ServeSettings
    sessions: Sessions = attrs.field(factory=Sessions)
    started_at: float = attrs.field(factory=time.time)
    worker_running: bool = False


def runtime(request: Request) -> Runtime:
    found: Runtime = request.app.state.unipost
    return found
