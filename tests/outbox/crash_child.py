"""Child of test_crash.py: publish N posts to both channels, then work until nothing is open.

Run again after a SIGKILL it replays what exists (same post ids) and lets the
worker recover whatever the killed run left ``sending``.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from crash_channels import make_dispatcher

from unipost import Dispatcher, Post, State

OPEN = (State.PENDING, State.SENDING, State.RETRY_WAIT, State.RECONCILING, State.BLOCKED)


async def run(dispatcher: Dispatcher, count: int) -> None:
    gate = asyncio.Semaphore(16)

    async def one(n: int) -> None:
        async with gate:
            post = Post(id=f"post-{n:04d}", text=f"Offer {n}: 20% off all pastries today.")
            await dispatcher.apublish(post, ["key", "lookup"], deadline=3.0)

    await asyncio.gather(*(one(n) for n in range(count)))
    while dispatcher.store.query(states=OPEN, limit=1):
        if await dispatcher.arun_due() == 0:
            await asyncio.sleep(0.02)
    await dispatcher.aclose()


def main() -> None:
    db, key_url, lookup_url, count = sys.argv[1:5]
    dispatcher = make_dispatcher(db, key_url, lookup_url)
    try:
        asyncio.run(run(dispatcher, int(count)))
    finally:
        dispatcher.store.close()


if __name__ == "__main__":
    main()
