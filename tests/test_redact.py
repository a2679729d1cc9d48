"""What redaction hides, and what it must leave readable."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from unipost.redact import (
    REDACTED,
    forget_secrets,
    mask_phone,
    redact,
    register_phone,
    register_secret,
)

TOKEN = "Tk9x2mQ7vL4pZ8rW"
HOOK = f"https://hooks.bakery.example/services/T0A1/{TOKEN}?sig=a1b2c3d4e5f6"


@pytest.fixture(autouse=True)
def clean() -> Iterator[None]:
    forget_secrets()
    yield
    forget_secrets()


@pytest.mark.parametrize(
    "text",
    [
        "media 113456789012345678 is still processing",  # a Mastodon media id
        "535 5.7.8 Error: authentication failed: UGFzc3dvcmQ6",  # Postfix
        "--at: '1765000000' is in the past",  # a Unix time
        "Error validating access token: Session has expired on Tuesday, 01-Dec-26 10:00:00 PST.",
        "Invalid OAuth access token signature.",
        "status 422: attempt 3 of 5, request id 7f3a9c12-88e1",
        "channels.hook.token: environment variable HOOK_TOKEN is not set",
        "2026-12-24T09:00+01:00 and 127.0.0.1:8025",
        "order 4915112345678 was shipped",  # a long digit run, not named as a number
    ],
)
def test_ordinary_text_stays_readable(text: str) -> None:
    assert redact(text) == text


@pytest.mark.parametrize(
    ("text", "hidden", "kept"),
    [
        ("sent to +49 151 1234 5678 at nine", "1234 5678", "+49*******5678"),
        ('{"wa_id": "4915112345678"}', "4915112345678", "49*******5678"),
        ("phone: 0151 12345678", "12345678", "01******5678"),
        ("token=abc123def456ghi", "abc123def456ghi", "token=[REDACTED]"),
        ('{"password": "hunter2 is long"}', "hunter2", '"password": "[REDACTED]'),
        ("Authorization: Bearer tok_live_9f8e7d6c", "tok_live_9f8e7d6c", "Bearer [REDACTED]"),
        ("api key: sk9f8e7d6c5b4a3z", "sk9f8e7d6c5b4a3z", "key: [REDACTED]"),
        ("mail alice@example.com now", "alice@", "***@example.com"),
    ],
)
def test_personal_data_and_tokens_are_masked(text: str, hidden: str, kept: str) -> None:
    shown = redact(text)
    assert hidden not in shown
    assert kept in shown


def test_a_registered_recipient_is_masked_in_any_spelling() -> None:
    register_phone("+49 151 1234 5678")
    for text in ("to 4915112345678 failed", "to +4915112345678 failed"):
        shown = redact(text)
        assert "12345678" not in shown
        assert "+49*******5678" in shown


def test_masks_tell_recipients_apart() -> None:
    assert mask_phone("+4915112345678") == "+49*******5678"
    assert mask_phone("+4915187655678") == "+49*******5678"[:-4] + "5678"
    assert mask_phone("+4915112345623") != mask_phone("+4915112349923")
    assert mask_phone("+12345678") == "+***78"


def test_a_webhook_url_hides_its_path_and_query_in_every_spelling() -> None:
    register_secret(HOOK)
    for text in (
        f"POST {HOOK}: Server disconnected",
        "POST https://hooks.bakery.example:443/services/T0A1/" + TOKEN + ": dropped",
        "RemoteProtocolError for /services/T0A1/" + TOKEN + "?sig=a1b2c3d4e5f6",
        f"token {TOKEN} refused",
        "https://hooks.bakery.example/services/T0A1/Tk9x2mQ7vL4p%5AZ8rW",  # encoded differently
    ):
        shown = redact(text)
        assert TOKEN not in shown, shown
        assert "T0A1" not in shown, shown
        assert "a1b2c3d4e5f6" not in shown, shown
    assert (
        redact("https://hooks.bakery.example/ answers") == "https://hooks.bakery.example/ answers"
    )
    assert REDACTED in redact(f"GET https://hooks.bakery.example/other/{TOKEN}x")


def test_register_secret_takes_a_fragment() -> None:
    register_secret("fragment-0f-a-path")
    assert redact("GET /in/fragment-0f-a-path/x") == f"GET /in/{REDACTED}/x"
    register_secret("short")
    assert redact("a short word") == "a short word"
