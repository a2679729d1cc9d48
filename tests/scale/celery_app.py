"""The Celery app a test worker process runs: unipost's tasks on a PostgreSQL outbox.

Configured from the environment the test sets: broker URL, outbox URL and schema.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from celery import Celery

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "outbox"))

from crash_channels import FAST_BACKGROUND, FAST_INLINE, KeyChannel, LookupChannel

from unipost import Dispatcher
from unipost.celery import install
from unipost.outbox import Store
from unipost.postgres_store import PostgresStore

app = Celery("unipost-test", broker=os.environ["UNIPOST_TEST_BROKER"])
app.conf.update(
    # A killed worker's unacknowledged tasks come back after this, not after Celery's hour.
    broker_transport_options={"visibility_timeout": 10},
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
)


def _store() -> Store:
    return PostgresStore(
        os.environ["UNIPOST_TEST_OUTBOX"], schema=os.environ["UNIPOST_TEST_SCHEMA"], pool_size=2
    )


def _dispatcher(store: Store) -> Dispatcher:
    return Dispatcher(
        channels={
            "key": KeyChannel(id="key", base_url=os.environ["UNIPOST_TEST_KEY_URL"]),
            "lookup": LookupChannel(id="lookup", base_url=os.environ["UNIPOST_TEST_LOOKUP_URL"]),
        },
        store=store,
        attempt_timeout=2.0,  # short leases: a killed worker's records come back in 2.5 s
        lease_margin=0.5,
        inline=FAST_INLINE,
        background=FAST_BACKGROUND,
    )


install(app, store=_store, dispatcher=_dispatcher, every=0.5, claim=20.0)
