"""Too long for the window: the provider's wording becomes Anthropic's, and a request that cannot fit
is answered before the provider is called, or sent with the output it leaves room for."""

from __future__ import annotations

import re
from dataclasses import replace

import orjson
import pytest

from provider_proxy.config.provider import Provider, Route
from provider_proxy.conversion.request import Translation, to_openai
from provider_proxy.errors import ProxyError, context_length_error
from provider_proxy.models.anthropic import Message, MessagesRequest
from provider_proxy.providers.model_facts import ModelFacts
from provider_proxy.providers.profiles import PROFILES
from provider_proxy.services.context_window import fit_window
from provider_proxy.services.token_counting import TokenCounter

# Claude Code 2.1.332 recognises Anthropic's answer by this pattern (taken from the CLI) and reads
# N and M from it; Anthropic's API answers e.g. "prompt is too long: 208656 tokens > 200000 maximum".
CLAUDE_CODE_PATTERN = re.compile(r"^prompt is too long: \d+ tokens > \d+ maximum$")


@pytest.mark.parametrize(
    ("provider", "raw", "tokens", "maximum"),
    [
        (
            "openai",
            '{"error": {"message": "This model\'s maximum context length is 128000 tokens. However, your messages '
            'resulted in 130512 tokens. Please reduce the length of the messages.", '
            '"code": "context_length_exceeded"}}',
            130512,
            128000,
        ),
        (
            "deepseek / vllm (old)",
            "This model's maximum context length is 32768 tokens. However, you requested 33000 tokens (25000 in the "
            "messages, 8000 in the completion). Please reduce the length of the messages or completion.",
            25000,
            24768,
        ),
        (
            "vllm",
            "'max_tokens' or 'max_completion_tokens' is too large: 8000. This model's maximum context length is "
            "32768 tokens and your request has 25000 input tokens (8000 > 32768 - 25000).",
            25000,
            24768,
        ),
        (
            "vllm prompt",
            "The decoder prompt (length 40000) is longer than the maximum model length of 32768.",
            40000,
            32768,
        ),
        (
            "gemini",
            '[{"error": {"code": 400, "message": "The input token count (1200293) exceeds the maximum number of '
            'tokens allowed (1048576).", "status": "INVALID_ARGUMENT"}}]',
            1200293,
            1048576,
        ),
        (
            "mistral",
            '{"object": "error", "message": "Prompt contains 140000 tokens and 0 draft tokens, too large for model '
            'with 131072 maximum context length", "type": "invalid_request_message_error"}',
            140000,
            131072,
        ),
        (
            "openrouter",
            '{"error": {"message": "This endpoint\'s maximum context length is 163840 tokens. However, you requested '
            'about 170000 tokens (160000 of text input, 10000 in the output). Please reduce the length.", '
            '"code": 400}}',
            170000,
            163840,
        ),
        (
            "groq",
            '{"error": {"message": "Please reduce the length of the messages or completion.", "type": '
            '"invalid_request_error", "param": "messages", "code": "context_length_exceeded"}}',
            1000,
            900,
        ),
        (
            "xai",
            "This model's maximum prompt length is 131072 but the request contains 140000 tokens.",
            140000,
            131072,
        ),
        (
            "llama.cpp",
            '{"error": {"code": 400, "message": "the request exceeds the available context size, try increasing it", '
            '"type": "exceed_context_size_error", "n_prompt_tokens": 40000, "n_ctx": 32768}}',
            40000,
            32768,
        ),
        (
            "llama.cpp (older)",
            "request (40000 tokens) exceeds the available context size (32768 tokens), try increasing it",
            40000,
            32768,
        ),
        (
            "together",
            "Input validation error: `inputs` tokens + `max_new_tokens` must be <= 32769. Given: 30000 `inputs` "
            "tokens and 4000 `max_new_tokens`",
            30000,
            28769,
        ),
        ("ollama", '{"error": "input length exceeds context length"}', 1000, 900),
    ],
)
def test_provider_context_errors_become_anthropics_wording(provider: str, raw: str, tokens: int, maximum: int) -> None:
    error = context_length_error(raw, estimate=1000)
    assert error is not None, provider
    assert (error.status, error.error_type, error.retryable) == (400, "invalid_request_error", False)
    assert error.message == f"prompt is too long: {tokens} tokens > {maximum} maximum"
    assert CLAUDE_CODE_PATTERN.match(error.message)


@pytest.mark.parametrize(
    "raw",
    [
        '{"error": {"message": "Invalid API key", "code": "invalid_api_key"}}',
        '{"error": {"message": "max_tokens is too large: 100000. This model supports at most 16384 '
        'completion tokens"}}',
        "rate limited",
    ],
)
def test_other_errors_are_left_alone(raw: str) -> None:
    assert context_length_error(raw, estimate=1000) is None


def route(window: int | None, max_input: int | None = None, output: int = 8192) -> Route:
    provider = Provider("p", "http://upstream.invalid/v1", None, PROFILES["generic"])
    return Route(
        "claude-sonnet-4-6", provider, "m", output, ModelFacts(context_window=window, max_input_tokens=max_input)
    )


def prepared(target: Route, text: str, max_tokens: int = 8192) -> tuple[bytes, Translation]:
    request = MessagesRequest(
        model="claude-sonnet-4-6", max_tokens=max_tokens, messages=[Message(role="user", content=text)]
    )
    translation = to_openai(request, target)
    return orjson.dumps(translation.body), translation


def test_a_body_far_below_the_window_is_not_counted() -> None:
    class NoCounting(TokenCounter):
        def count_upstream(self, *args: object) -> int:
            raise AssertionError("counted")

    target = route(32768)
    body, translation = prepared(target, "hello " * 100)
    assert fit_window(body, translation, target, NoCounting()) is body
    unknown = route(None)
    body, translation = prepared(unknown, "hello " * 100_000)
    assert fit_window(body, translation, unknown, NoCounting()) is body


def test_input_over_the_window_is_refused_in_anthropics_words() -> None:
    target = route(32768)
    body, translation = prepared(target, "lorem ipsum dolor " * 12_000)
    with pytest.raises(ProxyError) as raised:
        fit_window(body, translation, target, TokenCounter())
    error = raised.value
    assert (error.status, error.error_type) == (400, "invalid_request_error")
    assert CLAUDE_CODE_PATTERN.match(error.message) and error.message.endswith("> 32768 maximum")


def test_a_separate_input_limit_is_the_maximum() -> None:
    target = route(400_000, max_input=20_000, output=128_000)
    body, translation = prepared(target, "lorem ipsum dolor " * 12_000, max_tokens=1000)
    with pytest.raises(ProxyError, match=r"tokens > 20000 maximum$"):
        fit_window(body, translation, target, TokenCounter())


def test_the_output_is_lowered_to_the_room_the_input_leaves() -> None:
    target = route(32768)
    body, translation = prepared(target, "lorem ipsum dolor " * 5_400)
    count = TokenCounter().count_upstream(translation.body, None)
    assert count + 8192 > 32768 > count + 1024
    sent = orjson.loads(fit_window(body, translation, target, TokenCounter()))
    assert sent["max_tokens"] == 32768 - count


def test_too_little_room_for_output_is_a_prompt_too_long() -> None:
    target = replace(route(32768))
    body, translation = prepared(target, "lorem ipsum dolor " * 6_300)
    count = TokenCounter().count_upstream(translation.body, None)
    assert 32768 - 1024 < count <= 32768
    with pytest.raises(ProxyError, match=rf"^prompt is too long: {count} tokens > {32768 - 1024} maximum$"):
        fit_window(body, translation, target, TokenCounter())
