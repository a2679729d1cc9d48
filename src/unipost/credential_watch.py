"""The worker checks every channel's credentials on a schedule (``[credentials] check_hours``).

``unipost check`` announces a token a person must renew before it lapses, but
only when someone runs it. The worker runs the same check once per interval,
so ``credential.expiring`` reaches the observers of a shop that only runs
``unipost worker``. Workers sharing an outbox (or a Redis) take turns: the
time of the next check is shared state, so N workers and every restart still
cost one round of checks per interval.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

import attrs

from unipost.clock import nap
from unipost.engine import Engine
from unipost.errors import DeliveryError, MissingSecret, UnipostError

__all__ = ["CredentialWatch"]

_log = logging.getLogger("unipost")
_NEXT_CHECK = "credential-check"  # shared not-before key: when the next round is due


@attrs.define
class CredentialWatch:
    engine: Engine
    check: Callable[[str], Awaitable[object]]  # Operations.check: emits the expiry events
    channel_ids: Sequence[str]
    every: float  # seconds between rounds

    async def check_due(self) -> int:
        """One round of checks if it is this process's turn; returns how many channels ran."""
        engine = self.engine
        now = engine.clock.now()
        if engine.shared.not_before(_NEXT_CHECK) > now:
            return 0
        engine.shared.push_not_before(_NEXT_CHECK, now + self.every)
        checked = 0
        for channel_id in self.channel_ids:
            try:
                await self.check(channel_id)
            except MissingSecret:
                continue  # not configured to send yet: `unipost channels` says what it lacks
            except (DeliveryError, UnipostError, TimeoutError) as exc:
                error_class = exc.error_class.value if isinstance(exc, DeliveryError) else "config"
                engine.emit(
                    "credential.check_failed",
                    channel=channel_id,
                    error_class=error_class,
                    reason=str(exc) or type(exc).__name__,
                )
            checked += 1
        return checked

    async def run(self, stop: asyncio.Event) -> None:
        """Check on schedule until ``stop`` is set (beside the background lane's loop)."""
        clock = self.engine.clock
        while not stop.is_set():
            try:
                await self.check_due()
            except Exception as exc:  # a bug here must never stop deliveries
                _log.exception("unipost credential checks failed; they run again later")
                self.engine.emit("credential.check_failed", channel="*", reason=repr(exc))
            due = self.engine.shared.not_before(_NEXT_CHECK)
            await nap(clock, min(self.every, max(1.0, due - clock.now())), stop)
