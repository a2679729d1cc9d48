"""Meta down, then back: the businesses' own channels carry every post meanwhile (#16, #14).

Two routes, one post each every 10 s of virtual time for 5 minutes:

* ``first_of(facebook, mailchimp)`` — a Page post, or else a campaign to the list;
* ``all_of(site, first_of(whatsapp, twilio-sms))`` — the site page, and each of three
  customers by WhatsApp, or else by SMS.

Facebook and WhatsApp are one failure domain (``meta``). For 150 s Meta is down: for
75 s its connections are refused, then Graph answers every call with its documented
code 2 ("Service temporarily unavailable"); then it recovers. Meta, Mailchimp and Twilio are the plugins' own spec-checking fakes behind
pytest-httpx (Meta's codegen node specs, Mailchimp's and Twilio's OpenAPI documents);
WhatsApp has no published spec, so its messages are checked against the Cloud API's
documented shape. The outbox is the SQLite file, and the worker drains what is left.

Shown: at most the breaker threshold of failed requests plus one probe per open interval
reach Meta while it is down; every ``first_of`` post reaches exactly one alternative, and
the fallback while the breaker is open (a sent Mailchimp campaign); every ``all_of`` post
has its site page and each recipient exactly one WhatsApp or SMS message; no record is
left ``sending`` and every record ends terminal.
"""

from __future__ import annotations

import asyncio
import email.utils
import importlib.util
import json
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
from unipost_mailchimp import MailchimpChannel
from unipost_meta import FacebookChannel, WhatsAppChannel
from unipost_twilio import TwilioSmsChannel

from unipost import Dispatcher, Post, Report, State, all_of, first_of
from unipost.channels.site import SiteChannel
from unipost.sqlite_store import SQLiteStore
from unipost.testing import EventRecorder, VirtualClock

PLUGINS = Path(__file__).resolve().parents[1] / "plugins"


def _fakes(plugin: str) -> ModuleType:
    """A plugin's test helpers (its spec-checking fake), loaded from its tests folder."""
    name = f"_fakes_{plugin.replace('-', '_')}"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            name, PLUGINS / plugin / "tests" / "conftest.py"
        )
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


meta = _fakes("unipost-meta")
mailchimp = _fakes("unipost-mailchimp")
twilio = _fakes("unipost-twilio")

PAGE = "1234567890"
PHONE_ID = "106540352242922"
GRAPH = "https://graph.facebook.com/v23.0"
NUMBERS = ("+4915112345678", "+14155550123", "+447700900123")
OUTAGE = 150.0  # seconds of virtual time Meta is down
POSTS = 30  # one per route every TICK
TICK = 10.0
#: Graph's answer while down: error code 2, as Meta documents it (Graph API error codes,
#: "Service temporarily unavailable", is_transient).
CODE_2 = {
    "error": {
        "message": "Service temporarily unavailable",
        "type": "FacebookApiException",
        "code": 2,
        "is_transient": True,
        "fbtrace_id": "AbCdOutage",
    }
}


class FakeMeta:
    """Graph for one Page and one WhatsApp number: down until ``up_at``, then serving.

    Facebook requests are checked against Meta's node specs; WhatsApp messages against
    the Cloud API's documented ``/{phone-number-id}/messages`` body.
    """

    def __init__(self, clock: VirtualClock, up_at: float) -> None:
        self.clock = clock
        self.up_at = up_at
        self.specs = meta.NodeSpecs()
        self.failed: list[tuple[float, str, str]] = []  # (time, method, path) while down
        self.served: list[tuple[float, str, str]] = []
        self.page_posts: dict[str, str] = {}  # post id -> message
        self.whatsapp: list[tuple[str, str]] = []  # (to, body)

    def install(self, httpx_mock: Any) -> None:
        httpx_mock.add_callback(
            self.handle, url=re.compile(re.escape(GRAPH) + r"/.*"), is_reusable=True
        )

    def handle(self, request: httpx.Request) -> httpx.Response:
        now = self.clock.now()
        path = request.url.path.removeprefix("/v23.0/")
        if now < self.up_at:
            self.failed.append((now, request.method, path))
            if now < self.up_at - OUTAGE / 2:  # first nothing listens, then Graph errs
                raise httpx.ConnectError("[Errno 111] Connection refused", request=request)
            return httpx.Response(500, json=CODE_2)
        self.served.append((now, request.method, path))
        if path == f"{PAGE}/feed" and request.method == "POST":
            self.specs.check(request, "Page", "feed")
            params, _ = meta.request_params(request)
            post_id = f"{PAGE}_{len(self.page_posts) + 1}"
            self.page_posts[post_id] = params["message"]
            return httpx.Response(200, json={"id": post_id})
        if path == f"{PHONE_ID}/messages" and request.method == "POST":
            body = json.loads(request.content)
            assert body["messaging_product"] == "whatsapp"
            assert body["recipient_type"] == "individual"
            assert re.fullmatch(r"[1-9]\d{6,14}", body["to"]), body["to"]
            assert body["type"] == "text", body
            assert set(body["text"]) <= {"body", "preview_url"}, body
            assert body["text"]["body"], body
            self.whatsapp.append(("+" + body["to"], body["text"]["body"]))
            number = len(self.whatsapp)
            return httpx.Response(
                200,
                json={
                    "messaging_product": "whatsapp",
                    "contacts": [{"input": body["to"], "wa_id": body["to"]}],
                    "messages": [{"id": f"wamid.M{number}"}],
                },
            )
        if request.method == "GET" and path in self.page_posts:
            self.specs.check(request, "PagePost", None)
            return httpx.Response(
                200, json={"id": path, "permalink_url": f"https://www.facebook.com/{path}"}
            )
        if request.method == "GET" and path == PAGE:  # the breaker's health probe
            self.specs.check(request, "Page", None)
            return httpx.Response(200, json={"id": PAGE, "name": "Corner Bakery"})
        if request.method == "GET" and path == PHONE_ID:
            return httpx.Response(
                200,
                json={
                    "id": PHONE_ID,
                    "display_phone_number": "+49 151 0000 4567",
                    "verified_name": "Corner Bakery",
                },
            )
        if request.method == "GET" and path == "debug_token":
            scopes = ["pages_manage_posts", "pages_read_engagement", "whatsapp_business_messaging"]
            return httpx.Response(200, json={"data": {"is_valid": True, "scopes": scopes}})
        raise AssertionError(f"unexpected Graph call {request.method} {path}")


def _channels(site_dir: Path) -> dict[str, Any]:
    token = {"token": "EAAoutagetoken123456"}
    return {
        "facebook": FacebookChannel.from_settings("facebook", {"page_id": PAGE, **token}),
        "mailchimp": MailchimpChannel.from_settings(
            "mailchimp",
            {
                "api_key": mailchimp.KEY,
                "list_id": "a1b2c3d4e5",
                "from_name": "Corner Bakery",
                "reply_to": "hello@bakery.example",
            },
        ),
        "site": SiteChannel.from_settings("site", {"directory": str(site_dir)}),
        "whatsapp": WhatsAppChannel.from_settings(
            "whatsapp", {"phone_number_id": PHONE_ID, "to": list(NUMBERS), **token}
        ),
        "twilio-sms": TwilioSmsChannel.from_settings(
            "twilio-sms",
            {
                "account_sid": twilio.ACCOUNT,
                "auth_token": twilio.TOKEN,
                "messaging_service_sid": twilio.SERVICE,
                "to": list(NUMBERS),
            },
        ),
    }


def _news(n: int) -> Post:
    return Post(title=f"Bakery news #{n}", text=f"Update #{n}: fresh bread from 7 am.", id=f"n{n}")


def _alert(n: int) -> Post:
    return Post(text=f"Alert #{n}: closed at noon today.", id=f"a{n}")


def test_meta_down_then_back_first_of_and_all_of(httpx_mock: Any, tmp_path: Path) -> None:
    clock = VirtualClock()
    t0 = clock.now()
    graph = FakeMeta(clock, up_at=t0 + OUTAGE)
    graph.install(httpx_mock)
    mail = mailchimp.FakeMailchimp(clock)
    mail.install(httpx_mock)
    sms = twilio.FakeTwilio(clock)
    sms.install(httpx_mock)
    recorder = EventRecorder()
    dispatcher = Dispatcher(
        channels=_channels(tmp_path / "site"),
        store=SQLiteStore(tmp_path / "outbox.sqlite3"),
        clock=clock,
        observers=[recorder],
        seed=16,
    )
    news_route = first_of("facebook", "mailchimp")
    alert_route = all_of("site", first_of("whatsapp", "twilio-sms"))
    published: dict[str, float] = {}

    async def run() -> list[Report]:
        reports = []
        for n in range(POSTS):
            tick = t0 + n * TICK
            if clock.now() < tick:
                await clock.sleep(tick - clock.now())
            for post, route in ((_news(n), news_route), (_alert(n), alert_route)):
                published[post.id] = clock.now()
                reports.append(await dispatcher.apublish(post, route))
        await dispatcher.adrain(until=clock.now() + 3600)
        await dispatcher.http.aclose()  # this loop's clients; the store stays open to check
        return reports

    try:
        reports = asyncio.run(run())
        assert len(reports) == 2 * POSTS
        # each publish returned with its post delivered (on the fallback, within its deadline)
        assert all(r.ok for r in reports), "\n".join(str(r) for r in reports if not r.ok)
        _check(dispatcher, recorder, graph, mail, sms, published, t0)
    finally:
        dispatcher.close()


def _check(
    dispatcher: Dispatcher,
    recorder: EventRecorder,
    graph: FakeMeta,
    mail: Any,
    sms: Any,
    published: dict[str, float],
    t0: float,
) -> None:

    # Meta while down: the threshold of failures, then one probe per open interval.
    meta_transitions = [e.fields for e in recorder.of("breaker.transition")]
    meta_transitions = [f for f in meta_transitions if f["domain"] == "meta"]
    assert meta_transitions[0]["to"] == "open"
    down_probes = [
        e
        for e in recorder.of("breaker.transition")
        if e.fields["domain"] == "meta" and e.fields["to"] == "half_open"
    ]
    probes_while_down = sum(1 for e in down_probes if e.at < t0 + OUTAGE)
    threshold = dispatcher.breakers.settings.failure_threshold
    assert len(graph.failed) <= threshold + probes_while_down, graph.failed
    assert probes_while_down >= 1  # the outage outlasted the first open interval
    closed = [f for f in meta_transitions if f["to"] == "closed"]
    assert closed, "the breaker closed again after Meta recovered"
    closed_at = next(
        e.at
        for e in recorder.of("breaker.transition")
        if e.fields["domain"] == "meta" and e.fields["to"] == "closed"
    )
    assert t0 + OUTAGE <= closed_at <= t0 + OUTAGE + 120

    store = dispatcher.store
    records = store.query(limit=1_000_000)
    assert not [r for r in records if r.state is State.SENDING]
    assert all(r.state.terminal for r in records), [
        (r.post_id, r.channel, r.state) for r in records if not r.state.terminal
    ]

    # first_of(facebook, mailchimp): exactly one alternative; the fallback while Meta is out.
    campaigns = {
        c["settings"]["subject_line"]: c
        for c in mail.campaigns.values()
        if c["status"] == "sending"
    }
    assert len(campaigns) == len(mail.campaigns), "a campaign was created but never sent"
    assert set(mail.actions) == {"send"}
    on_page = list(graph.page_posts.values())
    for n in range(POSTS):
        post = _news(n)
        report = dispatcher.report(post.id)
        text = str(post.text)
        on_facebook = sum(1 for m in on_page if text in m)
        on_mailchimp = int(post.title in campaigns)
        assert on_facebook + on_mailchimp == 1, (n, on_facebook, on_mailchimp, str(report))
        assert report.ok, str(report)
        if published[post.id] < t0 + OUTAGE:
            assert on_mailchimp, f"{post.id} published during the outage is not on Mailchimp"
            assert report["facebook"].state is State.SKIPPED
            assert report["mailchimp"].platform_id in mail.campaigns
        elif published[post.id] > closed_at:
            assert on_facebook, f"{post.id} published after the recovery is not on Facebook"

    # all_of(site, first_of(whatsapp, twilio-sms)): the page, and one message per recipient.
    for n in range(POSTS):
        post = _alert(n)
        report = dispatcher.report(post.id)
        assert report.ok, str(report)
        page = Path(str(report["site"].extra["page"]))
        assert page.is_file()
        text = str(post.text)
        assert text in page.read_text(encoding="utf-8")
        for number in NUMBERS:
            by_whatsapp = sum(1 for to, body in graph.whatsapp if to == number and text in body)
            by_sms = sum(1 for m in sms.messages if m["to"] == number and text in m["body"])
            assert by_whatsapp + by_sms == 1, (n, number, by_whatsapp, by_sms)
            if published[post.id] > closed_at:
                assert by_whatsapp == 1, f"{post.id} after the recovery did not go by WhatsApp"
        if published[post.id] < t0 + OUTAGE:
            assert report["twilio-sms"].ok
            assert report["whatsapp"].state is State.SKIPPED
    # After the recovery the primaries carry the posts again.
    assert graph.page_posts
    assert graph.whatsapp
    # SMS went out only while Meta was out (or its breaker not yet closed again).
    sent_at = [email.utils.parsedate_to_datetime(m["date_created"]) for m in sms.messages]
    assert max(sent_at).timestamp() <= closed_at
    assert (
        sms.posts
        == len(sms.messages)
        == len(NUMBERS)
        * sum(1 for n in range(POSTS) if dispatcher.report(_alert(n).id)["twilio-sms"].ok)
    )
