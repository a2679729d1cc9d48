"""A broadcast to N SMS recipients through the Twilio channel, against a raw httpx loop.

One post to a ``twilio-sms`` channel with N numbers is one delivery whose flow
sends N ``POST …/Messages.json`` requests, one after the other, to the local
instant endpoint (``server.py``, its own process). The raw loop sends the same
N form-encoded requests with one ``httpx.AsyncClient``, also one after the
other. Both print messages per second and CPU per message of this process.

    python benchmarks/broadcast.py [--recipients 10000] [--store sqlite|memory]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from server import ServerProcess

ACCOUNT = "AC" + "0" * 31 + "1"
SERVICE = "MG" + "0" * 31 + "2"
TOKEN = "benchmark-auth-token-0123456789"  # noqa: S105 - a fake, for a local endpoint
TEXT = "Storm warning: we are closed today. Stay safe! https://bakery.example/news"


def numbers(count: int) -> list[str]:
    return [f"+1555{index:07d}" for index in range(count)]


def measure(label: str, count: int, run: Any) -> dict[str, Any]:
    cpu0, wall0 = time.process_time(), time.perf_counter()
    sent = run()
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    assert sent == count, f"{label}: {sent} of {count} sent"
    return {
        "client": label,
        "messages": count,
        "seconds": round(wall, 2),
        "per_second": round(count / wall),
        "cpu_us_per_message": round(cpu / count * 1e6),
    }


def unipost_broadcast(base: str, recipients: list[str], store_kind: str) -> int:
    from unipost_twilio import TwilioSmsChannel

    import unipost
    from unipost.sqlite_store import SQLiteStore

    channel = TwilioSmsChannel(
        id="sms",
        account_sid=ACCOUNT,
        auth_token=TOKEN,
        messaging_service_sid=SERVICE,
        to=recipients,
        base_url=base,
    )
    with tempfile.TemporaryDirectory() as folder:
        store = (
            unipost.MemoryStore()
            if store_kind == "memory"
            else SQLiteStore(Path(folder) / "outbox.sqlite3")
        )
        dispatcher = unipost.Dispatcher(
            channels={"sms": channel}, store=store, attempt_timeout=3600.0
        )
        try:
            report = dispatcher.publish(
                unipost.Post(text=TEXT, id=f"broadcast-{time.time_ns()}"), "sms", deadline=3600
            )
        finally:
            dispatcher.close()
    outcome = report["sms"]
    assert outcome.ok, str(report)
    return sum(1 for r in outcome.recipients if r.ok)


def raw_broadcast(base: str, recipients: list[str]) -> int:
    import httpx

    url = f"{base}/2010-04-01/Accounts/{ACCOUNT}/Messages.json"
    auth = base64.b64encode(f"{ACCOUNT}:{TOKEN}".encode()).decode()
    headers = {"Authorization": f"Basic {auth}", "Accept": "application/json"}

    async def main() -> int:
        sent = 0
        async with httpx.AsyncClient() as client:
            for number in recipients:
                data = {"To": number, "Body": TEXT, "MessagingServiceSid": SERVICE}
                response = await client.post(url, data=data, headers=headers)
                response.json()
                sent += response.status_code == 201
        return sent

    return asyncio.run(main())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument("--store", choices=("sqlite", "memory"), default="sqlite")
    args = parser.parse_args()
    recipients = numbers(args.recipients)
    import httpx  # imports are not what is measured
    import unipost_twilio

    del httpx, unipost_twilio
    with ServerProcess() as server:
        base = server.url("0/201").rstrip("/")
        rows = [
            measure("raw httpx loop", args.recipients, lambda: raw_broadcast(base, recipients)),
            measure(
                f"unipost twilio-sms ({args.store} outbox)",
                args.recipients,
                lambda: unipost_broadcast(base, recipients, args.store),
            ),
        ]
    print("| client | messages | seconds | messages/s | CPU µs/message |")
    print("|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['client']} | {row['messages']} | {row['seconds']} | {row['per_second']} "
            f"| {row['cpu_us_per_message']} |"
        )


if __name__ == "__main__":
    main()
