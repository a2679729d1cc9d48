"""The measured workloads, one per child process: ``python clients.py TASK JSON-ARGS``.

Each task prints one JSON object on its last line. Running every client in a
fresh interpreter keeps one library's thread pools, caches and garbage from
being billed to another, and lets the parent read peak RSS per process.
Heavy imports happen inside the tasks, after the process has started, and
outside the timed regions except where import time is what is measured.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # a fixed test key, base64
TEXT = "We're open today 9-5! Fresh bread, the new winter menu, and 10% off for members."


def _payload(index: int) -> bytes:
    """A JSON document of the size the webhook channel sends, for the non-unipost clients."""
    document = {
        "type": "post.published",
        "timestamp": "2026-12-01T09:00:00Z",
        "data": {
            "post_id": f"bench-{index}",
            "revision": 1,
            "channel": "w0",
            "title": "Opening hours",
            "text": TEXT,
            "link": None,
            "tags": [],
            "language": None,
            "media": [],
            "metadata": {},
        },
    }
    return json.dumps(document, separators=(",", ":")).encode()


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


# -- unipost -------------------------------------------------------------------------


def _dispatcher(urls: dict[str, str], store_kind: str, folder: str, **options: Any) -> Any:
    from unipost import Dispatcher, MemoryStore
    from unipost.channels.webhook import WebhookChannel
    from unipost.sqlite_store import SQLiteStore

    channels = {cid: WebhookChannel(id=cid, url=url, secret=SECRET) for cid, url in urls.items()}
    store = (
        MemoryStore() if store_kind == "memory" else SQLiteStore(Path(folder) / "outbox.sqlite3")
    )
    return Dispatcher(channels=channels, store=store, **options)


def _post(index: int, **fields: Any) -> Any:
    from unipost import Post

    return Post(text=TEXT, title="Opening hours", id=f"bench-{index}-{time.time_ns()}", **fields)


def _run(coro: Any) -> Any:
    import asyncio

    return asyncio.run(coro)


# -- fan-out: one publish to n channels ----------------------------------------------


def fanout(args: dict[str, Any]) -> dict[str, Any]:
    n, base, repeats, client = args["n"], args["base"], args["repeats"], args["client"]
    urls = {f"w{i}": f"{base}/{args['delay_ms']}/200/c{i}" for i in range(n)}
    if client == "apprise":
        return _fanout_apprise(urls, repeats)
    return _run(_fanout_async(client, urls, repeats))


async def _fanout_async(client: str, urls: dict[str, str], repeats: int) -> dict[str, Any]:
    import asyncio

    import httpx

    times: list[float] = []
    delivered: list[int] = []
    with tempfile.TemporaryDirectory() as folder:
        if client == "httpx":
            # One AsyncClient per endpoint, sharing an SSL context: the fastest plain-httpx
            # fan-out. A single shared client is quadratic in open connections (httpcore
            # polls each idle one per request): 20-45 s at 1,000, see docs/performance.md.
            context = httpx.create_ssl_context()
            pools = [httpx.AsyncClient(verify=context, timeout=30) for _ in urls]
            bodies = [_payload(i) for i in range(len(urls))]
            for _ in range(repeats + 1):  # the first round warms the pools, untimed
                started = time.perf_counter()
                answers = await asyncio.gather(
                    *(
                        http.post(url, content=body, headers={"content-type": "application/json"})
                        for http, url, body in zip(pools, urls.values(), bodies, strict=True)
                    )
                )
                times.append(time.perf_counter() - started)
                delivered.append(sum(a.status_code == 200 for a in answers))
            for http in pools:
                await http.aclose()
        else:
            from unipost import all_of

            dispatcher = _dispatcher(urls, client.removeprefix("unipost-"), folder)
            route = all_of(*urls)
            async with dispatcher:
                for round_ in range(repeats + 1):
                    post = _post(round_)
                    started = time.perf_counter()
                    report = await dispatcher.apublish(post, route)
                    times.append(time.perf_counter() - started)
                    delivered.append(sum(o.state.value == "delivered" for o in report.outcomes))
            dispatcher.store.close()
    return {"times": times[1:], "delivered": delivered[1:], "n": len(urls)}


def _fanout_apprise(urls: dict[str, str], repeats: int) -> dict[str, Any]:
    import apprise

    notifier = apprise.Apprise()
    for url in urls.values():
        if not notifier.add(url.replace("http://", "json://", 1)):
            raise RuntimeError(f"apprise refused {url}")
    times, delivered = [], []
    for _ in range(repeats + 1):
        started = time.perf_counter()
        result = notifier.notify(body=TEXT, title="Opening hours")
        times.append(time.perf_counter() - started)
        delivered.append(len(urls) if result else 0)
    return {"times": times[1:], "delivered": delivered[1:], "n": len(urls)}


# -- per-delivery CPU ----------------------------------------------------------------


def cpu(args: dict[str, Any]) -> dict[str, Any]:
    client, n, url = args["client"], args["n"], args["url"]
    warmup = min(100, max(1, n // 10))
    if client == "apprise":
        import apprise

        notifier = apprise.Apprise()
        notifier.add(url.replace("http://", "json://", 1))

        def one(_index: int) -> bool:
            return bool(notifier.notify(body=TEXT, title="Opening hours"))

        return _timed_loop(one, warmup, n)
    return _run(_cpu_async(client, n, url, warmup))


async def _cpu_async(client: str, n: int, url: str, warmup: int) -> dict[str, Any]:
    import httpx

    with tempfile.TemporaryDirectory() as folder:
        if client == "httpx":
            async with httpx.AsyncClient(timeout=30) as http:

                async def one(index: int) -> bool:
                    answer = await http.post(
                        url, content=_payload(index), headers={"content-type": "application/json"}
                    )
                    return answer.status_code == 200

                return await _timed_aloop(one, warmup, n)
        dispatcher = _dispatcher({"w0": url}, client.removeprefix("unipost-"), folder)
        async with dispatcher:

            async def one(index: int) -> bool:
                report = await dispatcher.apublish(_post(index), "w0")
                return bool(report.status.value == "succeeded")

            result = await _timed_aloop(one, warmup, n)
        dispatcher.store.close()
        return result


def _timed_loop(one: Callable[[int], bool], warmup: int, n: int) -> dict[str, Any]:
    for index in range(warmup):
        one(-index - 1)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    ok = sum(one(index) for index in range(n))
    return _cpu_result(cpu0, wall0, ok, n)


async def _timed_aloop(one: Callable[[int], Any], warmup: int, n: int) -> dict[str, Any]:
    for index in range(warmup):
        await one(-index - 1)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    ok = 0
    for index in range(n):
        ok += bool(await one(index))
    return _cpu_result(cpu0, wall0, ok, n)


def _cpu_result(cpu0: float, wall0: float, ok: int, n: int) -> dict[str, Any]:
    return {
        "cpu": time.process_time() - cpu0,
        "wall": time.perf_counter() - wall0,
        "ok": ok,
        "n": n,
    }


# -- outage: first_of(down, up) --------------------------------------------------------


def outage(args: dict[str, Any]) -> dict[str, Any]:
    if args["client"] == "apprise":
        return _outage_apprise(args)
    return _run(_outage_unipost(args))


async def _outage_unipost(args: dict[str, Any]) -> dict[str, Any]:
    from unipost import first_of

    urls = {"up": args["up"]}
    if args["down"]:
        urls["down"] = args["down"]
    route = first_of("down", "up", patience=args["patience"]) if args["down"] else "up"
    times: list[float] = []
    open_from: int | None = None
    delivered = 0
    with tempfile.TemporaryDirectory() as folder:
        dispatcher = _dispatcher(urls, args["store"], folder)
        async with dispatcher:
            await dispatcher.apublish(_post(-1), "up")  # warm the pool to `up`, untimed
            for index in range(args["n"]):
                started = time.perf_counter()
                report = await dispatcher.apublish(_post(index), route)
                times.append(time.perf_counter() - started)
                delivered += any(
                    o.channel == "up" and o.state.value == "delivered" for o in report.outcomes
                )
                if open_from is None and args["down"]:
                    domain = dispatcher.channels["down"].failure_domain
                    if dispatcher.breakers[domain].state.value != "closed":
                        open_from = index + 1
        dispatcher.store.close()
    return {"times": times, "delivered": delivered, "open_from": open_from}


def _outage_apprise(args: dict[str, Any]) -> dict[str, Any]:
    import apprise

    notifier = apprise.Apprise()
    if args["down"]:
        notifier.add(args["down"].replace("http://", "json://", 1), tag="1:pub")
        notifier.add(args["up"].replace("http://", "json://", 1), tag="2:pub")
    else:
        notifier.add(args["up"].replace("http://", "json://", 1), tag="pub")
    notifier.notify(body=TEXT, title="warm-up", tag="pub")
    times, delivered = [], 0
    for _ in range(args["n"]):
        started = time.perf_counter()
        result = notifier.notify(body=TEXT, title="Opening hours", tag="pub")
        times.append(time.perf_counter() - started)
        delivered += bool(result)
    return {"times": times, "delivered": delivered, "open_from": None}


# -- memory: records waiting in the outbox ----------------------------------------------


def memory(args: dict[str, Any]) -> dict[str, Any]:
    import datetime as dt

    from unipost import State

    with tempfile.TemporaryDirectory() as folder:
        dispatcher = _dispatcher({"w0": args["url"]}, args["store"], folder)
        later = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
        dispatcher.enqueue(_post(-1, publish_at=later), "w0")
        before = current_rss_mb()
        for index in range(args["n"]):
            dispatcher.enqueue(_post(index, publish_at=later), "w0")
        after = current_rss_mb()
        pending = len(dispatcher.store.query(states=(State.PENDING,)))
        dispatcher.store.close()
    return {"before": before, "after": after, "peak": peak_rss_mb(), "pending": pending - 1}


TASKS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "fanout": fanout,
    "cpu": cpu,
    "outage": outage,
    "memory": memory,
}

if __name__ == "__main__":
    task, raw = sys.argv[1], sys.argv[2]
    print(json.dumps(TASKS[task](json.loads(raw))))
