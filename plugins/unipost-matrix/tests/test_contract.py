"""unipost's conformance suite for the Matrix channel."""

from __future__ import annotations

import re
from typing import Any, ClassVar

from unipost_matrix import MatrixChannel

from unipost.testing import ChannelContract

from .conftest import ERRORS

TOKEN = "syt_YWxpY2U_contract_token_0123456789"
SEND = re.compile(
    r"^https://matrix\.example\.org/_matrix/client/v3/rooms/%21bakery%3Aexample\.org"
    r"/send/m\.room\.message/unipost\.[^/]+\.0$"
)


class TestMatrixContract(ChannelContract):
    channel_class = MatrixChannel
    settings: ClassVar[dict[str, str]] = {
        "homeserver": "https://matrix.example.org",
        "access_token": TOKEN,
        "room_id": "!bakery:example.org",
    }
    secrets = (TOKEN,)
    error_body = ERRORS["too_large"]["body"]

    def arrange_success(self, httpx_mock: Any) -> None:
        httpx_mock.add_response(method="PUT", url=SEND, json={"event_id": "$Ev3nt1d:example.org"})
