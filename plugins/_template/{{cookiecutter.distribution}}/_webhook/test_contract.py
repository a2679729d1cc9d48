"""The conformance suite unipost ships, plus this platform's own details.

``TestContract`` inherits a dozen tests from ``ChannelContract``: registration
through the entry point, valid capabilities, secrets kept out of reprs and
logs, over-long text, receipts, sync/async, and the mapping of 429, 503, 401,
400 and timeouts. When one fails, its docstring says what to fix.
"""

from __future__ import annotations

import json
import logging
from typing import Any, ClassVar

import pytest
import unipost
from unipost.errors import Ambiguous, AuthFailed, ConfigurationError
from unipost.redact import redact
from unipost.testing import ChannelContract, check, deliver

from {{ cookiecutter.package }} import {{ cookiecutter.class_name }}

#: A webhook URL: the token is in its path, so the whole URL is the secret.
TOKEN = "XyZ0123456789abcdefTOKEN"
HOOK = f"https://hooks.{{ cookiecutter.platform }}.test/services/T0001/B0002/{TOKEN}"
ROOM = "https://{{ cookiecutter.platform }}.test/rooms/bakery"
SETTINGS = {"webhook_url": HOOK, "room_url": ROOM}


def make_channel(**changes: Any) -> {{ cookiecutter.class_name }}:
    settings = {**SETTINGS, **changes}
    return {{ cookiecutter.class_name }}.from_settings("{{ cookiecutter.platform }}", settings)


class TestContract(ChannelContract):
    channel_class = {{ cookiecutter.class_name }}
    settings = SETTINGS
    secrets = (HOOK, TOKEN)
    error_body: ClassVar[Any] = {"error": "invalid_payload", "message": "rejected by the test"}

    def arrange_success(self, httpx_mock):
        httpx_mock.add_response(method="POST", url=HOOK, json={"message_id": "m-1001"})


def test_posts_the_text_as_json_and_points_to_the_room(httpx_mock):
    httpx_mock.add_response(method="POST", url=HOOK, json={"message_id": "m-7"})
    receipt = deliver(make_channel(), unipost.Post(text="Fresh bread at 7."))
    assert json.loads(httpx_mock.get_request().content) == {"text": "Fresh bread at 7."}
    assert receipt == unipost.Receipt(platform_id="m-7", url=ROOM)


def test_without_a_room_url_the_receipt_has_no_url_never_the_webhook(httpx_mock):
    httpx_mock.add_response(method="POST", url=HOOK, json={"message_id": "m-8"})
    receipt = deliver(make_channel(room_url=None), unipost.Post(text="hi"))
    assert receipt.url is None


def test_a_success_without_a_message_id_is_ambiguous(httpx_mock):
    httpx_mock.add_response(method="POST", url=HOOK, text="ok")
    with pytest.raises(Ambiguous):
        deliver(make_channel(), unipost.Post(text="hello"))


@pytest.mark.parametrize("status", [404, 410])
def test_a_deleted_webhook_is_a_revoked_credential(httpx_mock, status):
    httpx_mock.add_response(method="POST", url=HOOK, status_code=status, json={"error": "no_hook"})
    with pytest.raises(AuthFailed) as caught:
        deliver(make_channel(), unipost.Post(text="hello"))
    assert caught.value.platform_code == "no_hook"


@pytest.mark.parametrize(
    "bad",
    ["", "hooks.example/services/x", "http://hooks.example/services/x", "https://hooks.example/"],
)
def test_a_bad_webhook_url_is_refused_without_echoing_it(bad):
    with pytest.raises(ConfigurationError, match="webhook_url must be the full https://") as caught:
        make_channel(webhook_url=bad)
    if bad:
        assert bad not in str(caught.value)


def test_the_url_and_its_token_are_redacted_everywhere(httpx_mock, caplog):
    make_channel()
    line = f"POST {HOOK} failed; token {TOKEN}"
    logging.getLogger("test").warning(redact(line))
    assert TOKEN not in caplog.text
    assert "/services/" not in caplog.text, "the path is hidden along with the token"


def test_check_names_the_room(httpx_mock):
    httpx_mock.add_response(method="GET", url=HOOK, json={"room": "#bakery"})
    assert check(make_channel()) == "webhook posts to #bakery"
