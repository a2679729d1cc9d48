"""The answers used in these tests match Discord's own schemas (so the fakes are honest)."""

from __future__ import annotations

import jsonschema
import pytest

from .conftest import ERRORS, WEBHOOK, WEBHOOK_PATH, at, message, schema, validate


def test_the_message_fixture_is_a_message_response() -> None:
    validate(message("1100", "hi"), schema("MessageResponse"))


def test_the_webhook_fixture_is_a_webhook_response() -> None:
    validate(
        WEBHOOK,
        at(*WEBHOOK_PATH, "get", "responses", "200", "content", "application/json", "schema"),
    )


def test_the_rate_limit_body_differs_from_the_spec_only_by_code() -> None:
    """Discord's documented 429 body has no ``code``; the spec requires one. Both classify alike."""
    body = ERRORS["rate_limited"]["body"]
    with pytest.raises(jsonschema.ValidationError, match="'code' is a required property"):
        validate(body, schema("RatelimitedResponse"))


def test_a_plain_error_body_is_an_error_response() -> None:
    validate(ERRORS["unknown_webhook"]["body"], schema("ErrorResponse"))


def test_a_form_error_body_matches_the_spec_s_parts() -> None:
    # ErrorResponse.errors is a oneOf whose two alternatives both match a nested field error,
    # which oneOf forbids; each part is checked against its own schema instead.
    body = ERRORS["too_long"]["body"]
    validate({"code": body["code"], "message": body["message"]}, schema("Error"))
    # Discord sends string codes ("BASE_TYPE_MAX_LENGTH") where the spec says integer: the
    # classifier reads only the message, so either form is handled.
    with pytest.raises(jsonschema.ValidationError, match="is not of type 'integer'"):
        validate(body["errors"]["content"], schema("InnerErrors"))


def test_an_overlong_content_fails_the_schema() -> None:
    """Guard against a vacuous check: the spec itself refuses 2,001 characters."""
    body = at(*WEBHOOK_PATH, "post", "requestBody", "content", "application/json", "schema")
    validate({"content": "x" * 2000}, body)
    with pytest.raises(jsonschema.ValidationError):
        validate({"content": "x" * 2001}, body)
