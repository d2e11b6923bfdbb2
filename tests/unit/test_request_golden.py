"""Anthropic request -> expected upstream request, one fixture directory per behaviour."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from provider_proxy.conversion.request import to_openai
from provider_proxy.models.anthropic import MessagesRequest
from tests.unit.golden import FIXTURES, check_golden, load, route_for

CASES = sorted(p for p in (FIXTURES / "translation").iterdir() if (p / "request.json").exists())


@pytest.mark.parametrize("case", CASES, ids=[p.name for p in CASES])
def test_request_translates_to_expected_upstream_body(case: Path) -> None:
    request = msgspec.convert(load(case / "request.json"), MessagesRequest)
    translation = to_openai(request, route_for(load(case / "route.json"), request.model))
    check_golden(case / "expected_upstream.json", translation.body)


def test_translation_does_not_mutate_the_request() -> None:
    case = FIXTURES / "translation" / "tool_results_string_list_error_then_text"
    request = msgspec.convert(load(case / "request.json"), MessagesRequest)
    before = msgspec.json.encode(request)
    to_openai(request, route_for(load(case / "route.json")))
    assert msgspec.json.encode(request) == before
