"""TokenHolder: refresh when stale, rotation kept and stored, a spent refresh token never resent."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import httpx
import pytest
from unipost_oauth import OAuth2App, TokenHolder, oauth_error

from unipost.plugin import Ambiguous, AuthFailed, NotSent, Pause, Permanent, RateLimited, Transient

TOKEN_URL = "https://auth.example/token"
APP = OAuth2App(token_url=TOKEN_URL, client_id="cid", client_secret="csecret")
NOW = 1_800_000_000.0


def clock() -> float:
    return NOW


def answer(flow: Generator[Any, Any, Any], reply: httpx.Response) -> Any:
    try:
        return flow.send(reply)
    except StopIteration as stop:
        return ("done", stop.value)


def token_response(access: str, refresh: str | None, expires_in: int = 7200) -> httpx.Response:
    body: dict[str, Any] = {
        "access_token": access,
        "token_type": "bearer",
        "expires_in": expires_in,
    }
    if refresh:
        body["refresh_token"] = refresh
    return httpx.Response(200, json=body)


def holder(**kwargs: Any) -> tuple[TokenHolder, list[dict[str, Any]]]:
    stored: list[dict[str, Any]] = []

    def store(values: Any) -> bool:
        stored.append(dict(values))
        return True

    return TokenHolder(app=APP, store=store, **kwargs), stored


def test_a_stale_token_is_refreshed_and_the_rotation_stored() -> None:
    tokens, stored = holder(access_token="a1", refresh_token="r1", expires_at=NOW + 30)
    flow = tokens.bearer(clock)
    request = next(flow)
    assert request.url == TOKEN_URL
    form = dict(httpx.QueryParams(request.content.decode()))
    assert form == {
        "grant_type": "refresh_token",
        "refresh_token": "r1",
        "client_id": "cid",
        "client_secret": "csecret",
    }
    assert answer(flow, token_response("a2", "r2")) == ("done", "a2")
    assert stored == [
        {"access_token": "a2", "access_token_expires_at": NOW + 7200, "refresh_token": "r2"}
    ]
    assert (tokens.refresh_token, tokens.expires_at) == ("r2", NOW + 7200)


def test_basic_client_authentication() -> None:
    app = OAuth2App(token_url=TOKEN_URL, client_id="cid", client_secret="cs", basic_auth=True)
    request = app.refresh_request("r1")
    assert request.headers["Authorization"] == "Basic Y2lkOmNz"
    assert b"client_secret" not in request.content


def test_a_fresh_token_is_used_without_a_request() -> None:
    tokens, stored = holder(access_token="a1", refresh_token="r1", expires_at=NOW + 3600)
    flow = tokens.bearer(clock)
    with pytest.raises(StopIteration) as stop:
        next(flow)
    assert stop.value.value == "a1"
    assert stored == []


def test_a_401_refreshes_once_and_resends() -> None:
    tokens, _ = holder(access_token="a1", refresh_token="r1")
    flow = tokens.send(
        clock, lambda token: httpx.Request("GET", f"https://api.example/me?t={token}")
    )
    assert next(flow).url.params["t"] == "a1"
    refresh = flow.throw(AuthFailed("expired", status=401))
    assert refresh.url == TOKEN_URL
    resend = flow.send(token_response("a2", "r2"))
    assert resend.url.params["t"] == "a2"
    final = httpx.Response(200)
    assert answer(flow, final) == ("done", final)


def test_two_deliveries_never_refresh_twice() -> None:
    """The second finds a refresh under way and comes back later: r1 is sent once."""
    tokens, stored = holder(access_token="a1", refresh_token="r1", expires_at=NOW - 1)
    first = tokens.bearer(clock)
    second = tokens.bearer(clock)
    assert next(first).url == TOKEN_URL
    with pytest.raises(Transient) as caught:
        next(second)
    assert caught.value.retry_after == 1.0
    assert answer(first, token_response("a2", "r2")) == ("done", "a2")
    with pytest.raises(StopIteration) as stop:
        next(tokens.bearer(clock))  # the next try uses the new token, no request
    assert stop.value.value == "a2"
    assert len(stored) == 1


def test_send_can_pause_before_a_poll() -> None:
    tokens, _ = holder(access_token="a1")
    flow = tokens.send(
        clock, lambda t: httpx.Request("GET", f"https://api.example/s?t={t}"), pause=5
    )
    step = next(flow)
    assert isinstance(step, Pause)
    assert (step.seconds, step.then.url.params["t"]) == (5, "a1")


def test_a_spent_refresh_token_is_never_sent_again() -> None:
    tokens, _ = holder(access_token="a1", refresh_token="r1", expires_at=NOW - 1)
    flow = tokens.bearer(clock)
    next(flow)
    with pytest.raises(Permanent):
        flow.send(httpx.Response(200, text="<html>oops</html>"))
    assert not tokens.can_refresh
    with pytest.raises(AuthFailed, match="authorize the account again"):
        next(tokens.refresh(clock, stale="a1"))


def test_a_refresh_that_never_left_may_be_tried_again() -> None:
    tokens, _ = holder(access_token="a1", refresh_token="r1", expires_at=NOW - 1)
    flow = tokens.bearer(clock)
    next(flow)
    with pytest.raises(NotSent):
        flow.throw(NotSent("could not connect"))
    assert tokens.can_refresh


def test_invalid_grant_means_authorize_again() -> None:
    response = httpx.Response(
        400,
        json={"error": "invalid_grant", "error_description": "Token has been expired or revoked."},
    )
    error = oauth_error(response)
    assert isinstance(error, AuthFailed)
    assert "Token has been expired or revoked." in error.message


def test_status_reports_both_expiries_and_only_the_refresh_token_needs_a_person() -> None:
    tokens, _ = holder(
        access_token="a1",
        refresh_token="r1",
        expires_at=NOW + 3600,
        refresh_expires_at=NOW + 5 * 86400,
    )
    status = tokens.status("@bakery")
    assert status.describe(NOW) == (
        "@bakery; access token expires in 60 min (renewed automatically); "
        "refresh token expires in 5 days"
    )
    lapse = status.lapses()
    assert lapse is not None
    assert (lapse.credential, lapse.at) == ("refresh token", NOW + 5 * 86400)


def test_a_refresh_answer_with_a_refresh_lifetime_is_stored_under_setting_names() -> None:
    """TikTok and LinkedIn say how long the refresh token lives: kept for the next process."""
    tokens, stored = holder(access_token="a1", refresh_token="r1", expires_at=NOW - 1)
    flow = tokens.bearer(clock)
    next(flow)
    body = {"access_token": "a2", "expires_in": 86400, "refresh_token_expires_in": 31536000}
    assert answer(flow, httpx.Response(200, json=body)) == ("done", "a2")
    assert stored == [
        {
            "access_token": "a2",
            "access_token_expires_at": NOW + 86400,
            "refresh_token_expires_at": NOW + 31536000,
        }
    ]
    assert tokens.status("x").lapses() == tokens.expiries()[1]


def test_a_refresh_token_that_was_not_replaced_stays_usable() -> None:
    """Google answers a refresh without a new refresh token: the same one serves next time."""
    tokens, stored = holder(access_token="a1", refresh_token="r1", expires_at=NOW - 1)
    flow = tokens.bearer(clock)
    next(flow)
    assert answer(flow, token_response("a2", None)) == ("done", "a2")
    assert tokens.can_refresh
    assert tokens.refresh_token == "r1"
    assert "refresh_token" not in stored[0]


def test_a_non_rotating_platform_keeps_its_token_after_a_lost_answer() -> None:
    app = OAuth2App(token_url=TOKEN_URL, client_id="cid", rotates=False)
    tokens = TokenHolder(access_token="a1", refresh_token="r1", expires_at=NOW - 1, app=app)
    flow = tokens.bearer(clock)
    next(flow)
    with pytest.raises(Permanent):
        flow.send(httpx.Response(200, text="<html>oops</html>"))
    assert tokens.can_refresh


def test_a_refresh_the_server_did_not_process_may_be_tried_again() -> None:
    """429 or 503 from the token endpoint: not applied, the token was not consumed."""
    tokens, _ = holder(access_token="a1", refresh_token="r1", expires_at=NOW - 1)
    flow = tokens.bearer(clock)
    next(flow)
    with pytest.raises(RateLimited):
        flow.throw(RateLimited("slow down", status=429))
    assert tokens.can_refresh


def test_a_refresh_lost_after_sending_spends_the_token() -> None:
    """A timeout after sending may have rotated it: never send it again."""
    tokens, _ = holder(access_token="a1", refresh_token="r1", expires_at=NOW - 1)
    flow = tokens.bearer(clock)
    next(flow)
    with pytest.raises(Ambiguous):
        flow.throw(Ambiguous("timed out"))
    assert not tokens.can_refresh
