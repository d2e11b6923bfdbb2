"""The rest of the HTTP surface, with Hypothesis-made values over real HTTP: every method on every
path (the described ones, the dashboard's, and others), and the query parameters the proxy parses
itself (the dashboard's period, the models list's paging). Never a 5xx, every error in Anthropic's
shape."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

import httpx
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from provider_proxy.api.openapi import description
from tests.fuzz.budget import CLIENT_KEY, fuzz_settings, tried
from tests.fuzz.checks import check_answer
from tests.support.proxy_server import ProxyServer

# Spans (any digits, any unit, any size), dates and times in ISO forms, and anything else.
spans = st.tuples(
    st.one_of(st.integers(0, 10**30).map(str), st.text("0123456789.\u00b2\u0663", min_size=1), st.just("9" * 400)),
    st.sampled_from(["m", "h", "d", "w", "D", "y", ""]),
).map("".join)
moments = st.one_of(spans, st.datetimes().map(lambda moment: moment.isoformat()), st.dates().map(str), st.text())
# Numbers, and digits that are not decimal (superscripts, circled) or not ASCII (Arabic-Indic).
numbers = st.one_of(
    st.integers(-5, 2000).map(str),
    st.sampled_from(["\u00b2", "\u2460", "1\u00b3", "\u0663", " 5", "+5", "05"]),
    st.text("0123456789\u00b2\u2460\u0663 +-"),
    st.text(),
)


@pytest.fixture(scope="module")
def client(fuzz_proxy: ProxyServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=fuzz_proxy.url, headers={"x-api-key": CLIENT_KEY}, timeout=30) as http:
        yield http


def _get(client: httpx.Client, path: str, params: dict[str, str]) -> None:
    response = client.get(path, params=params)
    what = f"GET {path} {params!r:.1000}"
    check_answer(response.status_code, response.headers.get("content-type", ""), response.content, what)
    tried(f"query {path}", response.status_code)


@fuzz_settings()
@given(since=st.one_of(st.none(), moments), until=st.one_of(st.none(), moments))
def test_any_dashboard_period_is_answered_or_refused_in_anthropic_shape(
    client: httpx.Client, since: str | None, until: str | None
) -> None:
    params = {name: value for name, value in (("since", since), ("until", until)) if value is not None}
    _get(client, "/dashboard/data", params)


@fuzz_settings()
@given(
    limit=st.one_of(st.none(), numbers),
    after=st.one_of(st.none(), st.text(), st.just("claude-opus-5-5")),
    before=st.one_of(st.none(), st.text(), st.just("claude-haiku-5-5")),
)
def test_any_models_page_is_answered_or_refused_in_anthropic_shape(
    client: httpx.Client, limit: str | None, after: str | None, before: str | None
) -> None:
    pairs = (("limit", limit), ("after_id", after), ("before_id", before))
    _get(client, "/v1/models", {name: value for name, value in pairs if value is not None})


METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"]
PATHS = [
    *orjson.loads(description())["paths"],
    "/v1/models/claude-opus-5-5",
    "/v1/models/",
    "/v1/messages/",
    "/dashboard",
    "/dashboard/data",
    "/metrics",
    "/v1",
    "/v1/complete",
]


@fuzz_settings()
@given(method=st.sampled_from(METHODS), path=st.one_of(st.sampled_from(PATHS), st.text().map(lambda t: "/" + quote(t))))
def test_any_method_on_any_path_is_answered_or_refused_in_anthropic_shape(
    client: httpx.Client, method: str, path: str
) -> None:
    response = client.request(method, path, content=b"{}")
    tried("methods and paths", response.status_code)
    if method == "HEAD":  # no body to look at
        assert response.status_code < 500, f"HEAD {path} -> the proxy's own {response.status_code}"
        return
    check_answer(response.status_code, response.headers.get("content-type", ""), response.content, f"{method} {path}")
