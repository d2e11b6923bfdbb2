"""Every Claude Code-shaped request, through every provider profile, to a fake that enforces the
provider's published rules (tests/support/provider_rules.py), over real HTTP, streamed and not.

A translation that breaks a rule of some provider fails here with the rule and where it is written,
before a user meets the provider's 400.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.fake_upstream import FakeUpstream
from tests.support.provider_rules import RULES
from tests.support.proxy_server import ProxyServer
from tests.support.request_corpus import corpus
from tests.support.rule_upstream import RuleEnforcingUpstream

CORPUS = corpus()


@pytest.fixture
def enforcing(upstream: FakeUpstream) -> RuleEnforcingUpstream:
    return RuleEnforcingUpstream(upstream)


def proxy_for(
    profile: str,
    enforcing: RuleEnforcingUpstream,
    start_proxy: Callable[..., ProxyServer],
    tmp_path: Path,
    flags: str = "",
) -> ProxyServer:
    lines = [f"[providers.{profile}]", f'base_url = "{enforcing.base_url(profile)}"', f'kind = "{profile}"']
    lines.append('api_key = "sk-rules-0123456789"')
    lines += [f'{key} = "{value}"' for key, value in RULES[profile].config.items()]
    if flags:
        lines += [f"[providers.{profile}.profile]", flags]
    toml = tmp_path / "proxy.toml"
    toml.write_text("\n".join(lines) + "\n")
    return start_proxy(config_file=toml)


def failures(proxy: ProxyServer, profile: str) -> Iterator[str]:
    """One line per corpus request the proxy did not answer with 200, for each model the rules
    name, streamed and not."""
    with httpx.Client(base_url=proxy.url, timeout=20) as client:
        for model in RULES[profile].models:
            for name, body in CORPUS:
                for stream in (False, True):
                    request: dict[str, Any] = {**body, "model": f"{profile}/{model}", "stream": stream}
                    answer = client.post("/v1/messages", json=request)
                    if answer.status_code != 200 or (stream and "event: error" in answer.text):
                        yield f"{model}: {name} (stream={stream}): {answer.status_code} {answer.text[:400]}"


@pytest.mark.parametrize("profile", sorted(RULES))
def test_every_corpus_request_keeps_the_providers_rules(
    profile: str, enforcing: RuleEnforcingUpstream, start_proxy: Callable[..., ProxyServer], tmp_path: Path
) -> None:
    proxy = proxy_for(profile, enforcing, start_proxy, tmp_path)
    failed = list(failures(proxy, profile))
    broken = [f"  {problem}" for violation in enforcing.violations for problem in violation.problems]
    assert not failed, f"{len(failed)} request(s) failed at {profile}:\n" + "\n".join(failed + broken)
    assert enforcing.fake.requests, "no request reached the fake upstream"


HOOK = [
    {"role": "user", "content": "Hi"},
    {"role": "assistant", "content": "Hello"},
    {"role": "system", "content": "Hook output"},
    {"role": "user", "content": "Go on"},
]
# A profile flag overridden against the provider's rules, a request that then breaks one, and what
# the client must read in the error: each provider's own error shape, as an Anthropic error.
REFUSED = [
    ("mistral", "stream_usage = true", {"stream": True}, "stream_options: not a request field"),
    ("gemini", "max_stop_sequences = 6", {"stop_sequences": list("abcdef")}, "6 sequences, at most 5"),
    ("vllm", "mid_system_as_user = false", {"messages": HOOK}, "a system message after the first message"),
    ("lmstudio", "mid_system_as_user = false", {"messages": HOOK}, "a system message after the first message"),
]


@pytest.mark.parametrize(("profile", "flags", "fields", "expected"), REFUSED, ids=[r[0] for r in REFUSED])
def test_a_broken_rule_reaches_the_client_as_an_anthropic_error_with_the_providers_words(
    profile: str,
    flags: str,
    fields: dict[str, Any],
    expected: str,
    enforcing: RuleEnforcingUpstream,
    start_proxy: Callable[..., ProxyServer],
    tmp_path: Path,
) -> None:
    proxy = proxy_for(profile, enforcing, start_proxy, tmp_path, flags)
    request = {"model": f"{profile}/{RULES[profile].model}", "max_tokens": 100, "messages": HOOK[:1], **fields}
    answer = httpx.post(f"{proxy.url}/v1/messages", json=request, timeout=20)
    assert answer.status_code == 400, answer.text
    error = answer.json()
    assert error["type"] == "error" and error["error"]["type"] == "invalid_request_error"
    assert expected in error["error"]["message"]
    assert len(enforcing.violations) == 1
