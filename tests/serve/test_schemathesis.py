"""Schemathesis fuzzes a running server against its own OpenAPI document.

Every operation gets generated requests, valid and invalid; every answer must
be documented, match its schema and never be a 5xx. The server is its own
instance (over its own seeded outbox), since the fuzzer cancels and retries.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from unipost.serve.openapi import document

Server = Any  # tests/serve/conftest.py: a running `unipost serve`


@pytest.fixture(scope="module")
def fuzzed(start_server: Any) -> Server:
    server: Server = start_server("fuzz")
    return server


# The document the server serves (test_api checks that they are the same); loaded at import
# because schemathesis's lazy fixture loader does not work with pytest 9 yet.
schema = schemathesis.openapi.from_dict(document())


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_answers_match_the_document(case: Any, fuzzed: Server) -> None:
    case.call_and_validate(
        base_url=fuzzed.url,
        headers={"Authorization": f"Bearer {fuzzed.tokens['full']}"},
        timeout=30,
        # A schema-valid request may still break a business rule the document cannot state
        # (a channel that is not configured, a post too long for every target): those are
        # 422 problems, which the document lists. Every other check runs.
        excluded_checks=[schemathesis.checks.positive_data_acceptance],
    )
