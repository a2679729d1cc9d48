"""#14.5: removing an extra copy of a Bluesky post with com.atproto.repo.deleteRecord.

A Bluesky post cannot go out twice through a resend (its record key is derived
from the delivery key), so these tests flag a record as the worker's second
look would, then ask for the copy's removal.
"""

from __future__ import annotations

import json

import httpx
import pytest
from pytest_httpx import HTTPXMock
from unipost_bluesky import BlueskyChannel, tid_for

from unipost import Dispatcher, MemoryStore, Post, State
from unipost.errors import Permanent, UsageError
from unipost.records import Record
from unipost.testing import VirtualClock

from .lexicon import Lexicons
from .test_channel import DID, SETTINGS, XRPC, created, session

LEXICONS = Lexicons()
COPY = f"at://{DID}/app.bsky.feed.post/3lcopy2abcdef"


def flag(dispatcher: Dispatcher, record: Record, *uris: str) -> None:
    """What the second look writes when it finds copies no record owns."""
    record.possible_duplicate = True
    record.extra = {
        **record.extra,
        "duplicates": [{"platform_id": uri, "url": f"https://bsky.app/{uri}"} for uri in uris],
    }
    dispatcher.store.save(record)


def published(httpx_mock: HTTPXMock, dispatcher: Dispatcher) -> Record:
    httpx_mock.add_response(url=f"{XRPC}/com.atproto.server.createSession", json=session())
    httpx_mock.add_callback(
        lambda request: httpx.Response(200, json=created(json.loads(request.content)["rkey"])),
        url=f"{XRPC}/com.atproto.repo.createRecord",
    )
    report = dispatcher.publish(Post(text="Open 9-5 today", id="hours"), "bsky")
    assert report.ok, report
    [record] = dispatcher.store.query(post_id="hours")
    return record


def _dispatcher() -> Dispatcher:
    channel = BlueskyChannel.from_settings("bsky", SETTINGS)
    return Dispatcher(channels={"bsky": channel}, store=MemoryStore(), clock=VirtualClock())


def test_the_copy_is_deleted_with_delete_record_once(httpx_mock: HTTPXMock) -> None:
    with _dispatcher() as dispatcher:
        record = published(httpx_mock, dispatcher)
        assert record.platform_id == f"at://{DID}/app.bsky.feed.post/{tid_for(record.delivery_key)}"
        flag(dispatcher, record, COPY)
        httpx_mock.add_response(method="POST", url=f"{XRPC}/com.atproto.repo.deleteRecord", json={})
        record = dispatcher.remove_duplicate(record.id)
        [request] = httpx_mock.get_requests(url=f"{XRPC}/com.atproto.repo.deleteRecord")
        body = json.loads(request.content)
        LEXICONS.validate_input("com.atproto.repo.deleteRecord", body)
        assert body == {"repo": DID, "collection": "app.bsky.feed.post", "rkey": "3lcopy2abcdef"}
        assert request.headers["Authorization"] == "Bearer access-jwt-1"
        assert not record.possible_duplicate
        assert record.state is State.DELIVERED
        with pytest.raises(UsageError, match="no extra copy"):
            dispatcher.remove_duplicate(record.id)
        assert len(httpx_mock.get_requests(url=f"{XRPC}/com.atproto.repo.deleteRecord")) == 1


def test_an_expired_session_is_refreshed_before_the_delete(httpx_mock: HTTPXMock) -> None:
    with _dispatcher() as dispatcher:
        record = published(httpx_mock, dispatcher)
        flag(dispatcher, record, COPY)
        httpx_mock.add_response(  # atproto's answer to a stale access token
            url=f"{XRPC}/com.atproto.repo.deleteRecord",
            status_code=400,
            json={"error": "ExpiredToken", "message": "Token has expired"},
        )
        httpx_mock.add_response(
            url=f"{XRPC}/com.atproto.server.refreshSession",
            json=session("access-jwt-2", "refresh-jwt-2"),
        )
        httpx_mock.add_response(url=f"{XRPC}/com.atproto.repo.deleteRecord", json={})
        dispatcher.remove_duplicate(record.id)
        tokens = [
            r.headers["Authorization"]
            for r in httpx_mock.get_requests(url=f"{XRPC}/com.atproto.repo.deleteRecord")
        ]
        assert tokens == ["Bearer access-jwt-1", "Bearer access-jwt-2"]


@pytest.mark.parametrize(
    ("uri", "problem"),
    [
        ("at://did:plc:someoneelse000000000000/app.bsky.feed.post/3labc", "not a post of"),
        (f"at://{DID}/app.bsky.feed.like/3labc", "not a post of"),
        ("https://bsky.app/profile/bakery.example/post/3labc", "not a record URI"),
    ],
)
def test_only_the_accounts_own_posts_are_deleted(
    httpx_mock: HTTPXMock, uri: str, problem: str
) -> None:
    with _dispatcher() as dispatcher:
        record = published(httpx_mock, dispatcher)
        flag(dispatcher, record, uri)
        with pytest.raises(Permanent, match=problem):
            dispatcher.remove_duplicate(record.id)
        assert httpx_mock.get_requests(url=f"{XRPC}/com.atproto.repo.deleteRecord") == []
        assert dispatcher.store.record(record.id).possible_duplicate


def test_the_delete_input_matches_the_lexicon() -> None:
    channel = BlueskyChannel.from_settings("bsky", SETTINGS)
    body = channel.delete_record_body(COPY)
    LEXICONS.validate_input("com.atproto.repo.deleteRecord", body)
    with pytest.raises(ValueError, match="repo"):  # guard: the check is not vacuous
        LEXICONS.validate_input("com.atproto.repo.deleteRecord", {**body, "repo": "not a repo"})
