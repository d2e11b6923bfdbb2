"""The fuzzing's proxy (over real HTTP, in front of a fake upstream that always answers well), how
many examples each test tries (FUZZ_EXAMPLES), and the count of cases tried, printed at the end of
the run."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from provider_proxy.config.settings import load_settings
from tests.fuzz.answers import valid_answers
from tests.fuzz.budget import ANSWERED, BODY_LIMIT, CLIENT_KEY, EXAMPLES, TRIED
from tests.support.fake_upstream import FakeUpstream
from tests.support.proxy_server import ProxyServer


@pytest.fixture(scope="module")
def fuzz_upstream() -> Iterator[FakeUpstream]:
    fake = FakeUpstream()
    fake.script = valid_answers()
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def fuzz_proxy(fuzz_upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProxyServer]:
    settings = load_settings(
        env_file=None,
        openai_api_key="sk-fuzz-upstream",
        openai_base_url=fuzz_upstream.url,
        big_model="big-model",
        small_model="small-model",
        max_retries=0,
        request_timeout=20.0,
        max_request_bytes=BODY_LIMIT,
        proxy_api_key=CLIENT_KEY,
        data_dir=tmp_path_factory.mktemp("fuzz-data"),
        config_file=None,
    )
    server = ProxyServer(settings).start()
    yield server
    server.stop()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not TRIED:
        return
    write = terminalreporter.write_line
    terminalreporter.section("fuzzing")
    for kind, count in sorted(TRIED.items()):
        write(f"{count:7d}  {kind}")
    statuses = ", ".join(f"{status}: {count}" for status, count in sorted(ANSWERED.items()))
    write(f"{sum(TRIED.values()):7d}  cases tried in all (FUZZ_EXAMPLES={EXAMPLES} per test); answered {statuses}")
