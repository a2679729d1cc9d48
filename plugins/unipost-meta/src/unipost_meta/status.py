"""Where Meta says how it is: metastatus.com per product, and a WhatsApp number's standing.

``https://metastatus.com/data/orgs.json`` is the document Meta's status site
(metastatus.com) is drawn from: one entry per product (``graph-api``,
``whatsapp-business-api``, ...) with each service's state ("No known issues",
"Low/Medium/High disruptions"). A WhatsApp number's own standing comes from
Graph: ``GET /{phone-number-id}?fields=health_status`` (Meta's "Health
Status" guide for the Cloud API), ``can_send_message`` AVAILABLE / LIMITED /
BLOCKED — the account's, not Meta's health, so it never moves the breaker.
"""

from __future__ import annotations

from unipost.plugin import StatusSource
from unipost_meta.graph import GRAPH_URL, GraphChannel

__all__ = ["METASTATUS_URL", "status_sources"]

#: The JSON behind https://metastatus.com (one object per Meta developer product).
METASTATUS_URL = "https://metastatus.com/data/orgs.json"


def status_sources(channel: GraphChannel, *products: str) -> list[StatusSource]:
    """Meta's status of ``products`` for a channel that talks to the real Graph API.

    A channel pointed at another server (a test double, a proxy) is not
    Meta's, so Meta's status says nothing about it.
    """
    if channel.base_url != GRAPH_URL:
        return []
    return [
        StatusSource(
            domain=channel.failure_domain,
            url=METASTATUS_URL,
            format="metastatus",
            label="Meta",
            components=products,
        )
    ]


def number_health(channel: GraphChannel, phone_number_id: str) -> StatusSource:
    """The WhatsApp number's ``health_status`` (needs the channel's token; never shown)."""
    request = channel.get(phone_number_id, params={"fields": "health_status"})
    return StatusSource(
        domain=channel.failure_domain,
        url=str(request.url),
        format="whatsapp-number",
        label=f"WhatsApp number {phone_number_id}",
        scope="account",
        channel=channel.id,
        headers={"Authorization": request.headers["Authorization"]},
    )
