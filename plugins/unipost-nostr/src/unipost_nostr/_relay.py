"""One relay: open a WebSocket, send ``["EVENT", event]``, read the NIP-20 ``OK`` answer."""

from __future__ import annotations

import asyncio
import enum
import json
from typing import Any

import attrs
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidHandshake, WebSocketException

__all__ = ["Outcome", "RelayResult", "outcome_of", "publish_to_relay"]


class Outcome(enum.Enum):
    ACCEPTED = "accepted"  # OK true, or OK false "duplicate:" (the relay has it)
    TRANSIENT = "transient"  # "rate-limited:", "error:": send the same event again later
    AUTH = "auth"  # "auth-required:": the relay wants NIP-42, which unipost does not do
    REJECTED = "rejected"  # "invalid:", "pow:", "blocked:", "restricted:", "mute:"...
    UNREACHABLE = "unreachable"  # no connection: nothing was sent
    NO_ANSWER = "no_answer"  # sent, but no OK before the deadline: it may be stored


_TRANSIENT = ("rate-limited:", "error:")


@attrs.frozen
class RelayResult:
    relay: str
    outcome: Outcome
    message: str = ""


def outcome_of(accepted: bool, message: str) -> Outcome:
    """A NIP-01/NIP-20 ``OK`` answer's meaning, by its machine-readable prefix."""
    if accepted or message.startswith("duplicate:"):
        return Outcome.ACCEPTED
    if message.startswith(_TRANSIENT):
        return Outcome.TRANSIENT
    if message.startswith("auth-required:"):
        return Outcome.AUTH
    return Outcome.REJECTED


async def publish_to_relay(relay: str, event: dict[str, Any], budget: float) -> RelayResult:
    """Send ``event`` to ``relay`` and wait at most ``budget`` seconds in all for its ``OK``."""
    wire = json.dumps(["EVENT", event], ensure_ascii=False, separators=(",", ":"))
    sent = False
    try:
        async with asyncio.timeout(budget):
            async with connect(relay, open_timeout=None, close_timeout=1) as websocket:
                await websocket.send(wire)
                sent = True
                while True:
                    frame = json.loads(await websocket.recv())
                    # One event per connection, so an OK is ours. nostr-relay 1.14 answers a
                    # rejected event with an empty id (["OK", "", false, "invalid: ..."]).
                    if (
                        isinstance(frame, list)
                        and len(frame) >= 3
                        and frame[0] == "OK"
                        and frame[1] in (event["id"], "")
                    ):
                        message = str(frame[3]) if len(frame) > 3 else ""
                        return RelayResult(relay, outcome_of(bool(frame[2]), message), message)
                    # NOTICE, AUTH challenges and the like: keep waiting for our OK.
    except TimeoutError:
        reason = f"no OK within {budget:.1f} s" if sent else f"no connection within {budget:.1f} s"
        return RelayResult(relay, Outcome.NO_ANSWER if sent else Outcome.UNREACHABLE, reason)
    except (OSError, InvalidHandshake, WebSocketException, ValueError) as error:
        reason = f"{type(error).__name__}: {error}"
        return RelayResult(relay, Outcome.NO_ANSWER if sent else Outcome.UNREACHABLE, reason)
