"""A broadcast to N recipients by SMS (Twilio) and by WhatsApp, against a raw httpx loop.

One post to a ``twilio-sms`` (or ``whatsapp``) channel with N numbers is one
delivery whose flow sends N requests (``POST …/Messages.json``, form-encoded;
``POST /v23.0/{phone-number-id}/messages``, JSON), one after the other, to the
local instant endpoint (``server.py``, its own process). The raw loop sends the
same N requests with one ``httpx.AsyncClient``, also one after the other. Each
row gives messages per second and CPU per message of this process.

    python benchmarks/broadcast.py [--recipients 10000] [--store sqlite|memory]
                                   [--channel sms|whatsapp|both]
                                   [--only raw|unipost] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from server import ServerProcess

ACCOUNT = "AC" + "0" * 31 + "1"
SERVICE = "MG" + "0" * 31 + "2"
TOKEN = "benchmark-auth-token-0123456789"  # noqa: S105 - a fake, for a local endpoint
GRAPH_TOKEN = "EAAbenchmarktoken0123456789"  # noqa: S105 - a fake, for a local endpoint
PHONE_ID = "106540352242922"
TEXT = "Storm warning: we are closed today. Stay safe! https://bakery.example/news"


def numbers(count: int) -> list[str]:
    return [f"+1555{index:07d}" for index in range(count)]


def measure(label: str, count: int, run: Callable[[], int]) -> dict[str, Any]:
    cpu0, wall0 = time.process_time(), time.perf_counter()
    sent = run()
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    assert sent == count, f"{label}: {sent} of {count} sent"
    print(f"{label}: {wall:.2f} s, {cpu / count * 1e6:.0f} µs CPU/message", file=sys.stderr)
    return {"client": label, "messages": count, "seconds": wall, "cpu": cpu}


# -- unipost ------------------------------------------------------------------


def sms_channel(base: str, recipients: list[str]) -> Any:
    from unipost_twilio import TwilioSmsChannel

    return TwilioSmsChannel(
        id="broadcast",
        account_sid=ACCOUNT,
        auth_token=TOKEN,
        messaging_service_sid=SERVICE,
        to=recipients,
        base_url=base,
    )


def whatsapp_channel(base: str, recipients: list[str]) -> Any:
    from unipost_meta import WhatsAppChannel

    return WhatsAppChannel(
        id="broadcast", phone_number_id=PHONE_ID, token=GRAPH_TOKEN, to=recipients, base_url=base
    )


def unipost_broadcast(channel: Any, store_kind: str) -> int:
    """One publish of one post to ``channel``; the recipients it reached."""
    import unipost
    from unipost.sqlite_store import SQLiteStore

    with tempfile.TemporaryDirectory() as folder:
        store = (
            unipost.MemoryStore()
            if store_kind == "memory"
            else SQLiteStore(Path(folder) / "outbox.sqlite3")
        )
        dispatcher = unipost.Dispatcher(
            channels={"broadcast": channel}, store=store, attempt_timeout=3600.0
        )
        try:
            report = dispatcher.publish(
                unipost.Post(text=TEXT, id=f"broadcast-{time.time_ns()}"),
                "broadcast",
                deadline=3600,
            )
        finally:
            dispatcher.close()
    outcome = report["broadcast"]
    assert outcome.ok, str(report)
    return sum(1 for r in outcome.recipients if r.ok)


# -- the raw loops: the same requests, nothing else ------------------------------


def raw_sms(base: str, recipients: list[str]) -> int:
    """The Twilio requests unipost sends: form body, HTTP Basic, one per number."""
    import httpx

    url = f"{base}/2010-04-01/Accounts/{ACCOUNT}/Messages.json"
    auth = base64.b64encode(f"{ACCOUNT}:{TOKEN}".encode()).decode()
    headers = {"Authorization": f"Basic {auth}", "Accept": "application/json"}

    async def loop() -> int:
        sent = 0
        async with httpx.AsyncClient() as client:
            for number in recipients:
                data = {"To": number, "Body": TEXT, "MessagingServiceSid": SERVICE}
                response = await client.post(url, data=data, headers=headers)
                response.json()
                sent += response.status_code == 201
        return sent

    return asyncio.run(loop())


def raw_whatsapp(base: str, recipients: list[str]) -> int:
    """The WhatsApp Cloud API requests unipost sends: JSON body, Bearer token, one per number."""
    import httpx

    url = f"{base}/v23.0/{PHONE_ID}/messages"
    headers = {"Authorization": f"Bearer {GRAPH_TOKEN}"}

    async def loop() -> int:
        sent = 0
        async with httpx.AsyncClient() as client:
            for number in recipients:
                message = {
                    "messaging_product": "whatsapp",
                    "recipient_type": "individual",
                    "to": number.lstrip("+"),
                    "type": "text",
                    "text": {"body": TEXT, "preview_url": True},
                }
                response = await client.post(url, json=message, headers=headers)
                sent += bool(response.json()["messages"][0]["id"])
        return sent

    return asyncio.run(loop())


# -- the run ------------------------------------------------------------------------


def run_pair(
    kind: str, server: ServerProcess, recipients: list[str], store: str, only: str | None
) -> list[dict[str, Any]]:
    """The raw loop, then unipost, for ``kind`` (``sms`` or ``whatsapp``)."""
    if kind == "sms":
        base = server.url("0/201").rstrip("/")
        raw, channel, label = raw_sms, sms_channel(base, recipients), "twilio-sms"
    else:
        base = server.url("0/200/whatsapp").rstrip("/")
        raw, channel, label = raw_whatsapp, whatsapp_channel(base, recipients), "whatsapp"
    count = len(recipients)
    rows = []
    if only in (None, "raw"):
        rows.append(measure(f"raw httpx loop ({kind})", count, lambda: raw(base, recipients)))
    if only in (None, "unipost"):
        rows.append(
            measure(
                f"unipost {label} ({store} outbox)",
                count,
                lambda: unipost_broadcast(channel, store),
            )
        )
    return rows


def summarize(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Medians per client over the repeats (wall and CPU of the same runs)."""
    by_client: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_client.setdefault(row["client"], []).append(row)
    summary = []
    for client, runs in by_client.items():
        count = runs[0]["messages"]
        seconds = statistics.median(r["seconds"] for r in runs)
        cpu = statistics.median(r["cpu"] for r in runs)
        summary.append(
            {
                "client": client,
                "messages": count,
                "runs": len(runs),
                "seconds": round(seconds, 2),
                "per_second": round(count / seconds),
                "cpu_us_per_message": round(cpu / count * 1e6),
                "per_cpu_second": round(count / cpu),
            }
        )
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument("--store", choices=("sqlite", "memory"), default="sqlite")
    parser.add_argument("--channel", choices=("sms", "whatsapp", "both"), default="both")
    parser.add_argument("--only", choices=("raw", "unipost"), default=None)
    parser.add_argument("--repeat", type=int, default=1, help="runs per client (medians)")
    args = parser.parse_args()
    recipients = numbers(args.recipients)
    import httpx  # imports are not what is measured
    import unipost_meta
    import unipost_twilio

    del httpx, unipost_meta, unipost_twilio
    kinds = ("sms", "whatsapp") if args.channel == "both" else (args.channel,)
    rows = []
    with ServerProcess() as server:
        for _ in range(args.repeat):  # interleaved: raw, unipost, raw, unipost...
            for kind in kinds:
                rows.extend(run_pair(kind, server, recipients, args.store, args.only))
    print(
        "| client | messages | runs | seconds (median) | messages/s | CPU µs/message "
        "| messages per CPU-second |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for row in summarize(rows):
        print(
            f"| {row['client']} | {row['messages']} | {row['runs']} | {row['seconds']} "
            f"| {row['per_second']} | {row['cpu_us_per_message']} | {row['per_cpu_second']} |"
        )


if __name__ == "__main__":
    main()
