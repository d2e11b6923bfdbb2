from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from provider_proxy.config.settings import Settings, load_settings
from tests.support.fake_upstream import FakeUpstream
from tests.support.proxy_server import ProxyServer
from tests.support.sdk import close_all

UPSTREAM_KEY = "sk-upstream-secret-0123456789abcdef"


@pytest.fixture(autouse=True)
def isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test sees the developer's keys, models or config: settings come only from the test."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    # The upstream client reads these (trust_env): a developer's corporate proxy must not carry the tests.
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


@pytest.fixture(autouse=True)
def close_sdk_clients() -> Iterator[None]:
    yield
    close_all()


@pytest.fixture
def upstream() -> Iterator[FakeUpstream]:
    fake = FakeUpstream().start()
    yield fake
    fake.stop()


@pytest.fixture
def make_settings(upstream: FakeUpstream) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "openai_api_key": UPSTREAM_KEY,
            "openai_base_url": upstream.url,
            "big_model": "big-model",
            "small_model": "small-model",
            "max_retries": 0,
            "request_timeout": 5.0,
            "connect_timeout": 2.0,
        }
        values.update(overrides)
        return load_settings(env_file=None, **values)

    return make


@pytest.fixture
def start_proxy(make_settings: Callable[..., Settings]) -> Iterator[Callable[..., ProxyServer]]:
    servers: list[ProxyServer] = []

    def start(**overrides: Any) -> ProxyServer:
        server = ProxyServer(make_settings(**overrides)).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def proxy(start_proxy: Callable[..., ProxyServer]) -> ProxyServer:
    return start_proxy()
