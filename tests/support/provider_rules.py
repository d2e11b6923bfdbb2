"""What each provider rejects, as data: the rules a rule-enforcing fake upstream applies.

One `Rules` entry per provider profile of `provider_proxy.providers.profiles`: the rules that
provider's public API reference states (each cites its source), a model it serves (the corpus asks for
it) and the error it answers with. A provider that changes a rule is a one-line edit here.

A rule is a small check over what the fake received (`Sent`: path, query, headers, body) that yields
one line per violation. Every profile also gets OpenAI's published request schema
(`tests/support/openai_schema.py`); providers that refuse fields the schema does not name (OpenAI
itself, Azure, Groq, Gemini) check it strictly, less the extensions they document.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from tests.support.openai_schema import chat_request_schema

OPENAI_SCHEMA = "https://github.com/openai/openai-openapi (CreateChatCompletionRequest)"


@dataclass(frozen=True)
class Sent:
    """One request as the upstream received it; header names lower-cased."""

    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: dict[str, Any]


Check = Callable[[Sent], Iterable[str]]


@dataclass(frozen=True)
class Rule:
    says: str  # the provider's rule, in words
    source: str  # where the provider states it
    check: Check


ErrorShape = Callable[[str], tuple[int, Any]]


@dataclass(frozen=True)
class Rules:
    profile: str
    model: str  # a model the provider serves, asked for by the corpus
    rules: tuple[Rule, ...]
    error: ErrorShape
    # Profile settings the corpus gives the provider in the config file (Azure's api_version).
    config: Mapping[str, str] = field(default_factory=dict)
    # More models the corpus asks for (another family with other rules: reasoning, thought signatures).
    also: tuple[str, ...] = ()

    @property
    def models(self) -> tuple[str, ...]:
        return (self.model, *self.also)

    def violations(self, sent: Sent) -> list[str]:
        return [f"{problem} [{rule.source}]" for rule in self.rules for problem in rule.check(sent)]


# -- what a body holds -------------------------------------------------------------------------


def messages(body: Mapping[str, Any]) -> Iterator[tuple[int, dict[str, Any]]]:
    for index, message in enumerate(body.get("messages") or ()):
        if isinstance(message, dict):
            yield index, message


def parts(body: Mapping[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every content part, with where it is (`messages[3].content[1]`)."""
    for index, message in messages(body):
        content = message.get("content")
        if isinstance(content, list):
            for n, part in enumerate(content):
                if isinstance(part, dict):
                    yield f"messages[{index}].content[{n}]", part


def tool_calls(body: Mapping[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for index, message in messages(body):
        for n, call in enumerate(message.get("tool_calls") or ()):
            yield f"messages[{index}].tool_calls[{n}]", call


def functions(body: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    for tool in body.get("tools") or ():
        if isinstance(tool, dict) and isinstance(tool.get("function"), dict):
            yield tool["function"]


def schema_keywords(schema: Any, where: str) -> Iterator[tuple[str, str]]:
    """(where, keyword) for every keyword of a JSON schema, property names excepted."""
    if isinstance(schema, list):
        for n, item in enumerate(schema):
            yield from schema_keywords(item, f"{where}[{n}]")
        return
    if not isinstance(schema, dict):
        return
    for key, value in schema.items():
        yield where, key
        if key in ("properties", "$defs", "definitions", "patternProperties") and isinstance(value, dict):
            for name, sub in value.items():
                yield from schema_keywords(sub, f"{where}.{key}.{name}")
        elif key in ("items", "anyOf", "oneOf", "allOf", "not", "additionalProperties", "prefixItems"):
            yield from schema_keywords(value, f"{where}.{key}")


# -- rule builders -----------------------------------------------------------------------------


def openai_schema(
    strict: bool, extensions: Iterable[str] = (), waived: Iterable[str] = (), waived_by: str = ""
) -> Rule:
    """OpenAI's schema; `waived`: top-level fields whose limits the provider sets itself (`waived_by`
    says where), such as the number of stop sequences."""
    allowed, skipped = tuple(extensions), tuple(waived)

    def check(sent: Sent) -> Iterable[str]:
        return chat_request_schema().problems(sent.body, strict=strict, extensions=allowed, waived=skipped)

    says = "the body is a CreateChatCompletionRequest" + (" and names no other field" if strict else "")
    if skipped:
        says += f", except for {', '.join(skipped)} (see {waived_by})"
    return Rule(says, OPENAI_SCHEMA, check)


def only_fields(source: str, allowed: Iterable[str]) -> Rule:
    names = frozenset(allowed)

    def check(sent: Sent) -> Iterator[str]:
        for key in sorted(set(sent.body) - names):
            yield f"{key}: not a request field here"

    return Rule("the request has no other fields than these", source, check)


def message_fields(source: str, allowed: Mapping[str, Iterable[str]]) -> Rule:
    by_role = {role: frozenset(names) for role, names in allowed.items()}

    def check(sent: Sent) -> Iterator[str]:
        for index, message in messages(sent.body):
            role = message.get("role")
            if role not in by_role:
                yield f"messages[{index}].role: {role!r} is not a role here"
                continue
            for key in sorted(set(message) - by_role[role]):
                yield f"messages[{index}].{key}: not a field of {role} messages here"

    return Rule("messages have no other fields than these", source, check)


def without(source: str, *names: str) -> Rule:
    def check(sent: Sent) -> Iterator[str]:
        for name in names:
            if name in sent.body:
                yield f"{name}: not supported"

    return Rule(f"no {', '.join(names)}", source, check)


def without_message_field(source: str, name: str) -> Rule:
    def check(sent: Sent) -> Iterator[str]:
        for index, message in messages(sent.body):
            if name in message:
                yield f"messages[{index}].{name}: not supported"

    return Rule(f"no messages[].{name}", source, check)


def n_is_one(source: str) -> Rule:
    def check(sent: Sent) -> Iterator[str]:
        if sent.body.get("n", 1) != 1:
            yield "n: must be 1"

    return Rule("n, if given, is 1", source, check)


def at_most_stops(source: str, limit: int) -> Rule:
    def check(sent: Sent) -> Iterator[str]:
        stop = sent.body.get("stop")
        if isinstance(stop, list) and len(stop) > limit:
            yield f"stop: {len(stop)} sequences, at most {limit}"

    return Rule(f"at most {limit} stop sequences", source, check)


def tool_names(source: str, pattern: str) -> Rule:
    valid = re.compile(pattern)

    def check(sent: Sent) -> Iterator[str]:
        for function in functions(sent.body):
            if not valid.fullmatch(str(function.get("name", ""))):
                yield f"tools: function name {function.get('name')!r} does not match {pattern}"
        for where, call in tool_calls(sent.body):
            name = (call.get("function") or {}).get("name", "")
            if not valid.fullmatch(str(name)):
                yield f"{where}: function name {name!r} does not match {pattern}"

    return Rule(f"function names match {pattern}", source, check)


def tool_call_ids(source: str, pattern: str) -> Rule:
    valid = re.compile(pattern)

    def check(sent: Sent) -> Iterator[str]:
        for where, call in tool_calls(sent.body):
            if not valid.fullmatch(str(call.get("id", ""))):
                yield f"{where}.id: {call.get('id')!r} must match {pattern}"
        for index, message in messages(sent.body):
            if message.get("role") == "tool" and not valid.fullmatch(str(message.get("tool_call_id", ""))):
                yield f"messages[{index}].tool_call_id: {message.get('tool_call_id')!r} must match {pattern}"

    return Rule(f"tool call ids match {pattern}", source, check)


def parameter_keywords(source: str, allowed: Iterable[str]) -> Rule:
    names = frozenset(allowed)

    def check(sent: Sent) -> Iterator[str]:
        for function in functions(sent.body):
            for where, keyword in schema_keywords(function.get("parameters"), f"{function.get('name')}.parameters"):
                if keyword not in names:
                    yield f"tools: {where}: schema keyword {keyword!r} is not supported"

    return Rule("function parameters use only these schema keywords", source, check)


def part_types(source: str, allowed: Iterable[str]) -> Rule:
    names = frozenset(allowed)

    def check(sent: Sent) -> Iterator[str]:
        for where, part in parts(sent.body):
            if part.get("type") not in names:
                yield f"{where}.type: {part.get('type')!r} is not accepted"

    return Rule(f"content parts only of type {', '.join(sorted(names))}", source, check)


def no_user_after_tool(source: str) -> Rule:
    def check(sent: Sent) -> Iterator[str]:
        roles = [message.get("role") for _, message in messages(sent.body)]
        for index in range(1, len(roles)):
            if roles[index] == "user" and roles[index - 1] == "tool":
                yield f"messages[{index}]: a user message right after a tool message"

    return Rule("no user message right after a tool message", source, check)


def system_only_first(source: str) -> Rule:
    def check(sent: Sent) -> Iterator[str]:
        for index, message in messages(sent.body):
            if message.get("role") == "system" and index > 0:
                yield f"messages[{index}]: a system message after the first message"

    return Rule("a system message only at the beginning", source, check)


def reasoning_on_tool_turns(source: str) -> Rule:
    def check(sent: Sent) -> Iterator[str]:
        for index, message in messages(sent.body):
            if message.get("tool_calls") and not isinstance(message.get("reasoning_content"), str):
                yield f"messages[{index}]: an assistant tool-call turn without its reasoning_content"

    return Rule("thinking mode: tool-call turns carry their reasoning_content back", source, check)


def tool_results_follow_calls(source: str) -> Rule:
    """Each assistant tool_calls is answered by one tool message per call right after it, and a
    tool message answers a call of the assistant message before it."""

    def check(sent: Sent) -> Iterator[str]:
        pending: list[str] = []
        for index, message in messages(sent.body):
            role = message.get("role")
            if role == "tool":
                call_id = message.get("tool_call_id")
                if call_id not in pending:
                    yield f"messages[{index}]: tool message for {call_id!r}, which no pending tool call has"
                else:
                    pending.remove(call_id)
                continue
            if pending:
                yield f"messages[{index}]: tool call(s) {pending} left without a tool message"
            pending = [str(call.get("id")) for call in message.get("tool_calls") or ()]
        if pending:
            yield f"end: tool call(s) {pending} left without a tool message"

    return Rule("tool calls are answered by tool messages right after them", source, check)


def last_role(source: str, roles: Iterable[str]) -> Rule:
    allowed = frozenset(roles)

    def check(sent: Sent) -> Iterator[str]:
        listed = list(messages(sent.body))
        if listed and listed[-1][1].get("role") not in allowed and not listed[-1][1].get("prefix"):
            yield f"messages[{listed[-1][0]}]: the last message is {listed[-1][1].get('role')!r}"

    return Rule(f"the last message is one of {sorted(allowed)}", source, check)


def at_most(source: str, name: str, limit: float) -> Rule:
    def check(sent: Sent) -> Iterator[str]:
        value = sent.body.get(name)
        if isinstance(value, (int, float)) and value > limit:
            yield f"{name}: {value} is over {limit}"

    return Rule(f"{name} at most {limit}", source, check)


def thought_signatures(source: str) -> Rule:
    def check(sent: Sent) -> Iterator[str]:
        for where, call in tool_calls(sent.body):
            google = (call.get("extra_content") or {}).get("google") or {}
            if not google.get("thought_signature"):
                yield f"{where}: no extra_content.google.thought_signature"

    return Rule("function calls in the history carry their thought signature", source, check)


def when_model(pattern: str, rule: Rule) -> Rule:
    """`rule`, for the models whose name matches `pattern` only."""
    matches = re.compile(pattern)

    def check(sent: Sent) -> Iterable[str]:
        return rule.check(sent) if matches.search(str(sent.body.get("model", ""))) else ()

    return Rule(f"for models matching {pattern}: {rule.says}", rule.source, check)


def allowed_values(source: str, name: str, values: Iterable[str]) -> Rule:
    options = frozenset(values)

    def check(sent: Sent) -> Iterator[str]:
        if name in sent.body and sent.body[name] not in options:
            yield f"{name}: {sent.body[name]!r} is not one of {sorted(options)}"

    return Rule(f"{name} is one of {sorted(options)}", source, check)


def bearer_key(source: str) -> Rule:
    def check(sent: Sent) -> Iterator[str]:
        if not sent.headers.get("authorization", "").startswith("Bearer "):
            yield "Authorization: no bearer key"

    return Rule("the key travels as Authorization: Bearer", source, check)


def azure_deployment(source: str) -> Rule:
    path = re.compile(r"/openai/deployments/[^/]+/chat/completions$")

    def check(sent: Sent) -> Iterator[str]:
        if not path.search(sent.path):
            yield f"path {sent.path!r}: not /openai/deployments/{{deployment}}/chat/completions"
        if not sent.query.get("api-version"):
            yield "query: no api-version"
        if not sent.headers.get("api-key"):
            yield "api-key header: missing"

    return Rule("deployment in the path, api-version in the query, key in api-key", source, check)


# -- error answers -----------------------------------------------------------------------------


def openai_error(message: str) -> tuple[int, Any]:
    return 400, {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": None}}


def gemini_error(message: str) -> tuple[int, Any]:
    # Gemini's OpenAI endpoint answers with a list holding one Google error.
    return 400, [{"error": {"code": 400, "message": message, "status": "INVALID_ARGUMENT"}}]


def mistral_error(message: str) -> tuple[int, Any]:
    detail = [{"type": "extra_forbidden", "loc": ["body"], "msg": message}]
    return 422, {"object": "error", "message": {"detail": detail}, "type": "invalid_request_error", "param": None}


def vllm_error(message: str) -> tuple[int, Any]:
    return 400, {"object": "error", "message": message, "type": "BadRequestError", "param": None, "code": 400}


def lmstudio_error(message: str) -> tuple[int, Any]:
    return 400, {"error": message}


# -- the providers -----------------------------------------------------------------------------

_OPENAI_DOCS = "https://platform.openai.com/docs/api-reference/chat/create"
_OPENAI_REASONING = "https://platform.openai.com/docs/guides/reasoning"
# Function names: "a-z, A-Z, 0-9, or underscores and dashes, with a maximum length of 64".
_OPENAI_NAME = r"[a-zA-Z0-9_-]{1,64}"
_AZURE_DOCS = "https://learn.microsoft.com/en-us/azure/ai-foundry/openai/reference"
_GROQ_DOCS = "https://console.groq.com/docs/openai"
_GROQ_REASONING = "https://console.groq.com/docs/reasoning"
_GEMINI_DOCS = "https://ai.google.dev/gemini-api/docs/openai"
_GEMINI_SCHEMA = "https://ai.google.dev/api/caching#Schema"
_GEMINI_FUNCTION = "https://ai.google.dev/api/caching#FunctionDeclaration"
_MISTRAL_SPEC = "https://github.com/mistralai/platform-docs-public/blob/main/openapi.yaml (ChatCompletionRequest)"
_MISTRAL_TOOLS = "https://docs.mistral.ai/capabilities/function_calling/"
_DEEPSEEK_THINKING = "https://api-docs.deepseek.com/guides/thinking_mode"
_DEEPSEEK_API = "https://api-docs.deepseek.com/api/create-chat-completion"
_XAI_REASONING = "https://docs.x.ai/docs/guides/reasoning"
_XAI_API = "https://docs.x.ai/docs/api-reference#chat-completions"
_OPENROUTER_REASONING = "https://openrouter.ai/docs/use-cases/reasoning-tokens"
_OLLAMA_DOCS = "https://docs.ollama.com/api/openai-compatibility"
# Qwen 3.5's chat template: raise_exception('System message must be at the beginning.').
_OPENAI_TOOLS = "https://platform.openai.com/docs/guides/function-calling"
_GEMINI_SIGNATURES = "https://ai.google.dev/gemini-api/docs/thought-signatures"
_QWEN_TEMPLATE = "https://huggingface.co/Qwen/Qwen3.5-27B/blob/main/chat_template.jinja"
_MISTRAL_VALIDATOR = (
    "https://github.com/mistralai/mistral-common/blob/main/src/mistral_common/protocol/instruct/validator.py"
)
_GEMINI_STOPS = "https://ai.google.dev/api/generate-content#generationconfig"
_OPENROUTER_STOP = "https://openrouter.ai/docs/client-sdks/python/components/stop.md"
_TOGETHER_API = "https://docs.together.ai/reference/chat-completions-1"
_VLLM_DOCS = "https://docs.vllm.ai/en/latest/serving/openai_compatible_server.html"
_LLAMACPP_DOCS = "https://github.com/ggml-org/llama.cpp/blob/master/tools/server/README.md"
_LMSTUDIO_DOCS = "https://lmstudio.ai/docs/app/api/endpoints/openai"

# Every provider: "An assistant message with 'tool_calls' must be followed by tool messages
# responding to each 'tool_call_id'" (OpenAI's words; Mistral's: "Not the same number of function
# calls and responses"; the others answer alike).
_PAIRED = tool_results_follow_calls(_OPENAI_TOOLS)

_OPENAI_RULES = (
    openai_schema(strict=True),
    _PAIRED,
    tool_names(_OPENAI_DOCS, _OPENAI_NAME),
    # Reasoning models take max_completion_tokens, not max_tokens, and no sampling parameters.
    when_model(r"^(o\d|gpt-5(?!-chat))", without(_OPENAI_REASONING, "max_tokens", "temperature", "top_p", "stop")),
    # The o-series rejects parallel_tool_calls.
    when_model(r"^o\d", without(_OPENAI_REASONING, "parallel_tool_calls")),
)

# The fields of Mistral's ChatCompletionRequest and of its messages (the schema forbids any other).
_MISTRAL_FIELDS = (
    "model",
    "temperature",
    "top_p",
    "max_tokens",
    "stream",
    "stop",
    "random_seed",
    "metadata",
    "messages",
    "response_format",
    "tools",
    "tool_choice",
    "presence_penalty",
    "frequency_penalty",
    "n",
    "prediction",
    "parallel_tool_calls",
    "prompt_mode",
    "reasoning_effort",
    "guardrails",
    "prompt_cache_key",
    "service_tier",
    "safe_prompt",
)
_MISTRAL_MESSAGES = {
    "system": ("role", "content"),
    "user": ("role", "content"),
    "assistant": ("role", "content", "tool_calls", "prefix"),
    "tool": ("role", "content", "tool_call_id", "name"),
}
_MISTRAL_PARTS = ("text", "image_url", "document_url", "reference", "file", "thinking", "input_audio")

# Gemini's Schema object: the keywords a function's parameters may use.
_GEMINI_KEYWORDS = (
    "type",
    "format",
    "title",
    "description",
    "nullable",
    "enum",
    "maxItems",
    "minItems",
    "properties",
    "required",
    "minProperties",
    "maxProperties",
    "minLength",
    "maxLength",
    "pattern",
    "example",
    "anyOf",
    "propertyOrdering",
    "default",
    "items",
    "minimum",
    "maximum",
)


def _local(profile: str, model: str, docs: str, error: ErrorShape) -> Rules:
    schema = openai_schema(strict=False, waived=["stop"], waived_by=docs)
    return Rules(profile, model, (schema, _PAIRED, system_only_first(_QWEN_TEMPLATE)), error)


RULES: dict[str, Rules] = {
    "generic": Rules("generic", "gpt-4.1", _OPENAI_RULES, openai_error),
    "openai": Rules("openai", "o4-mini", _OPENAI_RULES, openai_error, also=("gpt-5", "gpt-4.1")),
    "azure": Rules(
        "azure",
        "gpt-4.1",
        (*_OPENAI_RULES, azure_deployment(_AZURE_DOCS)),
        openai_error,
        config={"api_version": "2024-10-21"},
    ),
    "openrouter": Rules(
        "openrouter",
        "anthropic/claude-sonnet-4.5",
        (
            # Parameters a model lacks are ignored, not refused.
            openai_schema(strict=False),
            # "Stop sequences (up to 4)", as OpenAI's schema.
            at_most_stops(_OPENROUTER_STOP, 4),
            _PAIRED,
            bearer_key("https://openrouter.ai/docs/api-reference/authentication"),
            # `reasoning` takes an effort or a token budget, not both.
            Rule(
                "reasoning has effort or max_tokens, not both",
                _OPENROUTER_REASONING,
                lambda sent: (
                    ["reasoning: both effort and max_tokens"]
                    if {"effort", "max_tokens"} <= set(sent.body.get("reasoning") or {})
                    else []
                ),
            ),
        ),
        openai_error,
        also=("openai/gpt-5", "deepseek/deepseek-r1", "google/gemini-2.5-pro"),
    ),
    "deepseek": Rules(
        "deepseek",
        "deepseek-reasoner",
        (
            openai_schema(strict=False, waived=["stop"], waived_by=_DEEPSEEK_API),
            _PAIRED,
            bearer_key(_DEEPSEEK_API),
            # The models read text only: a content part is text.
            part_types(_DEEPSEEK_API, ["text"]),
            at_most_stops(_DEEPSEEK_API, 16),
            when_model("deepseek-reasoner|deepseek-v4", reasoning_on_tool_turns(_DEEPSEEK_THINKING)),
        ),
        openai_error,
        also=("deepseek-chat", "deepseek-v4-pro"),
    ),
    "gemini": Rules(
        "gemini",
        "gemini-2.5-pro",
        (
            # Unknown fields are refused ("Invalid JSON payload received. Unknown name ..."); tool calls
            # may carry Google's thought signature in `extra_content`.
            openai_schema(
                strict=True,
                extensions=["messages[].tool_calls[].extra_content"],
                waived=["stop"],
                waived_by=_GEMINI_STOPS,
            ),
            _PAIRED,
            without(_GEMINI_DOCS, "user", "logit_bias", "logprobs", "top_logprobs", "web_search_options"),
            at_most_stops(_GEMINI_STOPS, 5),
            tool_names(_GEMINI_FUNCTION, r"[a-zA-Z_][a-zA-Z0-9_.:-]{0,63}"),
            parameter_keywords(_GEMINI_SCHEMA, _GEMINI_KEYWORDS),
            # Gemini 3 refuses a function call in the history without its thought signature (a
            # documented placeholder stands in for calls that never had one).
            when_model(r"gemini-[3-9]", thought_signatures(_GEMINI_SIGNATURES)),
        ),
        gemini_error,
        also=("gemini-3-pro-preview", "gemini-2.5-flash"),
    ),
    "groq": Rules(
        "groq",
        "qwen/qwen3-32b",
        (
            # reasoning_effort takes Groq's own values per model (below).
            openai_schema(strict=True, waived=["reasoning_effort"], waived_by=_GROQ_REASONING),
            _PAIRED,
            without(_GROQ_DOCS, "logprobs", "logit_bias", "top_logprobs"),
            without_message_field(_GROQ_DOCS, "name"),
            n_is_one(_GROQ_DOCS),
            # Qwen 3 takes "none" or "default"; the gpt-oss models low, medium or high.
            when_model("qwen3", allowed_values(_GROQ_REASONING, "reasoning_effort", ["none", "default"])),
            when_model("gpt-oss", allowed_values(_GROQ_REASONING, "reasoning_effort", ["low", "medium", "high"])),
        ),
        openai_error,
        also=("openai/gpt-oss-120b", "llama-3.3-70b-versatile"),
    ),
    "mistral": Rules(
        "mistral",
        "mistral-large-latest",
        (
            # Mistral publishes its own schema, which departs from OpenAI's (tool messages take
            # content chunks, tool_choice "any", temperature up to 1.5, any number of stops): its
            # fields, message fields and part types are checked instead of OpenAI's schema.
            only_fields(_MISTRAL_SPEC, _MISTRAL_FIELDS),
            message_fields(_MISTRAL_SPEC, _MISTRAL_MESSAGES),
            part_types(_MISTRAL_SPEC, _MISTRAL_PARTS),
            tool_call_ids(_MISTRAL_TOOLS, r"[a-zA-Z0-9]{9}"),
            tool_results_follow_calls(_MISTRAL_VALIDATOR),
            no_user_after_tool(_MISTRAL_VALIDATOR),
            # "Expected last role User or Tool (or Assistant with prefix True) for serving".
            last_role(_MISTRAL_VALIDATOR, ["user", "tool"]),
            at_most(_MISTRAL_SPEC, "temperature", 1.5),
        ),
        mistral_error,
        also=("devstral-medium-latest", "mistral-medium-latest"),
    ),
    "xai": Rules(
        "xai",
        "grok-4",
        (
            openai_schema(strict=False),
            at_most_stops(_XAI_API, 4),
            _PAIRED,
            # Reasoning models refuse presence_penalty, frequency_penalty and stop; only grok-3-mini
            # takes reasoning_effort.
            when_model(
                r"^grok-(3-mini|4|code)(?!.*non-reasoning)",
                without(_XAI_REASONING, "presence_penalty", "frequency_penalty", "stop"),
            ),
            when_model(r"^grok-(4|code)", without(_XAI_REASONING, "reasoning_effort")),
        ),
        openai_error,
        also=("grok-3-mini", "grok-4-fast-non-reasoning", "grok-code-fast-1"),
    ),
    "together": Rules(
        "together",
        "Qwen/Qwen3-Coder-480B-A35B-Instruct-FP8",
        (openai_schema(strict=False, waived=["stop"], waived_by=_TOGETHER_API), _PAIRED, bearer_key(_TOGETHER_API)),
        openai_error,
    ),
    # Local servers take any number of stop sequences; the chat template of the model they serve
    # decides the rest (Qwen's refuses a system message after the first message).
    "ollama": _local("ollama", "qwen3:8b", _OLLAMA_DOCS, openai_error),
    "vllm": _local("vllm", "Qwen/Qwen3-8B", _VLLM_DOCS, vllm_error),
    "llamacpp": _local("llamacpp", "qwen3-8b", _LLAMACPP_DOCS, openai_error),
    "lmstudio": _local("lmstudio", "qwen/qwen3-8b", _LMSTUDIO_DOCS, lmstudio_error),
}
