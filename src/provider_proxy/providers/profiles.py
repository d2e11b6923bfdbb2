"""Provider profiles: which upstream API each provider family speaks, what it accepts and how it differs.

A profile is data. The translator reads its flags; nothing else in the code asks which provider it
is talking to. A provider that is plain OpenAI-compatible needs no profile of its own: `generic`
serves it, and a config file can pick any profile by name with `kind = "..."` and override any
single flag (`[providers.x.profile] stream_usage = false`). What differs per model rather than per
provider (output limits, reasoning support) is in `providers.model_facts`.

`api` names the upstream API the provider speaks: "chat" (OpenAI Chat Completions, most profiles),
"responses" (OpenAI's Responses API: a provider entry's `api = "responses"` sets it on its profile) or
"anthropic" (the Anthropic Messages API, passed through: the `*-anthropic` profiles). The object that
speaks each API is chosen from it in `conversion.apis`; flags that concern another API are ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields, replace
from typing import Literal
from urllib.parse import urlsplit

from provider_proxy.providers.model_facts import ModelFacts

ReasoningStyle = Literal["none", "effort", "openrouter"]
# The upstream APIs the proxy speaks (`conversion.apis` maps each to its translator).
UpstreamApiName = Literal["chat", "responses", "anthropic"]
OPENAI_MAX_STOP_SEQUENCES = 4


@dataclass(frozen=True, slots=True)
class ProviderProfile:
    kind: str
    api: UpstreamApiName = "chat"
    # "bearer": Authorization: Bearer KEY; "api-key": Azure's api-key header; "x-api-key": Anthropic's.
    auth_header: Literal["bearer", "api-key", "x-api-key"] = "bearer"
    # Sends stream_options.include_usage on streaming requests.
    stream_usage: bool = True
    # How reasoning is asked for: OpenAI's `reasoning_effort`, OpenRouter's `reasoning` object, or not at all.
    reasoning_style: ReasoningStyle = "none"
    # Send the reasoning control for models the model facts know nothing about (OpenRouter maps it for
    # every model); otherwise only for models known to take it.
    reasoning_any_model: bool = False
    # The provider enforces OpenAI's rules for its reasoning models (`max_completion_tokens`; no
    # `temperature`, `top_p`, `stop` or, for the o-series, `parallel_tool_calls`) and at most 4 stop
    # sequences for every model.
    openai_parameter_rules: bool = False
    # The same rules for the models whose names are OpenAI's (`gpt-5`, `o3`, `openai/gpt-4.1`): an
    # endpoint of unknown kind that serves them is most likely OpenAI or a gateway in front of it.
    openai_rules_by_model_name: bool = False
    # The provider wants the reasoning text back on assistant turns (DeepSeek thinking-mode tool loops).
    echo_reasoning_content: bool = False
    supports_top_k: bool = False
    supports_user: bool = True
    supports_parallel_tool_calls: bool = True
    max_stop_sequences: int | None = None
    # Takes a PDF by URL as a `file` part whose `file_data` is the URL (OpenRouter); elsewhere such a
    # document is left out with a note (OpenAI's `file` part takes base64 data or an uploaded file id).
    document_urls: bool = False
    # Takes a PDF as OpenAI's `file` part with base64 `file_data`; where it does not (DeepSeek reads
    # text only, Mistral's `file` part names an uploaded file), the document is left out with a note.
    document_files: bool = True
    # "alnum9": tool call ids must be 9 ASCII letters or digits (Mistral).
    tool_call_id_style: Literal["any", "alnum9"] = "any"
    # "gemini": strip JSON-schema keywords the Gemini OpenAI endpoint rejects.
    schema_dialect: Literal["full", "gemini"] = "full"
    # Fold role-"system" messages that sit mid-conversation into the neighbouring user message (as
    # `<system>...</system>` text); one that opens the history joins the system prompt.
    mid_system_as_user: bool = False
    # The provider rejects a user message right after tool messages (Mistral): the text joins the
    # last tool message instead.
    no_user_after_tool: bool = False
    # An assistant message in last place (a prefill the answer continues) must say so with
    # `prefix: true` (Mistral refuses a last assistant message otherwise).
    assistant_prefix: bool = False
    # Tool calls carry a thought signature that must be echoed back (Gemini 3).
    thought_signatures: bool = False
    # Local models whose server lacks a tool parser for them answer tool calls as text
    # (`<tool_call>{...}</tool_call>`, `<function=NAME>...</function>`, a bare JSON call): when the
    # request offered tools, such text becomes tool_use blocks (`conversion.text_tools`).
    text_tool_calls: bool = False
    # Models that take one `reasoning_effort` value only, whatever the effort asked for: (pattern on
    # the model name, the value). Groq's Qwen 3 takes "none" or "default", not low/medium/high.
    fixed_efforts: tuple[tuple[str, str], ...] = ()
    # Keeps the client's `cache_control` breakpoints on the content parts sent (OpenRouter passes them
    # to Anthropic and Gemini models); elsewhere they are dropped.
    cache_control: bool = False
    # Through the Responses API (`api = "responses"`) the provider runs Anthropic's web search itself:
    # the server tool becomes its hosted `web_search` tool (used when no search backend is configured).
    native_web_search: bool = False
    # Anthropic-native providers (api = "anthropic"):
    # the `anthropic-beta` values relayed (shell patterns; None: every one the client sends);
    betas: tuple[str, ...] | None = None
    # top-level request fields the provider rejects, removed before the request is sent;
    drop_fields: tuple[str, ...] = ()
    # the provider has `/v1/messages/count_tokens` (otherwise the proxy counts locally).
    count_tokens: bool = False
    extra_headers: tuple[tuple[str, str], ...] = field(default_factory=tuple)

    def accepts_reasoning(self, facts: ModelFacts) -> bool:
        if self.reasoning_style == "none":
            return False
        return facts.reasoning if facts.reasoning is not None else self.reasoning_any_model

    def openai_rules(self, facts: ModelFacts) -> bool:
        """OpenAI's parameter rules apply to this model at this provider."""
        return self.openai_parameter_rules or (self.openai_rules_by_model_name and facts.openai_model)

    def restricts_sampling(self, facts: ModelFacts) -> bool:
        """`max_completion_tokens` instead of `max_tokens`, and no temperature, top_p or stop."""
        return facts.openai_reasoning and self.openai_rules(facts)

    def rejects_parallel_tool_calls(self, facts: ModelFacts) -> bool:
        if not self.supports_parallel_tool_calls:
            return True
        return not facts.parallel_tool_calls and self.openai_rules(facts)

    def effort_for(self, model: str, effort: str) -> str:
        """The `reasoning_effort` to send for `effort` to `model` at this provider."""
        name = model.lower()
        return next((value for pattern, value in self.fixed_efforts if re.search(pattern, name)), effort)

    def stop_limit(self, facts: ModelFacts) -> int | None:
        """The most stop sequences the provider takes (OpenAI: 4); None when unknown."""
        if self.max_stop_sequences is not None:
            return self.max_stop_sequences
        return OPENAI_MAX_STOP_SEQUENCES if self.openai_rules(facts) else None


# Flags a provider in the config file may override one by one (`[providers.x.profile]`).
# The API is not a flag: `kind` picks an Anthropic-API profile, a provider's `api` one of OpenAI's.
OVERRIDABLE: frozenset[str] = frozenset(f.name for f in fields(ProviderProfile)) - {
    "kind",
    "api",
    "extra_headers",
    "fixed_efforts",
}

_OPENAI = ProviderProfile(
    kind="openai", reasoning_style="effort", openai_parameter_rules=True, max_stop_sequences=4, native_web_search=True
)
_LOCAL = ProviderProfile(kind="ollama", mid_system_as_user=True, text_tool_calls=True)
# Anthropic's own API takes everything Claude Code sends. The compatible endpoints of other providers
# answer in Anthropic's shape but ignore or refuse Anthropic's betas: none is relayed to them.
_ANTHROPIC = ProviderProfile(kind="anthropic", api="anthropic", auth_header="x-api-key", count_tokens=True)
_COMPATIBLE = replace(_ANTHROPIC, count_tokens=False, betas=(), drop_fields=("container", "mcp_servers"))

PROFILES: dict[str, ProviderProfile] = {
    "generic": ProviderProfile(kind="generic", openai_rules_by_model_name=True),
    "openai": _OPENAI,
    # Azure OpenAI serves the same models; only the key travels in an `api-key` header.
    # Azure's hosted web search is not the same service: off unless a provider's profile turns it on.
    "azure": replace(_OPENAI, kind="azure", auth_header="api-key", native_web_search=False),
    "openrouter": ProviderProfile(
        kind="openrouter",
        reasoning_style="openrouter",
        reasoning_any_model=True,
        supports_top_k=True,
        document_urls=True,
        # OpenRouter's request schema: "Stop sequences (up to 4)".
        max_stop_sequences=4,
        cache_control=True,
    ),
    "deepseek": ProviderProfile(
        kind="deepseek",
        reasoning_style="effort",
        echo_reasoning_content=True,
        max_stop_sequences=16,
        document_files=False,
    ),
    "gemini": ProviderProfile(
        kind="gemini",
        reasoning_style="effort",
        supports_user=False,
        schema_dialect="gemini",
        thought_signatures=True,
        max_stop_sequences=5,
    ),
    "groq": ProviderProfile(
        kind="groq",
        reasoning_style="effort",
        max_stop_sequences=4,
        fixed_efforts=(("qwen3", "default"),),
    ),
    # Mistral's request schema forbids fields it does not name: `stream_options` among them (usage
    # arrives in the last chunk anyway), and `user`.
    "mistral": ProviderProfile(
        kind="mistral",
        stream_usage=False,
        document_files=False,
        supports_user=False,
        tool_call_id_style="alnum9",
        mid_system_as_user=True,
        no_user_after_tool=True,
        assistant_prefix=True,
    ),
    # xAI's API reference: stop takes "up to 4 sequences", as OpenAI's.
    "xai": ProviderProfile(kind="xai", reasoning_style="effort", max_stop_sequences=4),
    "together": ProviderProfile(kind="together", supports_top_k=True),
    # Local servers run the model's own chat template, and many (Gemma, some Qwen builds) refuse a
    # system message after the first; models they serve may write tool calls as text.
    "ollama": _LOCAL,
    "vllm": replace(_LOCAL, kind="vllm", supports_top_k=True),
    "llamacpp": replace(_LOCAL, kind="llamacpp", supports_top_k=True),
    "lmstudio": replace(_LOCAL, kind="lmstudio", supports_top_k=True),
    # Anthropic Messages API upstreams: the request passes through (`conversion.anthropic_api`).
    "anthropic": _ANTHROPIC,
    "deepseek-anthropic": replace(_COMPATIBLE, kind="deepseek-anthropic"),
    "moonshot-anthropic": replace(_COMPATIBLE, kind="moonshot-anthropic", auth_header="bearer"),
    "zai-anthropic": replace(_COMPATIBLE, kind="zai-anthropic", auth_header="bearer"),
    "minimax-anthropic": replace(_COMPATIBLE, kind="minimax-anthropic", auth_header="bearer"),
    # OpenRouter hands Claude models' requests to Anthropic: betas pass.
    "openrouter-anthropic": replace(_COMPATIBLE, kind="openrouter-anthropic", auth_header="bearer", betas=None),
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
# Host suffix -> the profile of that provider's Anthropic-compatible endpoint.
_ANTHROPIC_HOSTS: tuple[tuple[str, str], ...] = (
    ("api.anthropic.com", "anthropic"),
    ("api.deepseek.com", "deepseek-anthropic"),
    ("api.moonshot.ai", "moonshot-anthropic"),
    ("api.moonshot.cn", "moonshot-anthropic"),
    ("api.kimi.com", "moonshot-anthropic"),
    ("api.z.ai", "zai-anthropic"),
    ("open.bigmodel.cn", "zai-anthropic"),
    ("api.minimax.io", "minimax-anthropic"),
    ("api.minimaxi.com", "minimax-anthropic"),
    ("openrouter.ai", "openrouter-anthropic"),
)


def _by_host(host: str, table: tuple[tuple[str, str], ...]) -> str | None:
    for suffix, kind in table:
        if host == suffix or host.endswith("." + suffix):
            return kind
    return None


def detect_profile(base_url: str) -> str:
    """Guess the profile from the base URL; `generic` when nothing matches. An address of Anthropic's
    API or with an `/anthropic` path segment (DeepSeek's, Moonshot's, Z.ai's) speaks Anthropic's API."""
    parts = urlsplit(base_url)
    host = (parts.hostname or "").lower()
    if host == "api.anthropic.com" or "anthropic" in parts.path.lower().split("/"):
        return anthropic_profile(base_url)
    kind = _by_host(host, _HOSTS)
    if kind is not None:
        return kind
    if parts.port in _LOCAL_PORTS:
        return _LOCAL_PORTS[parts.port]
    return "generic"


def anthropic_profile(base_url: str) -> str:
    """The Anthropic-API profile for `kind = "anthropic"` at this address: the provider's own when the
    host is known, else Anthropic's (any compatible endpoint that takes what Anthropic takes)."""
    host = (urlsplit(base_url).hostname or "").lower()
    return _by_host(host, _ANTHROPIC_HOSTS) or "anthropic"
