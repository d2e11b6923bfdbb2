from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from provider_proxy.config.settings import Settings, load_settings
from tests.support import hermetic
from tests.support.fake_upstream import FakeUpstream
from tests.support.proxy_server import ProxyServer
from tests.support.scripted_server import clear_proxy_environment
from tests.support.sdk import close_all

UPSTREAM_KEY = "sk-upstream-secret-0123456789abcdef"


@pytest.fixture(scope="session", autouse=True)
def developer_store_untouched(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """For the whole session (session fixtures and the subprocesses they start included), HOME and
    the data directories point at a temporary directory; the session fails if the developer's own
    usage store changed while it ran."""
    watched, started = hermetic.developer_stores(os.environ), time.time()
    before = hermetic.snapshot(watched)
    home = tmp_path_factory.mktemp("session-home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HOME", str(home))
        patch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
        patch.setenv("DATA_DIR", str(home / "data"))
        yield
    written = hermetic.changes(before, hermetic.snapshot(watched))
    if written:
        records = "; ".join(hermetic.written_since(db, started) for db in watched if db.exists())
        pytest.fail(
            f"the developer's usage store changed during the tests ({', '.join(written)}); records since the "
            f"session began: {records}. A test proxy without its own DATA_DIR, or a proxy you ran meanwhile?",
            pytrace=False,
        )


@pytest.fixture(autouse=True)
def isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No test sees the developer's keys, models or config: settings come only from the test. The
    default data directory lies under the test's own HOME. Whatever the test adds to the environment
    (the CLI loads `.env` files into it) is gone afterwards."""
    saved = dict(os.environ)
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    # The upstream client reads these (trust_env): a developer's corporate proxy must not carry the tests.
    clear_proxy_environment(monkeypatch)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    yield
    os.environ.clear()
    os.environ.update(saved)


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
