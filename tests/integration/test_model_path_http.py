"""A model name from a client never steers the proxy's key to another upstream path (Azure puts the
deployment, the model, into the URL path)."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from tests.support.fake_upstream import FakeUpstream
from tests.support.proxy_server import ProxyServer

API_VERSION = "2024-10-21"


def ask(proxy: ProxyServer, model: str) -> httpx.Response:
    body = {"model": model, "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}
    return httpx.post(f"{proxy.url}/v1/messages", json=body, timeout=20)


@pytest.fixture
def azure(start_proxy: Callable[..., ProxyServer]) -> ProxyServer:
    return start_proxy(azure_api_version=API_VERSION)


def test_a_plain_deployment_name_reaches_its_deployment_with_the_api_version(
    azure: ProxyServer, upstream: FakeUpstream
) -> None:
    assert ask(azure, "gpt-4.1-mini_2").status_code == 200
    assert upstream.last.path == "/v1/openai/deployments/gpt-4.1-mini_2/chat/completions"
    assert upstream.last.query == f"api-version={API_VERSION}"


@pytest.mark.parametrize(
    "model",
    [
        "../../../admin",
        "..",
        ".",
        "x/../../other",
        "a/b",
        "x?api-version=1999-01-01",
        "x#",
        "%2e%2e",
        "%2E%2E%2Fother",
        "x%2fy",
        "x%3fapi-version=1",
        "x%23",
        "x\\..\\y",
        "x y",
        "x\ty",
    ],
)
def test_a_model_name_that_is_not_one_path_segment_is_refused_before_the_upstream(
    azure: ProxyServer, upstream: FakeUpstream, model: str
) -> None:
    response = ask(azure, model)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert repr(model) in error["message"]
    assert upstream.requests == []
