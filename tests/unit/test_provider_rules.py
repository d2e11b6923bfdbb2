"""The rule-enforcing fakes are not vacuous: each provider rule refuses a body that breaks it, and
OpenAI's published schema refuses what OpenAI refuses."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from tests.support.openai_schema import chat_request_schema
from tests.support.provider_rules import RULES, Sent

Body = dict[str, Any]


def body(model: str = "m", **fields: Any) -> Body:
    calls = [{"id": "abcDEF123", "type": "function", "function": {"name": "Read", "arguments": "{}"}}]
    return {
        "model": model,
        "max_tokens": 100,
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Read a.py"},
            {"role": "assistant", "content": None, "tool_calls": calls},
            {"role": "tool", "tool_call_id": "abcDEF123", "content": "print(1)"},
        ],
        "tools": [{"type": "function", "function": {"name": "Read", "parameters": {"type": "object"}}}],
        **fields,
    }


def sent(profile: str, value: Body, path: str = "/v1/chat/completions", **headers: str) -> Sent:
    heads = {"authorization": "Bearer k", **headers}
    query = {"api-version": "2024-10-21"} if profile == "azure" else {}
    if profile == "azure":
        path, heads = "/openai/deployments/d/chat/completions", {"api-key": "k", **headers}
    return Sent(path, query, heads, value)


def violations(profile: str, value: Body, **kwargs: Any) -> list[str]:
    return RULES[profile].violations(sent(profile, value, **kwargs))


@pytest.mark.parametrize("profile", sorted(RULES))
def test_a_plain_tool_loop_keeps_every_providers_rules(profile: str) -> None:
    value = body(RULES[profile].model)
    if profile == "deepseek":
        value["messages"][2]["reasoning_content"] = "Reading."
    if profile == "openai":  # a reasoning model: max_completion_tokens
        value["max_completion_tokens"] = value.pop("max_tokens")
    assert violations(profile, value) == []


def with_message(index: int, **fields: Any) -> Callable[[Body], None]:
    def change(value: Body) -> None:
        value["messages"][index].update(fields)

    return change


def user_after_tool(value: Body) -> None:
    value["messages"].append({"role": "user", "content": "And b.py?"})


def system_after_user(value: Body) -> None:
    value["messages"].insert(2, {"role": "system", "content": "Hook output."})


def part(kind: str) -> Callable[[Body], None]:
    parts = {
        "image_url": {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA"}},
        "file": {"type": "file", "file": {"filename": "a.pdf", "file_data": "data:application/pdf;base64,AA"}},
    }

    def change(value: Body) -> None:
        value["messages"][1]["content"] = [{"type": "text", "text": "Look"}, parts[kind]]

    return change


def schema(keyword: str, value: Any) -> Callable[[Body], None]:
    def change(body_: Body) -> None:
        body_["tools"][0]["function"]["parameters"][keyword] = value

    return change


def top(**fields: Any) -> Callable[[Body], None]:
    return lambda value: value.update(fields)


BROKEN: list[tuple[str, str, Callable[[Body], None], str]] = [
    ("openai", "o4-mini", top(top_k=5), "top_k: not a field"),
    ("openai", "o4-mini", top(temperature=0.5), "temperature: not supported"),
    ("openai", "gpt-4.1", top(stop=["a", "b", "c", "d", "e"]), "is too long"),
    ("openai", "gpt-4.1", with_message(2, thinking="y"), "'thinking' was unexpected"),
    ("openai", "gpt-4.1", top(tools=[{"type": "function", "function": {"name": "a b"}}]), "'a b' does not match"),
    ("openai", "o3", top(parallel_tool_calls=False), "parallel_tool_calls: not supported"),
    ("azure", "gpt-4.1", top(temperature=3), "greater than the maximum of 2"),
    ("gemini", "gemini-2.5-pro", top(user="u"), "user: not supported"),
    ("gemini", "gemini-2.5-pro", schema("additionalProperties", False), "'additionalProperties' is not supported"),
    ("gemini", "gemini-2.5-pro", top(stop=list("abcdef")), "6 sequences, at most 5"),
    ("groq", "llama-3.3-70b-versatile", with_message(1, name="ann"), "messages[1].name: not supported"),
    ("groq", "llama-3.3-70b-versatile", top(n=2), "n: must be 1"),
    ("groq", "llama-3.3-70b-versatile", top(logprobs=True), "logprobs: not supported"),
    ("groq", "qwen/qwen3-32b", top(reasoning_effort="medium"), "not one of ['default', 'none']"),
    ("mistral", "mistral-large-latest", top(stream_options={"include_usage": True}), "stream_options: not a request"),
    ("mistral", "mistral-large-latest", top(user="u"), "user: not a request field"),
    ("mistral", "mistral-large-latest", with_message(3, tool_call_id="call_1"), "must match [a-zA-Z0-9]{9}"),
    ("mistral", "mistral-large-latest", user_after_tool, "a user message right after a tool message"),
    ("mistral", "mistral-large-latest", with_message(2, reasoning_content="x"), "not a field of assistant messages"),
    ("deepseek", "deepseek-reasoner", top(), "without its reasoning_content"),
    ("deepseek", "deepseek-chat", part("image_url"), "'image_url' is not accepted"),
    ("deepseek", "deepseek-chat", part("file"), "'file' is not accepted"),
    ("deepseek", "deepseek-chat", top(stop=list("abcdefghijklmnopq")), "17 sequences, at most 16"),
    ("xai", "grok-4", top(stop=["END"]), "stop: not supported"),
    ("xai", "grok-4", top(reasoning_effort="high"), "reasoning_effort: not supported"),
    ("openrouter", "x/y", top(reasoning={"effort": "high", "max_tokens": 10}), "both effort and max_tokens"),
    ("ollama", "qwen3:8b", system_after_user, "a system message after the first message"),
    ("vllm", "Qwen/Qwen3-8B", system_after_user, "a system message after the first message"),
    ("llamacpp", "qwen3-8b", system_after_user, "a system message after the first message"),
    ("lmstudio", "qwen/qwen3-8b", system_after_user, "a system message after the first message"),
]


@pytest.mark.parametrize(("profile", "model", "change", "expected"), BROKEN, ids=[f"{b[0]}-{b[3]}" for b in BROKEN])
def test_each_rule_refuses_a_body_that_breaks_it(
    profile: str, model: str, change: Callable[[Body], None], expected: str
) -> None:
    value = body(model)
    change(value)
    found = violations(profile, value)
    assert any(expected in problem for problem in found), found


def test_azure_needs_the_deployment_path_the_api_version_and_the_api_key_header() -> None:
    plain = Sent("/v1/chat/completions", {}, {"authorization": "Bearer k"}, body("gpt-4.1"))
    found = RULES["azure"].violations(plain)
    assert [p.split(" [")[0] for p in found] == [
        "path '/v1/chat/completions': not /openai/deployments/{deployment}/chat/completions",
        "query: no api-version",
        "api-key header: missing",
    ]


def test_a_provider_extension_passes_only_where_the_provider_documents_it() -> None:
    call = {"extra_content": {"google": {"thought_signature": "sig"}}}
    value = body("gemini-2.5-pro")
    value["messages"][2]["tool_calls"][0].update(call)
    assert violations("gemini", value) == []
    assert any("'extra_content' was unexpected" in p for p in violations("openai", value))


def test_openai_schema_errors_name_the_field_and_the_limit() -> None:
    value = body("gpt-4.1", stop=list("abcde"), temperature=5)
    value["messages"].append({"role": "tool", "content": "orphan"})
    found = chat_request_schema().problems(copy.deepcopy(value))
    assert "stop: ['a', 'b', 'c', 'd', 'e'] is too long" in found
    assert "temperature: 5 is greater than the maximum of 2" in found
    assert "messages[4]: 'tool_call_id' is a required property" in found
