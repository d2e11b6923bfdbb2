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
    profile: str, enforcing: RuleEnforcingUpstream, start_proxy: Callable[..., ProxyServer], tmp_path: Path
) -> ProxyServer:
    lines = [f"[providers.{profile}]", f'base_url = "{enforcing.base_url(profile)}"', f'kind = "{profile}"']
    lines.append('api_key = "sk-rules-0123456789"')
    lines += [f'{key} = "{value}"' for key, value in RULES[profile].config.items()]
    toml = tmp_path / "proxy.toml"
    toml.write_text("\n".join(lines) + "\n")
    return start_proxy(config_file=toml)


def failures(proxy: ProxyServer, profile: str) -> Iterator[str]:
    """One line per corpus request the proxy did not answer with 200, streamed and not."""
    model = f"{profile}/{RULES[profile].model}"
    with httpx.Client(base_url=proxy.url, timeout=20) as client:
        for name, body in CORPUS:
            for stream in (False, True):
                request: dict[str, Any] = {**body, "model": model, "stream": stream}
                answer = client.post("/v1/messages", json=request)
                if answer.status_code != 200 or (stream and "event: error" in answer.text):
                    yield f"{name} (stream={stream}): {answer.status_code} {answer.text[:400]}"


@pytest.mark.parametrize("profile", sorted(RULES))
def test_every_corpus_request_keeps_the_providers_rules(
    profile: str, enforcing: RuleEnforcingUpstream, start_proxy: Callable[..., ProxyServer], tmp_path: Path
) -> None:
    proxy = proxy_for(profile, enforcing, start_proxy, tmp_path)
    failed = list(failures(proxy, profile))
    broken = [f"  {problem}" for violation in enforcing.violations for problem in violation.problems]
    assert not failed, f"{len(failed)} request(s) failed at {profile}:\n" + "\n".join(failed + broken)
    assert enforcing.fake.requests, "no request reached the fake upstream"
