"""The Bluesky flow against pytest-httpx: sessions, facets, embeds, threads, retries, errors."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import httpx
import pytest
from pytest_httpx import HTTPXMock
from unipost_bluesky import BlueskyChannel, tid_for
from unipost_bluesky._session import jwt_expiry

from unipost import Media, Post
from unipost.channel import Absent, Found
from unipost.errors import AuthFailed, Permanent, RateLimited, Transient
from unipost.testing import ChannelContract, check, check_status, deliver, lookup, png

PDS = "https://pds.example"
PASSWORD = "abcd-efgh-ijkl-mnop"
DID = "did:plc:bakery000000000000000000"
KEY = "up1-testkey0000000000000000000000000"
SETTINGS = {"handle": "bakery.example", "app_password": PASSWORD, "base_url": PDS}
XRPC = f"{PDS}/xrpc"


def session(access: str = "access-jwt-1", refresh: str = "refresh-jwt-1") -> dict[str, str]:
    return {"accessJwt": access, "refreshJwt": refresh, "did": DID, "handle": "bakery.example"}


def created(rkey: str, cid: str = "bafyreiabcdefgh") -> dict[str, str]:
    return {"uri": f"at://{DID}/app.bsky.feed.post/{rkey}", "cid": cid}


def blob(cid: str = "bafkreiblobblob", size: int = 60) -> dict[str, Any]:
    return {"$type": "blob", "ref": {"$link": cid}, "mimeType": "image/png", "size": size}


def channel(**settings: Any) -> BlueskyChannel:
    return BlueskyChannel.from_settings("bluesky", SETTINGS | settings)


def sent_records(httpx_mock: HTTPXMock) -> list[dict[str, Any]]:
    requests = httpx_mock.get_requests(url=f"{XRPC}/com.atproto.repo.createRecord")
    return [json.loads(r.content) for r in requests]


class TestBlueskyContract(ChannelContract):
    channel_class = BlueskyChannel
    settings = SETTINGS
    secrets = (PASSWORD,)

    def arrange_success(self, httpx_mock: HTTPXMock) -> None:
        httpx_mock.add_response(url=f"{XRPC}/com.atproto.server.createSession", json=session())
        httpx_mock.add_response(
            url=f"{XRPC}/com.atproto.repo.createRecord", json=created(tid_for(KEY))
        )


def test_text_post_with_link_and_tag_facets(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=f"{XRPC}/com.atproto.server.createSession", json=session())
    httpx_mock.add_response(url=f"{XRPC}/com.atproto.repo.createRecord", json=created(tid_for(KEY)))
    post = Post(
        text="Crème brûlée day ☕ #pâtisserie", link="https://bakery.example/offer", language="fr"
    )
    receipt = deliver(channel(), post, delivery_key=KEY)
    body = sent_records(httpx_mock)[0]
    record = body["record"]
    text = record["text"].encode()
    assert body["rkey"] == tid_for(KEY)
    assert body["repo"] == DID
    assert record["langs"] == ["fr"]
    spans = {f["features"][0]["$type"].rsplit("#")[-1]: f["index"] for f in record["facets"]}
    tag, link = spans["tag"], spans["link"]
    assert text[tag["byteStart"] : tag["byteEnd"]] == "#pâtisserie".encode()
    assert text[link["byteStart"] : link["byteEnd"]] == b"https://bakery.example/offer"
    assert record["embed"]["external"]["uri"] == "https://bakery.example/offer"
    assert receipt.platform_id == f"at://{DID}/app.bsky.feed.post/{tid_for(KEY)}"
    assert receipt.url == f"https://bsky.app/profile/bakery.example/post/{tid_for(KEY)}"
    auth = httpx_mock.get_requests(url=f"{XRPC}/com.atproto.repo.createRecord")[0].headers[
        "Authorization"
    ]
    assert auth == "Bearer access-jwt-1"


def test_mentions_are_resolved_and_unknown_handles_left_plain(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=f"{XRPC}/com.atproto.server.createSession", json=session())
    httpx_mock.add_response(
        url=f"{XRPC}/com.atproto.identity.resolveHandle?handle=alice.example",
        json={"did": "did:plc:alice"},
    )
    httpx_mock.add_response(
        url=f"{XRPC}/com.atproto.identity.resolveHandle?handle=nobody.example",
        status_code=400,
        json={"error": "HandleNotFound", "message": "Unable to resolve handle"},
    )
    httpx_mock.add_response(url=f"{XRPC}/com.atproto.repo.createRecord", json=created("x"))
    deliver(
        channel(), Post(text="Thanks @alice.example and @nobody.example! mail me@bakery.example")
    )
    record = sent_records(httpx_mock)[0]["record"]
    text = record["text"].encode()
    (facet,) = record["facets"]
    assert facet["features"][0] == {
        "$type": "app.bsky.richtext.facet#mention",
        "did": "did:plc:alice",
    }
    assert text[facet["index"]["byteStart"] : facet["index"]["byteEnd"]] == b"@alice.example"


def test_images_with_alt_and_aspect_ratio(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=f"{XRPC}/com.atproto.server.createSession", json=session())
    httpx_mock.add_response(
        url=f"{XRPC}/com.atproto.repo.uploadBlob", json={"blob": blob("bafkreione")}
    )
    httpx_mock.add_response(
        url=f"{XRPC}/com.atproto.repo.uploadBlob", json={"blob": blob("bafkreitwo")}
    )
    httpx_mock.add_response(url=f"{XRPC}/com.atproto.repo.createRecord", json=created("x"))
    media = [Media.from_bytes(png(3, 2), alt="Croissants"), Media.from_bytes(png(1, 1))]
    deliver(channel(), Post(text="Today", media=media))
    upload = httpx_mock.get_requests(url=f"{XRPC}/com.atproto.repo.uploadBlob")[0]
    assert upload.headers["Content-Type"] == "image/png"
    assert upload.content == png(3, 2)
    images = sent_records(httpx_mock)[0]["record"]["embed"]["images"]
    assert images[0] == {
        "alt": "Croissants",
        "image": blob("bafkreione"),
        "aspectRatio": {"width": 3, "height": 2},
    }
    assert images[1]["alt"] == ""


def test_thread_replies_chain_root_and_parent(httpx_mock: HTTPXMock) -> None:
    text = " ".join(f"Sentence {n} of the news." for n in range(30))
    ch = channel()
    prepared = ch.prepare(Post(text=text))
    assert len(prepared.parts) == 3
    httpx_mock.add_response(url=f"{XRPC}/com.atproto.server.createSession", json=session())
    for index in range(3):
        httpx_mock.add_response(
            url=f"{XRPC}/com.atproto.repo.createRecord",
            json=created(tid_for(KEY, index), f"bafyreicid{index}"),
        )
    receipt = deliver(ch, prepared, delivery_key=KEY)
    bodies = sent_records(httpx_mock)
    assert [b["rkey"] for b in bodies] == [tid_for(KEY, i) for i in range(3)]
    root = {"uri": f"at://{DID}/app.bsky.feed.post/{tid_for(KEY, 0)}", "cid": "bafyreicid0"}
    assert "reply" not in bodies[0]["record"]
    assert bodies[1]["record"]["reply"] == {"root": root, "parent": root}
    assert bodies[2]["record"]["reply"]["parent"]["cid"] == "bafyreicid1"
    assert len(receipt.extra["thread"]) == 3


def test_session_is_reused_and_refreshed_on_expired_token(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=f"{XRPC}/com.atproto.server.createSession", json=session())
    httpx_mock.add_response(url=f"{XRPC}/com.atproto.repo.createRecord", json=created("a"))
    httpx_mock.add_response(
        url=f"{XRPC}/com.atproto.repo.createRecord",
        status_code=400,
        json={"error": "ExpiredToken", "message": "Token has expired"},
    )
    httpx_mock.add_response(
        url=f"{XRPC}/com.atproto.server.refreshSession",
        json=session("access-jwt-2", "refresh-jwt-2"),
    )
    httpx_mock.add_response(url=f"{XRPC}/com.atproto.repo.createRecord", json=created("b"))
    ch = channel()
    deliver(ch, Post(text="first"), delivery_key="k1")
    deliver(ch, Post(text="second"), delivery_key="k2")
    assert len(httpx_mock.get_requests(url=f"{XRPC}/com.atproto.server.createSession")) == 1
    refresh = httpx_mock.get_requests(url=f"{XRPC}/com.atproto.server.refreshSession")[0]
    assert refresh.headers["Authorization"] == "Bearer refresh-jwt-1"
    last = httpx_mock.get_requests(url=f"{XRPC}/com.atproto.repo.createRecord")[-1]
    assert last.headers["Authorization"] == "Bearer access-jwt-2"


def test_expired_refresh_token_logs_in_again(httpx_mock: HTTPXMock) -> None:
    expired = {"error": "ExpiredToken", "message": "Token has expired"}
    httpx_mock.add_response(url=f"{XRPC}/com.atproto.server.createSession", json=session())
    httpx_mock.add_response(
        url=f"{XRPC}/com.atproto.repo.createRecord", status_code=400, json=expired
    )
    httpx_mock.add_response(
        url=f"{XRPC}/com.atproto.server.refreshSession", status_code=400, json=expired
    )
    httpx_mock.add_response(
        url=f"{XRPC}/com.atproto.server.createSession", json=session("access-jwt-3")
    )
    httpx_mock.add_response(url=f"{XRPC}/com.atproto.repo.createRecord", json=created("c"))
    deliver(channel(), Post(text="hello"))
    last = httpx_mock.get_requests(url=f"{XRPC}/com.atproto.repo.createRecord")[-1]
    assert last.headers["Authorization"] == "Bearer access-jwt-3"


def test_record_that_already_exists_is_read_back(httpx_mock: HTTPXMock) -> None:
    """The reference PDS answers a duplicate rkey with 500; the record is ours from an earlier try."""
    rkey = tid_for(KEY)
    httpx_mock.add_response(url=f"{XRPC}/com.atproto.server.createSession", json=session())
    httpx_mock.add_response(
        url=f"{XRPC}/com.atproto.repo.createRecord",
        status_code=500,
        json={"error": "InternalServerError", "message": "Internal Server Error"},
    )
    httpx_mock.add_response(
        url=f"{XRPC}/com.atproto.repo.getRecord?repo={DID}&collection=app.bsky.feed.post&rkey={rkey}",
        json=created(rkey, "bafyreiexisting") | {"value": {"text": "hello"}},
    )
    receipt = deliver(channel(), Post(text="hello"), delivery_key=KEY)
    assert receipt.extra["cid"] == "bafyreiexisting"


def test_failed_create_without_a_record_keeps_its_error(httpx_mock: HTTPXMock) -> None:
    rkey = tid_for(KEY)
    httpx_mock.add_response(url=f"{XRPC}/com.atproto.server.createSession", json=session())
    httpx_mock.add_response(
        url=f"{XRPC}/com.atproto.repo.createRecord",
        status_code=400,
        json={"error": "InvalidRequest", "message": "Invalid app.bsky.feed.post record"},
    )
    httpx_mock.add_response(
        url=f"{XRPC}/com.atproto.repo.getRecord?repo={DID}&collection=app.bsky.feed.post&rkey={rkey}",
        status_code=400,
        json={"error": "RecordNotFound", "message": "Could not locate record"},
    )
    with pytest.raises(Permanent) as caught:
        deliver(channel(), Post(text="hello"), delivery_key=KEY)
    assert caught.value.platform_code == "InvalidRequest"


def test_rate_limit_uses_the_epoch_reset(httpx_mock: HTTPXMock) -> None:
    reset = int(time.time()) + 120
    httpx_mock.add_response(
        url=f"{XRPC}/com.atproto.server.createSession",
        status_code=429,
        headers={
            "RateLimit-Limit": "30",
            "RateLimit-Remaining": "0",
            "RateLimit-Reset": str(reset),
        },
        json={"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"},
    )
    with pytest.raises(RateLimited) as caught:
        deliver(channel(), Post(text="hello"))
    assert caught.value.retry_after == pytest.approx(120, abs=3)


def test_bad_app_password_and_bad_token_are_auth_failures(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        url=f"{XRPC}/com.atproto.server.createSession",
        status_code=401,
        json={"error": "AuthenticationRequired", "message": "Invalid identifier or password"},
    )
    with pytest.raises(AuthFailed):
        deliver(channel(), Post(text="hello"))
    response = httpx.Response(
        400,
        json={"error": "InvalidToken", "message": "Token could not be verified"},
        request=httpx.Request("POST", f"{XRPC}/com.atproto.repo.createRecord"),
    )
    error = channel().classify(response, now=0.0)
    assert isinstance(error, AuthFailed)
    assert error.platform_code == "InvalidToken"


def test_upstream_failure_is_transient(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        url=f"{XRPC}/com.atproto.server.createSession", status_code=502, text="Bad Gateway"
    )
    with pytest.raises(Transient):
        deliver(channel(), Post(text="hello"))


def test_lookup_finds_the_record_named_by_the_key(httpx_mock: HTTPXMock) -> None:
    rkey = tid_for(KEY)
    url = f"{XRPC}/com.atproto.repo.getRecord?repo=bakery.example&collection=app.bsky.feed.post&rkey={rkey}"
    httpx_mock.add_response(url=url, json=created(rkey))
    result = lookup(channel(), Post(text="hello"), delivery_key=KEY)
    assert isinstance(result, Found)
    assert result.receipt.platform_id.endswith(rkey)
    httpx_mock.add_response(
        url=url, status_code=400, json={"error": "RecordNotFound", "message": "no"}
    )
    assert isinstance(lookup(channel(), Post(text="hello"), delivery_key=KEY), Absent)


def test_check_signs_in_and_names_the_account(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=f"{XRPC}/com.atproto.server.createSession", json=session())
    httpx_mock.add_response(
        url=f"{XRPC}/com.atproto.server.getSession", json={"handle": "bakery.example", "did": DID}
    )
    assert check(channel()) == f"@bakery.example ({DID}) on pds.example"


def test_tids_are_valid_stable_and_distinct() -> None:
    keys = [tid_for(f"key-{n}", part) for n in range(200) for part in range(3)]
    assert len(set(keys)) == len(keys)
    assert tid_for("k", 1) == tid_for("k", 1)
    for key in keys:
        assert len(key) == 13
        assert key[0] in "234567abcdefghij"
        assert set(key) <= set("234567abcdefghijklmnopqrstuvwxyz")


def test_limits_are_graphemes_and_bytes() -> None:
    ch = channel()
    emoji = "👩‍👩‍👧‍👦"  # one grapheme, 25 UTF-8 bytes
    prepared = ch.prepare(Post(text=emoji * 150))
    for part in prepared.parts:
        assert len(part.encode()) <= 3000
    assert len(prepared.parts) >= 2
    assert ch.failure_domain == "pds.example"
    assert channel(handle="@Bakery.example").handle == "Bakery.example"


def test_images_win_the_embed_and_the_card_moves_or_is_skipped() -> None:
    ch = channel()
    image = Media.from_bytes(png(3, 2))
    single = ch.prepare(Post(text="Offer", link="https://bakery.example/o", media=[image]))
    assert single.payload["card"] is None
    assert any(c.kind == "link_card_skipped" for c in single.changes)
    long = ch.prepare(Post(text="word " * 80, link="https://bakery.example/o", media=[image]))
    assert long.payload["card_part"] == 1


def _jwt(exp: float) -> str:
    """A JWT shaped like a PDS's (header.payload.signature); the signature is not checked."""

    def part(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    header = part({"typ": "at+jwt", "alg": "HS256"})
    return f"{header}.{part({'scope': 'com.atproto.access', 'sub': DID, 'exp': exp})}.c2ln"


def test_check_reports_the_session_lifetimes_read_from_the_jwts(httpx_mock: HTTPXMock) -> None:
    now = time.time()
    tokens = session(access=_jwt(now + 2 * 3600 + 60), refresh=_jwt(now + 60 * 86400 + 60))
    httpx_mock.add_response(url=f"{XRPC}/com.atproto.server.createSession", json=tokens)
    httpx_mock.add_response(
        url=f"{XRPC}/com.atproto.server.getSession", json={"handle": "bakery.example", "did": DID}
    )
    status = check_status(channel())
    assert [(e.credential, e.renewable, e.source) for e in status.expiries] == [
        ("session access token", True, "JWT exp"),
        ("session refresh token", True, "JWT exp"),
    ]
    assert status.lapses() is None, "the app password renews both: nothing to warn about"
    assert status.describe(now) == (
        f"@bakery.example ({DID}) on pds.example; "
        "session access token expires in 2 h (renewed automatically); "
        "session refresh token expires in 60 days (renewed automatically)"
    )


@pytest.mark.parametrize(
    "token", ["", "opaque-token", "a.!!!.c", "a.e30.c", "a.eyJleHAiOiJzb29uIn0.c"]
)
def test_a_token_without_a_readable_exp_has_no_expiry(token: str) -> None:
    assert jwt_expiry(token) is None
