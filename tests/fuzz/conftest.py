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


# One provider of each kind the translation treats differently, all answered by the fake upstream;
# routes, scenarios and a small window so routing, fitting and every provider's quirks are fuzzed too.
KINDS = ["openai", "azure", "openrouter", "deepseek", "gemini", "groq", "mistral", "xai", "together", "ollama"]


def fuzz_config(upstream_url: str) -> str:
    providers = "".join(
        f'[providers.{kind}]\nbase_url = "{upstream_url}"\nkind = "{kind}"\napi_key = "sk-fuzz-{kind}"\n'
        + ('api_version = "2024-10-21"\n' if kind == "azure" else "")
        for kind in KINDS
    )
    return (
        providers
        + """
[[routes]]
match = "claude-*haiku*"
provider = "ollama"
model = "qwen3-coder:30b"
fallbacks = ["gemini/gemini-2.5-flash"]

[[routes]]
match = "tiny*"
provider = "groq"
model = "tiny-window"

[models."tiny-window"]
context_window = 3000
max_output_tokens = 1000

[scenarios]
web_search = "openrouter/perplexity/sonar"
image = "mistral/pixtral-large-latest"
think = "deepseek/deepseek-reasoner"
long_context = { target = "gemini/gemini-2.5-pro", threshold = 20000 }
subagent = "xai/grok-code-fast-1"
background = "together/Qwen/Qwen3-Coder-480B-A35B-Instruct-FP8"
"""
    )


@pytest.fixture(scope="module")
def fuzz_proxy(fuzz_upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProxyServer]:
    directory = tmp_path_factory.mktemp("fuzz")
    config = directory / "config.toml"
    config.write_text(fuzz_config(fuzz_upstream.url))
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
        data_dir=directory / "data",
        config_file=config,
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
