"""Against a real Synapse: text and image read back, a retried txnId does not duplicate."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest
from unipost_matrix import MatrixChannel, transaction_id

from unipost import Media, Post, ReportStatus, errors
from unipost.plugin import Absent, Found
from unipost.testing import check, deliver, lookup, png

from .conftest import Synapse

pytestmark = pytest.mark.integration
pytest_plugins = ["unipost.testing.pytest_plugin"]

KEY = "up1-synapsetest000000000000000001"


def channel(synapse: Synapse, token: str | None = None) -> MatrixChannel:
    return MatrixChannel(
        homeserver=synapse.base,
        access_token=token or synapse.alice.token,
        room_id=synapse.room_id,
    )


def room_path(synapse: Synapse) -> str:
    return f"/_matrix/client/v3/rooms/{quote(synapse.room_id, safe='')}"


def event(synapse: Synapse, event_id: str) -> dict[str, Any]:
    response = synapse.get(
        f"{room_path(synapse)}/event/{quote(event_id, safe='')}", synapse.alice.token
    )
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


def messages(synapse: Synapse) -> list[dict[str, Any]]:
    response = synapse.get(f"{room_path(synapse)}/messages?dir=b&limit=100", synapse.alice.token)
    response.raise_for_status()
    return [e for e in response.json()["chunk"] if e["type"] == "m.room.message"]


def test_text_and_image_are_published_and_read_back(synapse: Synapse) -> None:
    image = png(4, 3)
    post = Post(
        text="Fresh croissants <today> & tomorrow",
        link="https://bakery.example/croissants",
        media=[Media.from_bytes(image, filename="croissants.png", alt="A tray of croissants")],
    )
    receipt = deliver(channel(synapse), post, delivery_key="up1-readback0000000000000000000001")
    text_event = event(synapse, receipt.platform_id)
    content = text_event["content"]
    assert content["msgtype"] == "m.text"
    assert (
        content["body"]
        == "Fresh croissants <today> & tomorrow\n\nhttps://bakery.example/croissants"
    )
    assert content["formatted_body"] == (
        "Fresh croissants &lt;today&gt; &amp; tomorrow<br><br>"
        '<a href="https://bakery.example/croissants">https://bakery.example/croissants</a>'
    )
    assert text_event["sender"] == synapse.alice.user_id
    image_event = event(synapse, receipt.extra["events"][1])["content"]
    assert image_event["msgtype"] == "m.image"
    assert image_event["body"] == "A tray of croissants"
    assert image_event["info"] == {"mimetype": "image/png", "size": len(image), "w": 4, "h": 3}
    media = synapse.get(
        f"/_matrix/client/v1/media/download/{image_event['url'].removeprefix('mxc://')}",
        synapse.alice.token,
    )
    assert media.status_code == 200
    assert media.content == image  # the bytes the media repository serves are the ones sent
    # Synapse 1.163 creates room version 12 rooms, whose ids carry no server name.
    assert receipt.url is not None
    assert receipt.url.startswith(
        f"https://matrix.to/#/{quote(synapse.room_id, safe='')}/{quote(receipt.platform_id, safe='')}"
    )


def test_a_retry_with_the_same_txn_id_does_not_duplicate(synapse: Synapse) -> None:
    matrix = channel(synapse)
    post = Post(text="Only once, please")
    first = deliver(matrix, post, delivery_key=KEY, attempt=1)
    again = deliver(matrix, post, delivery_key=KEY, attempt=2)  # e.g. after a timeout
    assert again.platform_id == first.platform_id
    found = [e for e in messages(synapse) if e["content"].get("body") == "Only once, please"]
    assert [e["event_id"] for e in found] == [first.platform_id]
    # Synapse tells the sending device which transaction made the event.
    assert found[0]["unsigned"]["transaction_id"] == "unipost." + KEY + ".0"
    assert transaction_id(KEY, 0) == quote("unipost." + KEY + ".0", safe="")


def test_a_new_delivery_key_is_a_new_event(synapse: Synapse) -> None:
    matrix = channel(synapse)
    one = deliver(
        matrix, Post(text="Daily special"), delivery_key="up1-day1000000000000000000000001"
    )
    two = deliver(
        matrix, Post(text="Daily special"), delivery_key="up1-day2000000000000000000000002"
    )
    assert one.platform_id != two.platform_id


def test_through_the_dispatcher(synapse: Synapse, unipost_dispatcher: Any) -> None:
    dispatcher = unipost_dispatcher(channel(synapse))
    report = dispatcher.publish(Post(text="Through the dispatcher", id="synapse-1"), "matrix")
    assert report.status is ReportStatus.SUCCEEDED
    event_id = report["matrix"].platform_id
    assert event(synapse, event_id)["content"]["body"] == "Through the dispatcher"


def test_a_bad_token_is_auth_with_synapse_s_own_body(synapse: Synapse) -> None:
    with pytest.raises(errors.AuthFailed) as caught:
        deliver(channel(synapse, token="syt_not_a_real_token_000000"), Post(text="x"))
    assert caught.value.platform_code == "M_UNKNOWN_TOKEN"
    assert caught.value.status == 401


def test_a_room_the_account_is_not_in_is_forbidden(synapse: Synapse) -> None:
    with pytest.raises(errors.Forbidden) as caught:
        deliver(channel(synapse, token=synapse.bob.token), Post(text="x"))
    assert caught.value.platform_code == "M_FORBIDDEN"


def test_check_says_who_and_where(synapse: Synapse) -> None:
    assert check(channel(synapse)) == (
        f"{synapse.alice.user_id} on 127.0.0.1, a member of {synapse.room_id}"
    )
    assert "NOT a member" in check(channel(synapse, token=synapse.bob.token))


def test_lookup_finds_a_delivery_by_its_transaction_ids(synapse: Synapse) -> None:
    matrix = channel(synapse)
    post = Post(text="Find me later", media=[Media.from_bytes(png(), filename="a.png")])
    key = "up1-lookup0000000000000000000000001"
    receipt = deliver(matrix, post, delivery_key=key)
    found = lookup(matrix, post, delivery_key=key)
    assert isinstance(found, Found)
    assert found.receipt.platform_id == receipt.platform_id
    assert found.receipt.extra["events"] == receipt.extra["events"]


def test_lookup_of_a_delivery_never_sent_is_absent(synapse: Synapse) -> None:
    # The room is young: reading back reaches its start, so absence is known for sure.
    result = lookup(
        channel(synapse), Post(text="never sent"), delivery_key="up1-neversent00000000000000000001"
    )
    assert isinstance(result, Absent)


def test_another_device_cannot_see_the_transaction_ids(synapse: Synapse) -> None:
    """Transaction ids are shown only to the device that sent: another token finds nothing."""
    key = "up1-otherdevice000000000000000001"
    deliver(channel(synapse), Post(text="device bound"), delivery_key=key)
    login = synapse.login("alice", "alice-pass-123")
    result = lookup(channel(synapse, token=login), Post(text="device bound"), delivery_key=key)
    assert isinstance(result, Absent)
