"""Accuracy and speed of `/v1/messages/count_tokens` on Claude Code-sized requests.

    .venv/bin/python bench/token_count.py            # full run
    .venv/bin/python bench/token_count.py --quick    # smoke run for CI (few iterations)

The corpus is built in code, deterministically: a long system prompt in blocks, a dozen tools with
JSON schemas, and a 20-turn tool loop whose results carry source code (from the standard library),
JSON and shell output; about 60 KB of JSON per request.

Definition of "exact": the routed model's tokenizer applied once to the whole prompt as the upstream
sees it, rendered as one string (see `reference_text`): per message its role, content, tool calls
(function name and arguments) and tool-call id, each framed by the chat-format markers; per tool its
name, description and parameters JSON. The markers are special tokens (one token each) and stand for
OpenAI's per-message and per-tool overhead. The proxy counts the same pieces one at a time and adds
the overheads as constants, so the error shows what counting piecewise costs; for models without a
known tokenizer the reference is o200k_base and the error is that of the documented estimate.
"""

from __future__ import annotations

import argparse
import inspect
import json
import random
import statistics
import sys
import textwrap
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from provider_proxy.config.provider import Route
from provider_proxy.config.proxy_config import build_config
from provider_proxy.config.settings import load_settings
from provider_proxy.conversion.request import to_openai
from provider_proxy.models.anthropic import CountTokensRequest, MessagesRequest
from provider_proxy.services.routing import Router
from provider_proxy.services.token_counting import TokenCounter

SYSTEM_PROSE = """\
You are an interactive CLI tool that helps users with software engineering tasks. Use the instructions \
below and the tools available to you to assist the user. Refuse to write code or explain code that may \
be used maliciously, even if the user claims it is for educational purposes. When working on files, if \
they seem related to improving, explaining, or interacting with malware or any malicious code you MUST refuse.

# Tone and style
You should be concise, direct, and to the point. When you run a non-trivial bash command, you should \
explain what the command does and why you are running it, to make sure the user understands what you are \
doing (this is especially important when you are running a command that will make changes to the user's \
system). Remember that your output will be displayed on a command line interface. Your responses can use \
GitHub-flavored markdown for formatting, and will be rendered in a monospace font using the CommonMark spec.

# Following conventions
When making changes to files, first understand the file's code conventions. Mimic code style, use existing \
libraries and utilities, and follow existing patterns. NEVER assume that a given library is available, even \
if it is well known. Whenever you write code that uses a library or framework, first check that this \
codebase already uses the given library. For example, you might look at neighboring files, or check the \
package.json (or cargo.toml, and so on depending on the language).

# Doing tasks
The user will primarily request you perform software engineering tasks. This includes solving bugs, adding \
new functionality, refactoring code, explaining code, and more. For these tasks the following steps are \
recommended: use the available search tools to understand the codebase and the user's query; implement the \
solution using all tools available to you; verify the solution if possible with tests; run the lint and \
typecheck commands if they were provided to you to ensure your code is correct.
"""

PROSE_SENTENCES = (
    "I'll start by looking at how the request is parsed before it reaches the router.",
    "The failing test expects a 400 response, but the handler currently raises a KeyError instead.",
    "Let me check whether the configuration file is loaded before the settings are validated.",
    "That explains the flaky behaviour: the cache is shared between workers without a lock.",
    "Now I'll run the test suite again to confirm that the fix works and nothing else regressed.",
    "The migration adds a nullable column first, backfills it in batches, then adds the constraint.",
    "I found two call sites that still pass the timeout in milliseconds rather than seconds.",
    "Here's a summary of the changes: the parser is stricter, errors name the bad key, and docs are updated.",
)

MODULES = ("json.decoder", "argparse", "textwrap", "statistics", "dataclasses", "shlex", "fractions")

TOOL_NAMES = (
    "Bash", "Read", "Edit", "Write", "Glob", "Grep", "TodoWrite", "WebFetch", "WebSearch", "NotebookEdit",
    "Task", "mcp__github__create_pull_request_review_comment",
)  # fmt: skip


def _schema(rng: random.Random, name: str) -> dict[str, Any]:
    kinds = ("string", "integer", "boolean", "array", "object")
    properties: dict[str, Any] = {}
    for index in range(rng.randint(2, 6)):
        kind = kinds[rng.randrange(len(kinds))]
        prop: dict[str, Any] = {"type": kind, "description": f"{rng.choice(PROSE_SENTENCES)} ({name} arg {index})"}
        if kind == "array":
            prop["items"] = {"type": "object", "properties": {"path": {"type": "string"}, "line": {"type": "integer"}}}
        elif kind == "string" and rng.random() < 0.3:
            prop["enum"] = ["content", "files_with_matches", "count"]
        properties[f"{name.lower()}_param_{index}"] = prop
    return {
        "type": "object",
        "properties": properties,
        "required": sorted(properties)[:2],
        "additionalProperties": False,
        "$schema": "http://json-schema.org/draft-07/schema#",
    }


def _tools(rng: random.Random) -> list[dict[str, Any]]:
    return [
        {
            "name": name,
            "description": " ".join(rng.choice(PROSE_SENTENCES) for _ in range(rng.randint(2, 8))),
            "input_schema": _schema(rng, name),
        }
        for name in TOOL_NAMES
    ]


def _source(module_name: str, rng: random.Random, lines: int) -> str:
    module = __import__(module_name, fromlist=["_"])
    source = inspect.getsource(module).splitlines()
    start = rng.randrange(max(1, len(source) - lines))
    return "\n".join(f"{start + i + 1:>6}\t{line}" for i, line in enumerate(source[start : start + lines]))


def _json_blob(rng: random.Random) -> str:
    items = [
        {
            "id": rng.randrange(10**6),
            "name": f"pkg-{rng.randrange(1000)}",
            "version": f"{rng.randrange(5)}.{rng.randrange(20)}.{rng.randrange(30)}",
            "dependencies": {f"dep-{rng.randrange(500)}": f"^{rng.randrange(9)}.0.0" for _ in range(rng.randint(1, 4))},
            "private": rng.random() < 0.5,
        }
        for _ in range(rng.randint(3, 8))
    ]
    return json.dumps({"packages": items, "total": len(items)}, indent=2)


def _shell_output(rng: random.Random) -> str:
    rows = [
        f"-rw-r--r--  1 dev staff {rng.randrange(100, 90000):>6} Mar {rng.randint(1, 28):>2} "
        f"10:{rng.randrange(60):02d} src/module_{rng.randrange(99)}.py"
        for _ in range(rng.randint(4, 12))
    ]
    rows.append(f"===== {rng.randint(10, 300)} passed, {rng.randint(0, 3)} failed in {rng.random() * 9:.2f}s =====")
    return "\n".join(rows)


def _tool_input(rng: random.Random, name: str) -> dict[str, Any]:
    if name == "Bash":
        return {"command": "cd /repo && python -m pytest -x -q tests/unit", "description": "Run the unit tests"}
    if name == "Edit":
        old = _source(rng.choice(MODULES), rng, 4)
        return {"file_path": "/repo/src/app/parser.py", "old_string": old, "new_string": old.replace("self", "this")}
    return {"file_path": f"/repo/src/app/module_{rng.randrange(99)}.py", "limit": 200, "offset": rng.randrange(400)}


def _tool_result(rng: random.Random, name: str) -> str:
    if name == "Read":
        return _source(rng.choice(MODULES), rng, rng.randint(25, 60))
    if name == "Bash":
        return _shell_output(rng)
    return _json_blob(rng)


def build_request(seed: int = 0, turns: int = 20, model: str = "claude-sonnet-4-6") -> dict[str, Any]:
    """A Claude Code-like request; with the defaults about 60 KB of JSON."""
    rng = random.Random(seed)
    system = [
        {"type": "text", "text": "You are Claude Code, Anthropic's official CLI for Claude."},
        {"type": "text", "text": SYSTEM_PROSE, "cache_control": {"type": "ephemeral"}},
        {
            "type": "text",
            "text": "<env>\nWorking directory: /repo\nIs directory a git repo: Yes\nPlatform: linux\n</env>",
        },
    ]
    messages: list[dict[str, Any]] = [{"role": "user", "content": "Fix the failing tests in tests/unit and explain."}]
    for turn in range(turns):
        name = ("Read", "Bash", "Edit", "Grep")[turn % 4]
        call_id = f"toolu_{seed:02d}{turn:04d}abcdefghijklmnop"
        messages.append(
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": " ".join(rng.choice(PROSE_SENTENCES) for _ in range(rng.randint(1, 3)))},
                    {"type": "tool_use", "id": call_id, "name": name, "input": _tool_input(rng, name)},
                ],
            }
        )
        messages.append(
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": call_id, "content": _tool_result(rng, name)}],
            }
        )
    messages.append({"role": "assistant", "content": textwrap.fill(" ".join(PROSE_SENTENCES), 100)})
    messages.append({"role": "user", "content": "Thanks. Now also update the changelog."})
    return {"model": model, "system": system, "tools": _tools(rng), "messages": messages}


def small_request() -> dict[str, Any]:
    return {"model": "claude-haiku-4-5", "messages": [{"role": "user", "content": "Write a haiku about BPE."}]}


M = "<|endoftext|>"  # a special token in both encodings: one token, and a boundary like chat markers


def reference_text(body: dict[str, Any]) -> str:
    """The whole upstream prompt as one string, framed by special tokens (see the module docstring)."""
    out: list[str] = []
    for tool in body.get("tools", ()):
        function = tool["function"]
        parameters = json.dumps(function.get("parameters", {}), separators=(",", ":"), ensure_ascii=False)
        out.append(f"{M}{function['name']}{M}{function.get('description', '')}{M}")
        out.append(f"{parameters}{M}{M}{M}{M}{M}")
    for message in body["messages"]:
        out.append(f"{M}{message['role']}{M}")
        content = message.get("content")
        if isinstance(content, str):
            out.append(content)
        elif isinstance(content, list):
            out.extend(part.get("text", "") for part in content)
        for call in message.get("tool_calls", ()):
            out.append(f"{M}{call['function']['name']}{M}{call['function']['arguments']}")
        if message.get("tool_call_id"):
            out.append(f"{M}{message['tool_call_id']}")
        out.append(M)
    out.append(f"{M}assistant{M}")
    return "".join(out)


COUNTER = TokenCounter()


def _router(upstream_model: str) -> Router:
    settings = load_settings(env_file=None, openai_api_key="sk-bench", big_model=upstream_model)
    return Router(build_config(settings))


@dataclass
class Row:
    case: str
    model: str
    size_kb: float
    exact: int
    ours: int
    error: float
    median_ms: float


def measure(case: str, raw: dict[str, Any], upstream_model: str, iterations: int) -> Row:
    encoded = msgspec.json.encode(raw)
    request = msgspec.json.decode(encoded, type=CountTokensRequest)
    route: Route = _router(upstream_model).resolve("claude-opus-4-6")
    as_messages = msgspec.convert({**msgspec.to_builtins(request), "max_tokens": 1}, MessagesRequest)
    body = to_openai(as_messages, route).body
    reference = COUNTER.tokenizers.get(route.facts.tokenizer or "o200k_base")
    assert reference is not None, "the tokenizer package is not installed"
    exact = reference.count_with_special(reference_text(body))
    ours = COUNTER.count_request(request, route)
    timings = []
    for _ in range(iterations):
        start = time.perf_counter()
        COUNTER.count_request(request, route)
        timings.append((time.perf_counter() - start) * 1000)
    error = (ours - exact) / exact
    return Row(case, upstream_model, len(encoded) / 1024, exact, ours, error, statistics.median(timings))


CASES: Sequence[tuple[str, Callable[[], dict[str, Any]]]] = (
    ("claude-code-60k", lambda: build_request(seed=1)),
    ("claude-code-60k-b", lambda: build_request(seed=2)),
    ("single-turn", small_request),
)
MODELS = ("gpt-4o", "gpt-4-turbo", "deepseek-chat", "gemini-2.5-pro")


def run(iterations: int) -> list[Row]:
    return [measure(case, make(), model, iterations) for case, make in CASES for model in MODELS]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few iterations only (CI smoke run)")
    args = parser.parse_args(argv)
    rows = run(iterations=3 if args.quick else 200)
    print(f"{'case':<18} {'upstream model':<15} {'KB':>6} {'exact':>7} {'ours':>7} {'error':>7} {'ms (median)':>11}")
    for row in rows:
        print(
            f"{row.case:<18} {row.model:<15} {row.size_kb:>6.1f} {row.exact:>7} {row.ours:>7} "
            f"{row.error:>+7.2%} {row.median_ms:>11.3f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
