"""The request bodies the benchmark sends: a small request and a Claude Code-sized one (~55 KB).

The large one is the real Claude Code capture in tests/fixtures (long system prompt in blocks with
cache_control, a dozen tools with JSON schemas) plus 20 synthetic turns of tool_use/tool_result.
The direct-to-upstream bodies are what the proxy itself sends upstream for the same requests, so
both sides of a comparison move the same bytes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CAPTURE = ROOT / "tests" / "fixtures" / "claude_code" / "main_first_request.json"
MODEL = "claude-sonnet-4-5-20250929"
UPSTREAM_MODEL = "bench-model"


@dataclass(frozen=True, slots=True)
class Bodies:
    anthropic: bytes  # what a client sends the proxy
    openai: bytes  # what the proxy sends upstream for it


def small(stream: bool = False) -> dict[str, Any]:
    request: dict[str, Any] = {
        "model": MODEL,
        "max_tokens": 256,
        "messages": [{"role": "user", "content": "Say hello in one short sentence."}],
    }
    if stream:
        request["stream"] = True
    return request


def _turns(count: int) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    for i in range(count // 2):
        call_id = f"toolu_bench_{i:04d}"
        messages.append(
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": f"Let me look at file number {i} to see how it is used."},
                    {
                        "type": "tool_use",
                        "id": call_id,
                        "name": "Read",
                        "input": {"file_path": f"/work/project/src/module_{i}.py", "limit": 40},
                    },
                ],
            }
        )
        listing = "\n".join(f"{n:>4}\tdef function_{i}_{n}(value):  return value * {n}" for n in range(1, 4))
        messages.append(
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call_id, "content": listing}]}
        )
    return messages


def claude_code(stream: bool = False) -> dict[str, Any]:
    request: dict[str, Any] = json.loads(CAPTURE.read_text())
    first = [m for m in request["messages"] if m["role"] == "user"][:1]
    rest = [m for m in request["messages"] if m not in first]
    request["messages"] = first + _turns(20) + rest
    if request["messages"][-1]["role"] != "user":
        request["messages"].append({"role": "user", "content": "Go on."})
    request["model"] = MODEL
    request["max_tokens"] = 32000
    request["stream"] = stream
    return request


def openai_equivalent(request: dict[str, Any]) -> bytes:
    """The upstream body our proxy builds for `request` (so direct and proxied runs move the same bytes)."""
    import orjson

    from provider_proxy.api.body import decode_request
    from provider_proxy.config.proxy_config import build_config
    from provider_proxy.config.settings import Settings
    from provider_proxy.conversion.request import to_openai
    from provider_proxy.models.anthropic import MessagesRequest
    from provider_proxy.services.routing import Router

    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        openai_base_url="http://127.0.0.1:9/v1",
        openai_api_key="bench",
        big_model=UPSTREAM_MODEL,
        small_model=UPSTREAM_MODEL,
    )
    config = build_config(settings)
    decoded, _ = decode_request(orjson.dumps(request), MessagesRequest)
    route = Router(config).resolve(decoded.model)
    return orjson.dumps(to_openai(decoded, route).body)


def build(kind: str, stream: bool = False) -> Bodies:
    request = small(stream) if kind == "small" else claude_code(stream)
    return Bodies(json.dumps(request).encode(), openai_equivalent(request))


if __name__ == "__main__":
    for name in ("small", "claude_code"):
        bodies = build(name)
        print(f"{name}: anthropic {len(bodies.anthropic)} B, openai {len(bodies.openai)} B")
