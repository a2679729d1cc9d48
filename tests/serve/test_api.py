"""The HTTP API through a real ``unipost serve`` process on 127.0.0.1."""

from __future__ import annotations

import json
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import trustme

from unipost.breaker import BreakerSettings
from unipost.errors import ConfigurationError
from unipost.serve.openapi import document
from unipost.serve.settings import (
    Scope,
    ServeSettings,
    Token,
    hash_token,
    load_tokens,
    new_token,
    token_entry,
)
from unipost.sqlite_store import SQLiteStore

Server = Any  # tests/serve/conftest.py: a running `unipost serve`

DOCS = Path(__file__).parents[2] / "docs"
PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def server(start_server: Any) -> Server:
    server: Server = start_server("api")
    return server


@pytest.fixture(scope="module")
def seen() -> list[str]:
    """Every response body of this module, for the no-secret check at the end."""
    return []


@pytest.fixture
def api(server: Server, seen: list[str]) -> Iterator[Any]:
    clients: list[httpx.Client] = []

    def make(token: str | None = "full") -> httpx.Client:  # noqa: S107 - a label
        client = server.client(token)
        client.event_hooks["response"] = [lambda r: seen.append(r.read().decode())]
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["code"] == code
    assert body["title"]
    assert body["detail"]
    assert body["type"] == "about:blank"
    return body


# -- service ----------------------------------------------------------------------------


def test_health_and_ready_need_no_token(api: Any) -> None:
    client = api(None)
    assert client.get("/v1/health").json()["status"] == "ok"
    ready = client.get("/v1/ready").json()
    assert ready["status"] == "ready"
    assert ready["checks"] == {"outbox": "ok", "channels": "4 configured", "worker": "running"}


def test_openapi_is_served_and_matches_the_checked_in_document(api: Any) -> None:
    served = api(None).get("/v1/openapi.json").json()
    assert served == document()
    assert served == json.loads((DOCS / "openapi.json").read_text())
    assert served["openapi"] == "3.1.0"


def test_unknown_path_and_method_are_problems(api: Any) -> None:
    client = api()
    problem(client.get("/v1/nothing"), 404, "not_found")
    problem(client.delete("/v1/outbox"), 405, "method_not_allowed")


def test_cors_is_off(api: Any) -> None:
    client = api()
    preflight = client.options(
        "/v1/posts",
        headers={"Origin": "https://crm.example", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in preflight.headers
    answer = client.get("/v1/channels", headers={"Origin": "https://crm.example"})
    assert answer.status_code == 200
    assert "access-control-allow-origin" not in answer.headers


# -- auth -------------------------------------------------------------------------------

ENDPOINTS = [
    ("POST", "/v1/posts", "publish"),
    ("POST", "/v1/preview", "publish"),
    ("GET", "/v1/posts/seed-delivered", "read"),
    ("POST", "/v1/posts/seed-delivered/cancel", "operate"),
    ("GET", "/v1/outbox", "read"),
    ("GET", "/v1/outbox/x", "read"),
    ("POST", "/v1/outbox/x/retry", "operate"),
    ("POST", "/v1/outbox/x/cancel", "operate"),
    ("POST", "/v1/outbox/x/resolve", "operate"),
    ("GET", "/v1/channels", "read"),
    ("POST", "/v1/channels/site/check", "operate"),
    ("POST", "/v1/channels/site/reauthorize", "operate"),
    ("GET", "/v1/breakers", "read"),
    ("POST", "/v1/breakers/x/isolate", "operate"),
    ("POST", "/v1/breakers/x/reset", "operate"),
]
LACKING = {"publish": "reader", "read": "publisher", "operate": "reader"}


@pytest.mark.parametrize(("method", "path", "scope"), ENDPOINTS)
def test_every_endpoint_refuses_without_a_token(
    api: Any, method: str, path: str, scope: str
) -> None:
    response = api(None).request(method, path, json={})
    problem(response, 401, "unauthenticated")
    assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize(("method", "path", "scope"), ENDPOINTS)
def test_every_endpoint_refuses_a_token_without_its_scope(
    api: Any, method: str, path: str, scope: str
) -> None:
    response = api(LACKING[scope]).request(method, path, json={})
    body = problem(response, 403, "insufficient_scope")
    assert scope in body["detail"]
    assert f'scope="{scope}"' in response.headers["www-authenticate"]


def test_unknown_and_malformed_tokens_are_refused(server: Server, api: Any) -> None:
    client = api(None)
    wrong = client.get("/v1/outbox", headers={"Authorization": "Bearer upt_not-a-real-token"})
    problem(wrong, 401, "invalid_token")
    basic = client.get("/v1/outbox", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    problem(basic, 401, "unauthenticated")


def test_operate_implies_read(api: Any) -> None:
    assert api("operator").get("/v1/breakers").status_code == 200


# -- publishing ------------------------------------------------------------------------


def test_publish_maps_the_idempotency_key_to_the_post_id_and_replays(
    api: Any, server: Server
) -> None:
    client = api()
    body = {"post": {"text": "Fresh bread at 7", "tags": ["bakery"]}, "to": ["site", "hook"]}
    first = client.post("/v1/posts", json=body, headers={"Idempotency-Key": "order-1001"})
    assert first.status_code == 200, first.text
    report = first.json()
    assert report["post_id"] == "order-1001"
    assert report["status"] == "succeeded"
    assert first.headers["location"] == "/v1/posts/order-1001" == report["report_url"]
    assert {o["channel"]: o["state"] for o in report["outcomes"]} == {
        "site": "delivered",
        "hook": "delivered",
    }
    assert "idempotent-replayed" not in first.headers

    again = client.post("/v1/posts", json=body, headers={"Idempotency-Key": "order-1001"})
    assert again.status_code == 200
    assert again.headers["idempotent-replayed"] == "true"
    replay = again.json()
    assert [o["record_id"] for o in replay["outcomes"]] == [
        o["record_id"] for o in report["outcomes"]
    ]
    assert [len(o["attempts"]) for o in replay["outcomes"]] == [1, 1]  # nothing sent twice

    changed = {**body, "post": {"text": "Fresh bread at 8"}}
    conflict = client.post("/v1/posts", json=changed, headers={"Idempotency-Key": "order-1001"})
    assert problem(conflict, 422, "idempotency_conflict")["field"] == "post"


def test_publish_answers_202_with_the_report_url_when_the_deadline_passes(
    api: Any, server: Server
) -> None:
    client = api()
    response = client.post(
        "/v1/posts",
        json={"post": {"text": "Later please"}, "to": "blog", "deadline": 0},
        headers={"Idempotency-Key": "order-1002"},
    )
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "pending"
    url = response.headers["location"]
    assert url == response.json()["report_url"] == "/v1/posts/order-1002"
    deadline = time.monotonic() + 30  # the embedded worker finishes it
    while time.monotonic() < deadline:
        report = client.get(url).json()
        if report["status"] != "pending":
            break
        time.sleep(0.3)
    assert report["status"] == "succeeded"
    assert report["outcomes"][0]["url"].startswith("http://127.0.0.1:8001/posts/")


def test_publish_uses_a_named_route_and_a_nested_one(api: Any) -> None:
    client = api()
    named = client.post(
        "/v1/posts", json={"post": {"text": "Route by name"}, "to": "announce", "deadline": 0}
    )
    assert named.status_code == 202
    assert {o["channel"] for o in named.json()["outcomes"]} == {"down", "blog"}
    nested = client.post(
        "/v1/preview",
        json={"post": {"text": "x"}, "to": {"first_of": ["site", {"all_of": ["blog"]}]}},
    )
    assert set(nested.json()["prepared"]) == {"site", "blog"}


def test_publish_rejects_bad_fields_naming_them(api: Any) -> None:
    client = api()
    cases = [
        ({"to": "site"}, "post"),
        ({"post": {"text": 5}}, "post.text"),
        ({"post": {"text": "x", "colour": "red"}}, "post.colour"),
        ({"post": {"text": "x", "media": [{"path": "/etc/passwd"}]}}, "post.media[0].path"),
        ({"post": {"text": "x", "media": [{"data": "***"}]}}, "post.media[0].data"),
        ({"post": {"text": "x", "publish_at": "tomorrow"}}, "post.publish_at"),
        ({"post": {"text": "x"}, "to": "nowhere"}, "to"),
        ({"post": {"text": "x"}, "to": 5}, "to"),
        ({"post": {"text": "x"}, "deadline": 999}, "deadline"),
        ({"post": {}}, "post"),
    ]
    for body, field in cases:
        answer = problem(client.post("/v1/posts", json=body), 422, "invalid")
        assert answer["field"] == field, (body, answer)
        assert answer["fix"]
    bad_key = client.post(
        "/v1/posts", json={"post": {"text": "x"}}, headers={"Idempotency-Key": "a/b"}
    )
    assert problem(bad_key, 422, "invalid")["field"] == "Idempotency-Key"


def test_publish_takes_media_by_url_and_inline(api: Any) -> None:
    import base64

    from unipost.testing import png

    client = api()
    response = client.post(
        "/v1/preview",
        json={
            "post": {
                "text": "Look",
                "media": [
                    {"url": "https://cdn.example/a.jpg", "alt": "A cake"},
                    {"data": base64.b64encode(png()).decode(), "filename": "b.png", "alt": "Bread"},
                ],
            },
            "to": "hook",
        },
    )
    assert response.status_code == 200, response.text


def test_bad_json_wrong_type_and_oversized_bodies_are_problems(api: Any, server: Server) -> None:
    client = api()
    headers = {"Content-Type": "application/json"}
    body = problem(
        client.post("/v1/posts", content=b'{"post": ', headers=headers), 400, "invalid_json"
    )
    assert body["instance"] == "/v1/posts"
    problem(client.post("/v1/posts", content=b"[1, 2]", headers=headers), 422, "invalid")
    problem(
        client.post("/v1/posts", content=b"text=hi", headers={"Content-Type": "text/plain"}),
        415,
        "unsupported_media_type",
    )
    big = b'{"post": {"text": "' + b"x" * (9 * 1024 * 1024) + b'"}}'
    problem(client.post("/v1/posts", content=big, headers=headers), 413, "body_too_large")

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit counts what arrives
        for _ in range(9):
            yield b"x" * (1024 * 1024)

    problem(client.post("/v1/preview", content=chunks(), headers=headers), 413, "body_too_large")


def test_preview_shows_parts_and_sends_nothing(api: Any, server: Server) -> None:
    client = api()
    response = client.post(
        "/v1/preview", json={"post": {"text": "Hello", "title": "Hi"}, "to": ["site", "hook"]}
    )
    assert response.status_code == 200
    preview = response.json()
    assert set(preview["prepared"]) == {"site", "hook"}
    assert preview["prepared"]["site"]["parts"]
    assert client.get("/v1/outbox", params={"post": "Hello"}).json() == {"records": []}


# -- reports and the outbox ---------------------------------------------------------------


def test_report_of_a_post(api: Any, server: Server) -> None:
    client = api("reader")
    report = client.get("/v1/posts/seed-delivered").json()
    assert report["status"] == "succeeded"
    assert {o["channel"] for o in report["outcomes"]} == {"site", "blog"}
    assert client.get("/v1/posts/seed-delivered", params={"revision": 1}).status_code == 200
    problem(client.get("/v1/posts/no-such-post"), 404, "not_found")
    problem(client.get("/v1/posts/seed-delivered", params={"revision": "x"}), 422, "invalid")


def test_outbox_list_filters(api: Any, server: Server) -> None:
    client = api("reader")
    failed = client.get("/v1/outbox", params={"state": "failed"}).json()["records"]
    assert server.seeded.failed in {r["id"] for r in failed}
    assert {r["state"] for r in failed} == {"failed"}
    both = client.get("/v1/outbox", params=[("state", "failed"), ("state", "ambiguous")]).json()
    assert {r["state"] for r in both["records"]} == {"failed", "ambiguous"}
    hook = client.get("/v1/outbox", params={"channel": "hook", "post": "seed-ambiguous"}).json()
    assert [r["id"] for r in hook["records"]] == [server.seeded.ambiguous]
    assert len(client.get("/v1/outbox", params={"limit": 2}).json()["records"]) == 2
    problem(client.get("/v1/outbox", params={"state": "lost"}), 422, "invalid")
    problem(client.get("/v1/outbox", params={"limit": 0}), 422, "invalid")


def test_record_detail_has_the_timeline(api: Any, server: Server) -> None:
    client = api("reader")
    record = client.get(f"/v1/outbox/{server.seeded.failed}").json()
    assert record["state"] == "failed"
    assert [a["error_class"] for a in record["timeline"]] == ["transient", "permanent"]
    assert record["timeline"][0]["waited"] is None
    assert record["timeline"][1]["waited"] == pytest.approx(40 - 0.12)
    assert "hooktoken" not in record["last_error"]  # redacted: the webhook URL's own secret
    problem(client.get("/v1/outbox/nope"), 404, "not_found")


def test_retry_a_failed_record_delivers_it_and_refuses_a_delivered_one(
    api: Any, server: Server
) -> None:
    client = api()
    retried = client.post(f"/v1/outbox/{server.seeded.failed}/retry")
    assert retried.status_code == 200, retried.text
    assert retried.json()["state"] == "retry_wait"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        state = client.get(f"/v1/outbox/{server.seeded.failed}").json()["state"]
        if state == "delivered":
            break
        time.sleep(0.3)
    assert state == "delivered"
    problem(client.post(f"/v1/outbox/{server.seeded.failed}/retry"), 409, "conflict")
    problem(client.post("/v1/outbox/nope/retry"), 404, "not_found")


def test_cancel_a_scheduled_post_and_a_record(api: Any, server: Server) -> None:
    client = api()
    one = client.post(f"/v1/outbox/{server.seeded.scheduled}/cancel")
    assert one.json() == {"cancelled": 1}
    rest = client.post("/v1/posts/seed-scheduled/cancel")
    assert rest.json() == {"cancelled": 1}
    states = {
        r["state"]
        for r in client.get("/v1/outbox", params={"post": "seed-scheduled"}).json()["records"]
    }
    assert states == {"cancelled"}
    problem(client.post("/v1/posts/no-such-post/cancel"), 404, "not_found")


def test_resolve_an_ambiguous_record(api: Any, server: Server) -> None:
    client = api()
    problem(client.post(f"/v1/outbox/{server.seeded.ambiguous}/resolve", json={}), 422, "invalid")
    resolved = client.post(
        f"/v1/outbox/{server.seeded.ambiguous}/resolve",
        json={"delivered": True, "url": "http://127.0.0.1:9/posts/1", "platform_id": "p1"},
    )
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["state"] == "delivered"
    again = client.post(f"/v1/outbox/{server.seeded.ambiguous}/resolve", json={"delivered": False})
    problem(again, 409, "conflict")


# -- channels and breakers ---------------------------------------------------------------


def test_channels_and_their_checks(api: Any, server: Server) -> None:
    client = api()
    listed = client.get("/v1/channels").json()
    assert [c["id"] for c in listed["channels"]] == ["site", "blog", "hook", "down"]
    assert listed["routes"] == ["announce"]
    site = client.post("/v1/channels/site/check").json()
    assert site["ok"] is True
    assert "writable" in site["detail"]
    hook = client.post("/v1/channels/hook/check").json()
    assert hook["ok"] is True
    down = client.post("/v1/channels/down/check").json()
    assert down["ok"] is False
    assert down["error_class"] == "not_sent"
    problem(client.post("/v1/channels/nope/check"), 404, "not_found")


def test_reauthorize_unblocks_a_channel(api: Any, server: Server) -> None:
    client = api()
    answer = client.post("/v1/channels/down/reauthorize").json()
    assert answer == {"channel": "down", "unblocked": 1}
    record = client.get(f"/v1/outbox/{server.seeded.blocked}").json()
    assert record["state"] != "blocked"


def test_breakers_isolate_and_reset(api: Any, server: Server) -> None:
    client = api()
    breakers = {b["domain"]: b for b in client.get("/v1/breakers").json()["breakers"]}
    hook_domain = "webhook:127.0.0.1"
    assert breakers[hook_domain]["channels"] == ["down", "hook"]
    isolated = client.post(f"/v1/breakers/{hook_domain}/isolate", json={"seconds": 600})
    assert isolated.status_code == 200, isolated.text
    assert isolated.json()["state"] == "isolated"
    assert isolated.json()["open_until"] > time.time() + 500
    site_domain = next(d for d in breakers if d.endswith("/site"))
    assert (
        client.post(f"/v1/breakers/{site_domain}/isolate", json={"seconds": 60}).json()["state"]
        == "isolated"
    )
    reset = client.post(f"/v1/breakers/{hook_domain}/reset").json()
    assert reset["state"] == "closed"
    assert reset["open_until"] is None
    client.post(f"/v1/breakers/{site_domain}/reset")
    problem(client.post("/v1/breakers/nowhere/reset"), 404, "not_found")
    problem(client.post(f"/v1/breakers/{hook_domain}/isolate", json={"seconds": 0}), 422, "invalid")


def test_breakers_show_what_a_status_feed_reports(api: Any, server: Server) -> None:
    """The advice a status feed wrote into the shared state is served beside the state."""
    domain = "webhook:127.0.0.1"
    store = SQLiteStore(server.root / "outbox.sqlite3")
    state = store.shared_state
    since = time.time() - 60
    note = "Example Hooks reports a major outage of webhooks"
    state.breaker_step(domain, "advise_major", time.time(), BreakerSettings(), since, note)
    client = api()
    try:
        listed = {b["domain"]: b for b in client.get("/v1/breakers").json()["breakers"]}
        assert listed[domain]["state"] == "open"  # a reported major outage pre-opens it
        assert listed[domain]["advisory"] == "major"
        assert listed[domain]["advice"].startswith(note + " since ")
        assert listed["webhook:127.0.0.1"]["channels"] == ["down", "hook"]
        quiet = next(b for d, b in listed.items() if d.endswith("/site"))
        assert (quiet["advisory"], quiet["advice"]) == (None, None)
    finally:
        state.breaker_step(domain, "advise_ok", time.time(), BreakerSettings())
        client.post(f"/v1/breakers/{domain}/reset")
        store.close()
    after = {b["domain"]: b for b in client.get("/v1/breakers").json()["breakers"]}
    assert (after[domain]["state"], after[domain]["advice"]) == ("closed", None)


# -- security ----------------------------------------------------------------------------


def test_no_secret_in_any_response(server: Server, api: Any, seen: list[str]) -> None:
    """What this test fetches, and every body the tests before it received, holds no secret."""
    client = api()
    for path in ["/v1/channels", "/v1/breakers", "/v1/outbox", "/v1/ready", "/v1/openapi.json"]:
        client.get(path)
    for record in client.get("/v1/outbox").json()["records"]:
        client.get(f"/v1/outbox/{record['id']}")
        client.get(f"/v1/posts/{record['post_id']}")
    for channel in ["site", "blog", "hook", "down"]:
        client.post(f"/v1/channels/{channel}/check")
    client.post("/v1/preview", json={"post": {"text": "x"}, "to": ["hook", "down"]})
    api(None).get("/v1/outbox", headers={"Authorization": f"Bearer {server.tokens['full']}x"})
    assert len(seen) > 20
    for body in seen:
        for secret in server.secrets:
            assert secret not in body


def test_non_loopback_binds_need_tls_or_an_explicit_flag(tmp_path: Path) -> None:
    token = Token(name="t", sha256=hash_token("upt_x"), scopes=frozenset())
    with pytest.raises(ConfigurationError, match="TLS is off"):
        ServeSettings(tokens=(token,), host="0.0.0.0")
    assert ServeSettings(tokens=(token,), host="0.0.0.0", behind_tls_proxy=True).host == "0.0.0.0"
    assert ServeSettings(tokens=(token,), host="::1").host == "::1"
    with pytest.raises(ConfigurationError, match="no token"):
        ServeSettings(tokens=())
    with pytest.raises(ConfigurationError, match="any site"):
        ServeSettings(tokens=(token,), cors_origins=("*",))
    tokens = tmp_path / "tokens.toml"
    tokens.write_text('[[tokens]]\nname = "a"\nsha256 = "' + "0" * 64 + '"\nscopes = ["read"]\n')
    result = subprocess.run(
        [sys.executable, "-m", "unipost", "serve", "--tokens", str(tokens), "--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert "--host: 0.0.0.0 is reachable from other machines, and TLS is off" in result.stderr


def test_tokens_file_holds_hashes_only(tmp_path: Path) -> None:
    file = tmp_path / "tokens.toml"
    file.write_text('[[tokens]]\nname = "a"\ntoken = "upt_plain"\nscopes = ["read"]\n')
    with pytest.raises(ConfigurationError, match="plain token"):
        load_tokens(file)
    file.write_text('[[tokens]]\nname = "a"\nsha256 = "abc"\nscopes = ["read"]\n')
    with pytest.raises(ConfigurationError, match="SHA-256"):
        load_tokens(file)
    file.write_text('[[tokens]]\nname = "a"\nsha256 = "' + "a" * 64 + '"\nscopes = ["admin"]\n')
    with pytest.raises(ConfigurationError, match="unknown scope"):
        load_tokens(file)


def test_new_token_prints_the_entry_and_the_token_once(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "unipost", "serve", "--new-token", "publish,read", "--name", "crm"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    token = result.stderr.strip().rpartition(" ")[2]
    (tmp_path / "t.toml").write_text(result.stdout)
    (entry,) = load_tokens(tmp_path / "t.toml")
    assert entry.name == "crm"
    assert entry.matches(token)
    assert token not in result.stdout


def test_the_shell_example_publishes_through_the_api(server: Server, api: Any) -> None:
    """docs/examples/publish.sh, as an operator of a non-Python tool would run it."""
    env = {
        "PATH": "/usr/bin:/bin",
        "UNIPOST_URL": server.url,
        "UNIPOST_TOKEN": server.tokens["full"],
    }
    script = str(DOCS / "examples" / "publish.sh")
    first = subprocess.run(
        ["sh", script, "order-2001"], env=env, capture_output=True, text=True, timeout=120
    )
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines()[0] == "post order-2001: succeeded"
    assert first.stdout.splitlines()[1].startswith("  site: delivered http://127.0.0.1:8000/posts/")
    again = subprocess.run(
        ["sh", script, "order-2001"], env=env, capture_output=True, text=True, timeout=120
    )
    assert again.stdout == first.stdout  # the same post, not a second one
    records = api("reader").get("/v1/outbox", params={"post": "order-2001"}).json()["records"]
    assert [r["attempts"] for r in records] == [1]
    refused = subprocess.run(
        ["sh", script, "order/2002"], env=env, capture_output=True, text=True, timeout=120
    )
    assert refused.returncode == 1
    assert refused.stderr.startswith(
        "unipost: must be 1 to 200 letters, digits and . _ ~ : - (Idempotency-Key)"
    )


def test_serve_doc_shows_the_shell_example_as_it_is() -> None:
    text = (DOCS / "serve.md").read_text(encoding="utf-8")
    script = (DOCS / "examples" / "publish.sh").read_text(encoding="utf-8")
    assert f"```sh\n{script}```" in text
    for image in ("overview", "domains-isolated", "posts", "record", "attention", "calendar"):
        assert f"(images/serve/{image}.png)" in text
        assert (DOCS / "images" / "serve" / f"{image}.png").stat().st_size > 10_000


def test_import_unipost_needs_no_server_library() -> None:
    """The extra is optional: the library and the CLI's parser load without it."""
    code = (
        "import sys\n"
        "for name in ('starlette', 'uvicorn', 'jinja2'): sys.modules[name] = None\n"
        "import unipost, unipost.cli, unipost.serve\n"
        "unipost.cli._parser()\n"
        "assert not {'starlette', 'uvicorn', 'jinja2'} & {m for m, v in sys.modules.items() if v}\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr


def test_serves_https_with_tls_cert_and_key(tmp_path: Path, free_tcp_port: int) -> None:
    """--tls-cert/--tls-key: the same API over HTTPS (what a non-loopback bind needs)."""
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert.cert_chain_pems[0].write_to_path(str(tmp_path / "chain.pem"))
    for blob in cert.cert_chain_pems[1:]:
        blob.write_to_path(str(tmp_path / "chain.pem"), append=True)
    cert.private_key_pem.write_to_path(str(tmp_path / "key.pem"))
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    token = new_token()
    (tmp_path / "tokens.toml").write_text(token_entry("t", token, [Scope.READ]))
    (tmp_path / "unipost.toml").write_text(
        f'[outbox]\npath = "{tmp_path}/outbox.sqlite3"\n[channels.site]\ntype = "site"\n'
        f'directory = "{tmp_path}/site"\n'
    )
    port = free_tcp_port
    log = (tmp_path / "server.log").open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "unipost",
            "--config",
            str(tmp_path / "unipost.toml"),
            "serve",
            "--tokens",
            str(tmp_path / "tokens.toml"),
            "--port",
            str(port),
            "--tls-cert",
            str(tmp_path / "chain.pem"),
            "--tls-key",
            str(tmp_path / "key.pem"),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=tmp_path,
    )
    try:
        url = f"https://127.0.0.1:{port}"
        trusted = ssl.create_default_context(cafile=str(tmp_path / "ca.pem"))
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, (tmp_path / "server.log").read_text()
            try:
                health = httpx.get(url + "/v1/health", verify=trusted, timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, (tmp_path / "server.log").read_text()
                time.sleep(0.2)
        assert health.json()["status"] == "ok"
        channels = httpx.get(
            url + "/v1/channels",
            headers={"Authorization": f"Bearer {token}"},
            verify=trusted,
        )
        assert channels.json()["channels"][0]["id"] == "site"
    finally:
        process.terminate()
        process.wait(timeout=15)
        log.close()
