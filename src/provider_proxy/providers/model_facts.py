"""What the proxy knows about an upstream model, from one table: output limit, reasoning support,
OpenAI's reasoning-model parameter rules, parallel tool calls and the tokenizer.

Every fact about a model family lives in one row, so the limit, the reasoning control and the
token counter can never disagree about which family a name belongs to. Names are matched on their
last path segment, lower-cased (`openai/gpt-4o`, `accounts/x/models/qwen3-coder` and `ft:gpt-4o:org`
are `gpt-4o`, `qwen3-coder` and `gpt-4o`); the first row that matches wins. The config file's
`[models."name"]` and `[[routes]]` entries override single facts (see `services.routing`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal

Encoding = Literal["o200k_base", "cl100k_base"]
# Output tokens asked for when nothing is known about the model.
DEFAULT_OUTPUT_LIMIT: Final = 16_384


@dataclass(frozen=True, slots=True)
class ModelFacts:
    # The most output tokens the model accepts; None when unknown.
    max_output_tokens: int | None = None
    # The input window in tokens; None when unknown.
    context_window: int | None = None
    # True: the model takes a reasoning control; None: unknown (the provider profile decides).
    reasoning: bool | None = None
    # OpenAI's reasoning models: `max_completion_tokens`, and no `temperature`, `top_p` or `stop`.
    openai_reasoning: bool = False
    # False for models that reject `parallel_tool_calls` (OpenAI's o-series).
    parallel_tool_calls: bool = True
    # The exact tokenizer for count_tokens; None: the calibrated estimate.
    tokenizer: Encoding | None = None


_O200K: Final = "o200k_base"
_CL100K: Final = "cl100k_base"

# (pattern on the normalised name, facts), first match wins.
_TABLE: Final[tuple[tuple[str, ModelFacts], ...]] = (
    (r"^(chatgpt-4o|gpt-4o)", ModelFacts(max_output_tokens=16_384, tokenizer=_O200K)),
    (r"^gpt-4\.1", ModelFacts(max_output_tokens=32_768, tokenizer=_O200K)),
    (r"^gpt-4\.5", ModelFacts(tokenizer=_O200K)),
    (r"^gpt-4(-turbo.*|(-\d+)?)$", ModelFacts(max_output_tokens=4_096, tokenizer=_CL100K)),
    (r"^gpt-4", ModelFacts(tokenizer=_CL100K)),
    (r"^(gpt-3\.5|gpt-35)", ModelFacts(max_output_tokens=4_096, tokenizer=_CL100K)),
    (r"^gpt-5-chat", ModelFacts(max_output_tokens=128_000, tokenizer=_O200K)),
    (r"^gpt-5", ModelFacts(max_output_tokens=128_000, reasoning=True, openai_reasoning=True, tokenizer=_O200K)),
    (
        r"^o1-mini",
        ModelFacts(
            max_output_tokens=65_536,
            reasoning=True,
            openai_reasoning=True,
            parallel_tool_calls=False,
            tokenizer=_O200K,
        ),
    ),
    (
        r"^o[134]($|-)",
        ModelFacts(
            max_output_tokens=100_000,
            reasoning=True,
            openai_reasoning=True,
            parallel_tool_calls=False,
            tokenizer=_O200K,
        ),
    ),
    (r"^o\d", ModelFacts(max_output_tokens=100_000, reasoning=True, openai_reasoning=True, parallel_tool_calls=False)),
    (r"^gpt-oss", ModelFacts(max_output_tokens=32_768, reasoning=True, tokenizer=_O200K)),
    (r"^codex-", ModelFacts(tokenizer=_O200K)),
    (r"deepseek-reasoner", ModelFacts(max_output_tokens=65_536)),
    (r"deepseek-v4", ModelFacts(max_output_tokens=8_192, reasoning=True)),
    (r"deepseek", ModelFacts(max_output_tokens=8_192)),
    (r"gemini-(2\.5|[3-9])", ModelFacts(max_output_tokens=65_536, reasoning=True)),
    (r"gemini", ModelFacts(max_output_tokens=8_192)),
    (r"claude", ModelFacts(max_output_tokens=64_000)),
    (r"grok-4", ModelFacts(max_output_tokens=64_000)),
    (r"grok-3-mini", ModelFacts(reasoning=True)),
    (r"qwen3-coder", ModelFacts(max_output_tokens=65_536, reasoning=True)),
    (r"qwen3", ModelFacts(reasoning=True)),
    (r"kimi-k2", ModelFacts(max_output_tokens=16_384)),
)
_COMPILED: Final = tuple((re.compile(pattern), facts) for pattern, facts in _TABLE)
_UNKNOWN: Final = ModelFacts()
_PREFIX: Final = re.compile(r"^ft:")


def normalised_name(model: str) -> str:
    """The part of an upstream model name the table matches: last path segment, lower case, no `ft:`."""
    return _PREFIX.sub("", model.strip().lower().rsplit("/", 1)[-1])


def model_facts(model: str) -> ModelFacts:
    """What the table knows of `model`; every fact unknown when no row matches."""
    name = normalised_name(model)
    for pattern, facts in _COMPILED:
        if pattern.search(name):
            return facts
    return _UNKNOWN
