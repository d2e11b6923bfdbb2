"""OpenAI Chat Completions answers, as providers send them (the request is in `openai_request`).

Providers differ in the details, so these types accept every variant seen in the field: `content`
null or missing, reasoning under `reasoning_content` (DeepSeek, vLLM, llama.cpp) or `reasoning`
(OpenRouter, Ollama), tool-call `arguments` as a JSON string or an already-parsed object, usage with
cached tokens under `prompt_tokens_details` (OpenAI, OpenRouter, which adds `cache_write_tokens`),
DeepSeek's `prompt_cache_hit_tokens`, Moonshot's top-level `cached_tokens`, or Anthropic's names
(`cache_read_input_tokens`, `cache_creation_input_tokens`: LiteLLM and other gateways in front of Claude).
In every variant `prompt_tokens` counts the cached and the written tokens too.
"""

from __future__ import annotations

from typing import Any

import msgspec


class FunctionCall(msgspec.Struct, kw_only=True):
    name: str | None = None
    arguments: str | dict[str, Any] | list[Any] | None = None


class ToolCall(msgspec.Struct, kw_only=True):
    id: str | None = None
    type: str | None = None
    function: FunctionCall | None = None
    index: int | None = None
    extra_content: dict[str, Any] | None = None


class PromptTokensDetails(msgspec.Struct, kw_only=True):
    cached_tokens: int | None = None
    cache_write_tokens: int | None = None


class CompletionTokensDetails(msgspec.Struct, kw_only=True):
    reasoning_tokens: int | None = None


class Usage(msgspec.Struct, kw_only=True):
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None
    prompt_tokens_details: PromptTokensDetails | None = None
    completion_tokens_details: CompletionTokensDetails | None = None
    prompt_cache_hit_tokens: int | None = None
    # Moonshot's name; Anthropic's names as gateways pass them on.
    cached_tokens: int | None = None
    cache_read_input_tokens: int | None = None
    cache_creation_input_tokens: int | None = None

    @property
    def cache_read(self) -> int:
        """Prompt tokens read from the provider's cache."""
        details = self.prompt_tokens_details
        if details is not None and details.cached_tokens:
            return details.cached_tokens
        return self.prompt_cache_hit_tokens or self.cached_tokens or self.cache_read_input_tokens or 0

    @property
    def cache_write(self) -> int:
        """Prompt tokens written to the provider's cache."""
        details = self.prompt_tokens_details
        if details is not None and details.cache_write_tokens:
            return details.cache_write_tokens
        return self.cache_creation_input_tokens or 0


class AssistantMessage(msgspec.Struct, kw_only=True):
    role: str | None = None
    content: str | list[Any] | None = None
    reasoning_content: str | None = None
    reasoning: str | None = None
    reasoning_details: list[Any] | None = None
    tool_calls: list[ToolCall] | None = None
    refusal: str | None = None

    @property
    def reasoning_text(self) -> str | None:
        return self.reasoning_content or self.reasoning


class Choice(msgspec.Struct, kw_only=True):
    index: int = 0
    message: AssistantMessage = msgspec.field(default_factory=AssistantMessage)
    finish_reason: str | None = None
    # vLLM reports the stop string (or token id) that ended the completion.
    stop_reason: str | int | None = None


class ErrorObject(msgspec.Struct, kw_only=True):
    message: str | None = None
    type: str | None = None
    code: str | int | None = None


class ChatCompletion(msgspec.Struct, kw_only=True):
    id: str | None = None
    model: str | None = None
    choices: list[Choice] = msgspec.field(default_factory=list)
    usage: Usage | None = None
    # Some providers (OpenRouter) answer HTTP 200 with an error object instead of choices.
    error: ErrorObject | None = None


class Delta(msgspec.Struct, kw_only=True):
    role: str | None = None
    # A string, or typed parts (Mistral streams thinking and text parts).
    content: str | list[Any] | None = None
    reasoning_content: str | None = None
    reasoning: str | None = None
    reasoning_details: list[Any] | None = None
    tool_calls: list[ToolCall] | None = None
    refusal: str | None = None


class ChunkChoice(msgspec.Struct, kw_only=True):
    index: int = 0
    delta: Delta = msgspec.field(default_factory=Delta)
    finish_reason: str | None = None
    stop_reason: str | int | None = None


class ChatCompletionChunk(msgspec.Struct, kw_only=True):
    id: str | None = None
    model: str | None = None
    choices: list[ChunkChoice] = msgspec.field(default_factory=list)
    usage: Usage | None = None
    error: ErrorObject | None = None
