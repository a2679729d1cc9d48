"""Child of test_crash_lookup.py: publish N Facebook posts, then work until nothing is open.

Facebook has no idempotency key: a create cut off by a SIGKILL is settled
after the restart by paging back through the Page's posts. Run again after
a kill it first recovers whatever the killed run left ``sending`` (once its
lease runs out), then replays the same post ids.
"""

from __future__ import annotations

import asyncio
import sys

from unipost_meta.facebook import FacebookChannel

from unipost import Dispatcher, Post, State
from unipost.retry import RetryPolicy
from unipost.sqlite_store import SQLiteStore

OPEN = (State.PENDING, State.SENDING, State.RETRY_WAIT, State.RECONCILING, State.BLOCKED)
INLINE = RetryPolicy(attempts=3, base=0.01, cap=0.05, reconcile_delays=(0.05, 0.1), patience=2)
BACKGROUND = RetryPolicy(attempts=None, base=0.02, cap=0.2, reconcile_delays=(0.05, 0.1))


def text(n: int) -> str:
    return f"Offer {n}: 20% off all pastries today."


async def settle(dispatcher: Dispatcher) -> None:
    """Work until nothing is open: first what a killed run left, at the end everything."""
    while dispatcher.store.query(states=OPEN, limit=1):
        if await dispatcher.arun_due() == 0:
            await asyncio.sleep(0.02)


async def run(dispatcher: Dispatcher, count: int) -> None:
    await settle(dispatcher)
    for n in range(count):
        await dispatcher.apublish(Post(id=f"post-{n:03d}", text=text(n)), ["fb"], deadline=3.0)
    await settle(dispatcher)
    await dispatcher.aclose()


def main() -> None:
    db, graph_url, count = sys.argv[1:4]
    channel = FacebookChannel(id="fb", page_id="1234", token="page-token", base_url=graph_url)
    dispatcher = Dispatcher(
        channels={"fb": channel},
        store=SQLiteStore(db),
        attempt_timeout=2.0,
        lease_margin=0.5,
        inline=INLINE,
        background=BACKGROUND,
    )
    try:
        asyncio.run(run(dispatcher, int(count)))
    finally:
        dispatcher.store.close()


if __name__ == "__main__":
    main()
