"""Hypothesis-made Anthropic bodies, odd but valid and invalid, posted over real HTTP to
`/v1/messages` and `/v1/messages/count_tokens`: never a 5xx from the proxy, every error in
Anthropic's shape, every message and stream well-formed."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import brotli
import httpx
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz.bodies import encode, invalid_bodies, raw_bodies, valid_bodies
from tests.fuzz.budget import CLIENT_KEY, fuzz_settings, tried
from tests.fuzz.checks import check_answer, check_message
from tests.support.proxy_server import ProxyServer

PATHS = ["/v1/messages", "/v1/messages", "/v1/messages/count_tokens"]
# What Anthropic would take the proxy takes, but for a body over its size limit (413) and these: a last
# message with nothing it can translate (server tool blocks, unknown block types), a prompt over the
# routed model's window, tools for a model that cannot call them.
REFUSALS = ("no block this proxy can translate", "prompt is too long", "cannot call tools")
ENCODINGS = [None, None, None, "gzip", "br", "deflate", "zstd", "identity"]

# A failing example of a few hundred kilobytes is reported all the same (the assertion shows its start).
pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")


@pytest.fixture(scope="module")
def client(fuzz_proxy: ProxyServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=fuzz_proxy.url, headers={"x-api-key": CLIENT_KEY}, timeout=30) as http:
        yield http


def _post(client: httpx.Client, path: str, content: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
    response = client.post(path, content=content, headers={"content-type": "application/json", **(headers or {})})
    what = f"POST {path} {content[:1500]!r}"
    check_answer(response.status_code, response.headers.get("content-type", ""), response.content, what)
    return response


COMPRESSORS: dict[str, Callable[[bytes], bytes]] = {
    "gzip": gzip.compress,
    "deflate": zlib.compress,
    "br": brotli.compress,
}


@fuzz_settings()
@given(body=valid_bodies, path=st.sampled_from(PATHS), encoding=st.sampled_from([None, None, *COMPRESSORS]))
def test_odd_but_valid_bodies_are_answered_or_refused_in_anthropic_shape(
    client: httpx.Client, body: dict[str, Any], path: str, encoding: str | None
) -> None:
    content = encode(body)
    if encoding:
        content = COMPRESSORS[encoding](content)
    response = _post(client, path, content, {"content-encoding": encoding} if encoding else None)
    tried("bodies odd but valid", response.status_code)
    if response.status_code == 200 and path == "/v1/messages" and not body.get("stream"):
        check_message(orjson.loads(response.content), f"POST {path}")
    elif response.status_code != 200:
        message = orjson.loads(response.content)["error"]["message"]
        assert response.status_code == 413 or any(reason in message for reason in REFUSALS), (
            f"POST {path} {encode(body)[:1500]!r} -> {response.status_code} {message}"
        )


@fuzz_settings()
@given(body=invalid_bodies(), path=st.sampled_from(PATHS))
def test_invalid_bodies_are_refused_in_anthropic_shape(client: httpx.Client, body: Any, path: str) -> None:
    tried("bodies invalid", _post(client, path, encode(body)).status_code)


@fuzz_settings()
@given(content=raw_bodies(), path=st.sampled_from(PATHS), encoding=st.sampled_from(ENCODINGS))
def test_bodies_that_are_not_json_are_refused_in_anthropic_shape(
    client: httpx.Client, content: bytes, path: str, encoding: str | None
) -> None:
    headers = {"content-encoding": encoding} if encoding else None
    tried("bodies not JSON", _post(client, path, content, headers).status_code)


def test_metrics_stay_bounded_after_the_fuzzing(client: httpx.Client) -> None:
    """Runs after the tests above (file order): thousands of odd model names later, `/metrics` still
    answers and holds a bounded number of series (client-chosen names are folded)."""
    response = client.get("/metrics")
    assert response.status_code == 200
    series = [line for line in response.text.splitlines() if line.startswith("proxy_requests_total{")]
    assert len(series) <= 300, series[:20]
