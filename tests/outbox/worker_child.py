"""A worker process for test_processes.py: wait for the go file, then deliver until nothing is open."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from crash_channels import make_dispatcher

from unipost import Dispatcher, State

OPEN = (State.PENDING, State.SENDING, State.RETRY_WAIT, State.RECONCILING, State.BLOCKED)


async def work(dispatcher: Dispatcher) -> None:
    while dispatcher.store.query(states=OPEN, limit=1):
        if await dispatcher.arun_due() == 0:
            await asyncio.sleep(0.01)
    await dispatcher.aclose()


def main() -> None:
    db, key_url, lookup_url, go = sys.argv[1:5]
    # Nobody is killed here: generous attempt timeouts, so no attempt is ever cut off.
    dispatcher = make_dispatcher(db, key_url, lookup_url, attempt_timeout=30.0)
    print("ready", flush=True)
    while not Path(go).exists():
        time.sleep(0.005)
    try:
        asyncio.run(work(dispatcher))
    finally:
        dispatcher.store.close()


if __name__ == "__main__":
    main()
