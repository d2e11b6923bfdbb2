"""`GET /openapi.json`: the description of the API the proxy serves, open without the client key, the
same bytes the package ships, and true to the endpoints the app actually answers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import orjson
import schemathesis

from provider_proxy import __version__, app
from provider_proxy.api.openapi import description
from tests.support.proxy_server import ProxyServer


def _served(start_proxy: Callable[..., ProxyServer]) -> httpx.Response:
    proxy = start_proxy(proxy_api_key="client-key")
    return httpx.get(f"{proxy.url}/openapi.json", timeout=20)


def test_the_description_is_served_without_the_client_key(start_proxy: Callable[..., ProxyServer]) -> None:
    response = _served(start_proxy)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.content == description()
    document: dict[str, Any] = response.json()
    assert document["openapi"] == "3.1.0"
    assert document["info"]["version"] == __version__


def test_the_description_names_every_endpoint_the_app_serves() -> None:
    document = orjson.loads(description())
    described = {(method.upper(), path) for path, item in document["paths"].items() for method in item}
    served = {(method, path) for method, path in app._ENDPOINTS if method != "HEAD"}
    assert described - {("GET", "/v1/models/{model_id}")} == served


def test_the_description_loads_in_schemathesis_with_every_operation() -> None:
    schema = schemathesis.openapi.from_dict(orjson.loads(description()))
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.label for op in operations} >= {"POST /v1/messages", "GET /v1/models/{model_id}"}
