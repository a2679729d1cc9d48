"""Count deliveries per channel and outcome, as a metrics exporter would."""

from __future__ import annotations

from collections import Counter

import unipost
from unipost.events import Event

COUNTS: Counter[tuple[str, str]] = Counter()


@unipost.hookimpl
def unipost_publish_event(event: Event) -> None:
    if event.name in ("delivered", "failed", "ambiguous", "expired"):
        COUNTS[(event.channel or "?", event.name)] += 1
