"""Provider profiles: what each family of OpenAI-compatible APIs accepts and how it differs.

A profile is data. The translator reads its flags; nothing else in the code asks which provider it
is talking to. A provider that is plain OpenAI-compatible needs no profile of its own: `generic`
serves it, and a config file can pick any profile by name with `kind = "..."`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Literal
from urllib.parse import urlsplit

ReasoningStyle = Literal["none", "effort", "openrouter"]


def _pattern(regex: str) -> re.Pattern[str]:
    return re.compile(regex, re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class ProviderProfile:
    kind: str
    # "bearer": Authorization: Bearer KEY; "api-key": Azure's api-key header.
    auth_header: Literal["bearer", "api-key"] = "bearer"
    # Sends stream_options.include_usage on streaming requests.
    stream_usage: bool = True
    # How reasoning is asked for: OpenAI's `reasoning_effort`, OpenRouter's `reasoning` object, or not at all.
    reasoning_style: ReasoningStyle = "none"
    # Upstream models that accept the reasoning control; None means every model of this provider.
    reasoning_models: re.Pattern[str] | None = None
    # Models that take `max_completion_tokens` and reject `temperature`, `top_p` and `stop`
    # (OpenAI's reasoning models).
    completion_tokens_models: re.Pattern[str] | None = None
    # Models that reject `parallel_tool_calls` (OpenAI's o-series).
    no_parallel_tool_calls_models: re.Pattern[str] | None = None
    # The provider wants the reasoning text back on assistant turns (DeepSeek thinking-mode tool loops).
    echo_reasoning_content: bool = False
    supports_top_k: bool = False
    supports_user: bool = True
    supports_parallel_tool_calls: bool = True
    max_stop_sequences: int | None = None
    # "alnum9": tool call ids must be 9 ASCII letters or digits (Mistral).
    tool_call_id_style: Literal["any", "alnum9"] = "any"
    # "gemini": strip JSON-schema keywords the Gemini OpenAI endpoint rejects.
    schema_dialect: Literal["full", "gemini"] = "full"
    # Turn role-"system" messages that sit mid-conversation into user messages.
    mid_system_as_user: bool = False
    # The provider rejects a user message right after tool messages (Mistral): the text joins the
    # last tool message instead.
    no_user_after_tool: bool = False
    # Tool calls carry a thought signature that must be echoed back (Gemini 3).
    thought_signatures: bool = False
    extra_headers: tuple[tuple[str, str], ...] = field(default_factory=tuple)

    def accepts_reasoning(self, model: str) -> bool:
        if self.reasoning_style == "none":
            return False
        return self.reasoning_models is None or bool(self.reasoning_models.search(model))

    def uses_completion_tokens(self, model: str) -> bool:
        return bool(self.completion_tokens_models and self.completion_tokens_models.search(model))

    def rejects_parallel_tool_calls(self, model: str) -> bool:
        if not self.supports_parallel_tool_calls:
            return True
        return bool(self.no_parallel_tool_calls_models and self.no_parallel_tool_calls_models.search(model))


_OPENAI_REASONING = _pattern(r"^(o\d|gpt-5(?!-chat)|gpt-oss)")
_OPENAI_COMPLETION_TOKENS = _pattern(r"^(o\d|gpt-5(?!-chat))")
_O_SERIES = _pattern(r"^o\d")
_OPENAI = ProviderProfile(
    kind="openai",
    reasoning_style="effort",
    reasoning_models=_OPENAI_REASONING,
    completion_tokens_models=_OPENAI_COMPLETION_TOKENS,
    no_parallel_tool_calls_models=_O_SERIES,
    max_stop_sequences=4,
)

PROFILES: dict[str, ProviderProfile] = {
    "generic": ProviderProfile(kind="generic"),
    "openai": _OPENAI,
    # Azure OpenAI serves the same models; only the key travels in an `api-key` header.
    "azure": replace(_OPENAI, kind="azure", auth_header="api-key"),
    "openrouter": ProviderProfile(kind="openrouter", reasoning_style="openrouter", supports_top_k=True),
    "deepseek": ProviderProfile(
        kind="deepseek",
        reasoning_style="effort",
        reasoning_models=_pattern(r"deepseek-v4"),
        echo_reasoning_content=True,
        max_stop_sequences=16,
    ),
    "gemini": ProviderProfile(
        kind="gemini",
        reasoning_style="effort",
        reasoning_models=_pattern(r"gemini-(2\.5|[3-9])"),
        supports_user=False,
        schema_dialect="gemini",
        thought_signatures=True,
        max_stop_sequences=5,
    ),
    "groq": ProviderProfile(
        kind="groq",
        reasoning_style="effort",
        reasoning_models=_pattern(r"(gpt-oss|qwen3)"),
        max_stop_sequences=4,
    ),
    "mistral": ProviderProfile(
        kind="mistral",
        supports_user=False,
        tool_call_id_style="alnum9",
        mid_system_as_user=True,
        no_user_after_tool=True,
    ),
    "xai": ProviderProfile(kind="xai", reasoning_style="effort", reasoning_models=_pattern(r"grok-3-mini")),
    "together": ProviderProfile(kind="together", supports_top_k=True),
    "ollama": ProviderProfile(kind="ollama", supports_top_k=False),
    "vllm": ProviderProfile(kind="vllm", echo_reasoning_content=False, supports_top_k=True),
    "llamacpp": ProviderProfile(kind="llamacpp", supports_top_k=True),
    "lmstudio": ProviderProfile(kind="lmstudio", supports_top_k=True),
}

# Host suffix (or port, for local servers) -> profile name, used when the config names none.
_HOSTS: tuple[tuple[str, str], ...] = (
    ("api.openai.com", "openai"),
    ("openai.azure.com", "azure"),
    ("cognitiveservices.azure.com", "azure"),
    ("openrouter.ai", "openrouter"),
    ("api.deepseek.com", "deepseek"),
    ("generativelanguage.googleapis.com", "gemini"),
    ("api.groq.com", "groq"),
    ("api.mistral.ai", "mistral"),
    ("api.x.ai", "xai"),
    ("api.together.xyz", "together"),
    ("api.together.ai", "together"),
)
_LOCAL_PORTS: dict[int, str] = {11434: "ollama", 1234: "lmstudio"}


def detect_profile(base_url: str) -> str:
    """Guess the profile from the base URL; `generic` when nothing matches."""
    parts = urlsplit(base_url)
    host = (parts.hostname or "").lower()
    for suffix, kind in _HOSTS:
        if host == suffix or host.endswith("." + suffix):
            return kind
    if parts.port in _LOCAL_PORTS:
        return _LOCAL_PORTS[parts.port]
    return "generic"


# Largest output each model family accepts, by upstream model name. First match wins.
OUTPUT_LIMITS: tuple[tuple[re.Pattern[str], int], ...] = (
    (_pattern(r"gpt-4o"), 16_384),
    (_pattern(r"gpt-4\.1"), 32_768),
    (_pattern(r"gpt-4-turbo|gpt-4(-\d+)?$"), 4_096),
    (_pattern(r"gpt-3\.5"), 4_096),
    (_pattern(r"gpt-5"), 128_000),
    (_pattern(r"^o1-mini"), 65_536),
    (_pattern(r"^(o1|o3|o4)"), 100_000),
    (_pattern(r"gpt-oss"), 32_768),
    (_pattern(r"deepseek-reasoner"), 65_536),
    (_pattern(r"deepseek"), 8_192),
    (_pattern(r"gemini-(2\.5|[3-9])"), 65_536),
    (_pattern(r"gemini"), 8_192),
    (_pattern(r"claude"), 64_000),
    (_pattern(r"grok-4"), 64_000),
    (_pattern(r"qwen3-coder"), 65_536),
    (_pattern(r"kimi-k2"), 16_384),
)
DEFAULT_OUTPUT_LIMIT = 16_384


def known_output_limit(model: str) -> int | None:
    for pattern, limit in OUTPUT_LIMITS:
        if pattern.search(model):
            return limit
    return None
