"""Schemathesis against the proxy's own OpenAPI description (`GET /openapi.json`), over real HTTP:
cases that fit the description (positive) and cases that break it (negative), for every operation.
No 5xx from the proxy, every error in Anthropic's shape, every 2xx as the description says, every
stream well-formed."""

from __future__ import annotations

from collections.abc import Iterator

import orjson
import pytest
import requests
import schemathesis
from hypothesis import given
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from provider_proxy.api.openapi import description
from tests.fuzz.budget import CLIENT_KEY, fuzz_settings, tried
from tests.fuzz.checks import check_answer
from tests.support.proxy_server import ProxyServer

SCHEMA = schemathesis.openapi.from_dict(orjson.loads(description()))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]

# A failing example of a few hundred kilobytes is reported all the same (the assertion shows its start).
pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")


@pytest.fixture(scope="module")
def session() -> Iterator[requests.Session]:
    with requests.Session() as client:
        client.headers["x-api-key"] = CLIENT_KEY
        yield client


def _try(case: schemathesis.Case, proxy: ProxyServer, session: requests.Session, mode: GenerationMode) -> None:
    response = case.call(base_url=proxy.url, session=session, timeout=30)
    tried(f"schemathesis {mode.value}", response.status_code)
    what = f"{case.method} {case.formatted_path} {case.body!r:.1500}"
    content_type = response.headers.get("content-type", [""])[0]
    check_answer(response.status_code, content_type, response.content, what)
    if mode is GenerationMode.POSITIVE:
        case.validate_response(response, checks=CHECKS)


@fuzz_settings()
@given(case=SCHEMA.as_strategy(GenerationMode.POSITIVE))
def test_cases_that_fit_the_description_get_described_answers(
    fuzz_proxy: ProxyServer, session: requests.Session, case: schemathesis.Case
) -> None:
    _try(case, fuzz_proxy, session, GenerationMode.POSITIVE)


@fuzz_settings()
@given(case=SCHEMA.as_strategy(GenerationMode.NEGATIVE))
def test_cases_that_break_the_description_get_anthropic_errors_not_5xx(
    fuzz_proxy: ProxyServer, session: requests.Session, case: schemathesis.Case
) -> None:
    _try(case, fuzz_proxy, session, GenerationMode.NEGATIVE)
