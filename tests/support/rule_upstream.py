"""A fake upstream that rejects what the real providers reject.

One `FakeUpstream` serves every profile: a provider's base URL is `<fake>/<profile>/v1` (Azure's is
`<fake>/azure`, the deployment path added by the proxy), so the first path segment says whose rules
(`tests.support.provider_rules.RULES`) apply. A request that breaks one is answered with that
provider's own error (status and body shape) and its violations are kept in `violations`; any other
gets a short answer, streamed when the request asked for a stream.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import orjson

from tests.support.fake_upstream import FakeUpstream, Recorded, Reply, completion, sse
from tests.support.provider_rules import RULES, Rules, Sent


@dataclass(frozen=True)
class Violation:
    profile: str
    body: Any
    problems: tuple[str, ...]


def sent(recorded: Recorded) -> Sent:
    body = recorded.json if recorded.body else {}
    headers = {name.lower(): value for name, value in recorded.headers.items()}
    return Sent(recorded.path, dict(parse_qsl(recorded.query)), headers, body if isinstance(body, dict) else {})


def _stream_answer() -> list[bytes | float]:
    def chunk(delta: dict[str, Any], finish: str | None = None, usage: Any = None) -> dict[str, Any]:
        choices = [{"index": 0, "delta": delta, "finish_reason": finish}]
        return {"id": "chatcmpl-rules", "object": "chat.completion.chunk", "choices": choices, "usage": usage}

    usage = {"prompt_tokens": 11, "completion_tokens": 2, "total_tokens": 13}
    return sse(
        chunk({"role": "assistant", "content": "ok"}), chunk({}, "stop"), chunk({}, usage=usage) | {"choices": []}
    )


class RuleEnforcingUpstream:
    """Answers as the provider named by the path would, refusing requests that break its rules."""

    def __init__(self, fake: FakeUpstream) -> None:
        self.fake = fake
        self.violations: list[Violation] = []
        fake.script = self.answer

    def base_url(self, profile: str) -> str:
        root = f"http://127.0.0.1:{self.fake.port}/{profile}"
        return root if RULES[profile].config.get("api_version") else f"{root}/v1"

    def rules_for(self, path: str) -> Rules | None:
        return RULES.get(path.strip("/").split("/", 1)[0])

    def answer(self, recorded: Recorded) -> Reply:
        rules = self.rules_for(recorded.path)
        if rules is None:
            return Reply(status=404, json={"error": {"message": f"no provider at {recorded.path}"}})
        request = sent(recorded)
        problems = rules.violations(request)
        if problems:
            self.violations.append(Violation(rules.profile, request.body, tuple(problems)))
            status, body = rules.error("; ".join(problems))
            return Reply(status=status, body=orjson.dumps(body), headers={"Content-Type": "application/json"})
        if request.body.get("stream"):
            return Reply(stream=_stream_answer())
        return Reply(json=completion("ok"))
