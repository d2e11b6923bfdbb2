"""What the proxy knows about an upstream model: its window, output limit, vision, tool calling,
thinking and prices from the kept dataset (`providers.model_catalog`, models.dev), and from one
small table what no dataset says: OpenAI's API rules for its reasoning models, whether the model
takes a reasoning control, parallel tool calls, and the tokenizer.

The table is matched on the name's last path segment, lower-cased (`openai/gpt-4o`,
`accounts/x/models/qwen3-coder` and `ft:gpt-4o:org` are `gpt-4o`, `qwen3-coder` and `gpt-4o`); the
first row that matches wins. The config file's `[models."name"]` and `[[routes]]` entries override
single facts (see `config.proxy_config.ModelEntry` and `services.routing`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Final, Literal

from provider_proxy.providers.model_catalog import CatalogEntry, lookup

Encoding = Literal["o200k_base", "cl100k_base"]
# Output tokens asked for when nothing is known about the model.
DEFAULT_OUTPUT_LIMIT: Final = 16_384


@dataclass(frozen=True, slots=True)
class Prices:
    """Dollars per million tokens; cache reads without a price of their own cost the input price."""

    input_per_mtok: float = 0.0
    output_per_mtok: float = 0.0
    cache_read_per_mtok: float | None = None

    def cost(self, input_tokens: int, output_tokens: int, cache_read_tokens: int) -> float:
        cache = self.input_per_mtok if self.cache_read_per_mtok is None else self.cache_read_per_mtok
        total = input_tokens * self.input_per_mtok + output_tokens * self.output_per_mtok + cache_read_tokens * cache
        return total / 1_000_000


@dataclass(frozen=True, slots=True)
class ModelFacts:
    # The most output tokens the model accepts; None when unknown.
    max_output_tokens: int | None = None
    # The context window in tokens (input and output together); None when unknown.
    context_window: int | None = None
    # The most input tokens, where the provider limits input apart from the window (gpt-5: 272k of 400k).
    max_input_tokens: int | None = None
    # Takes images; takes tools; thinks before answering (the dataset's "reasoning"). None: unknown.
    vision: bool | None = None
    tool_calling: bool | None = None
    thinking: bool | None = None
    # True: the model takes a reasoning control; None: unknown (the provider profile decides).
    reasoning: bool | None = None
    # OpenAI's reasoning models: `max_completion_tokens`, and no `temperature`, `top_p` or `stop`.
    openai_reasoning: bool = False
    # The name is one of OpenAI's models (OpenAI's API rules apply wherever it is served from OpenAI).
    openai_model: bool = False
    # False for models that reject `parallel_tool_calls` (OpenAI's o-series).
    parallel_tool_calls: bool = True
    # False for models that reject `stop` wherever they are served (xAI's reasoning models).
    stop_sequences: bool = True
    # The exact tokenizer for count_tokens; None: the calibrated estimate.
    tokenizer: Encoding | None = None
    prices: Prices | None = None
    # Where the dataset facts come from ("openai/gpt-4o" in models.dev); None: not in the dataset.
    catalog_id: str | None = None

    @property
    def input_window(self) -> int | None:
        """The most input tokens a request may carry."""
        return self.max_input_tokens or self.context_window


@dataclass(frozen=True, slots=True)
class _Rules:
    """What the dataset cannot say: API rules and the tokenizer."""

    reasoning: bool | None = None
    openai_reasoning: bool = False
    openai_model: bool = False
    parallel_tool_calls: bool = True
    stop_sequences: bool = True
    tokenizer: Encoding | None = None


_O200K: Final = "o200k_base"
_CL100K: Final = "cl100k_base"
_O_SERIES: Final = _Rules(
    reasoning=True, openai_reasoning=True, openai_model=True, parallel_tool_calls=False, tokenizer=_O200K
)

# (pattern on the normalised name, rules), first match wins.
_TABLE: Final[tuple[tuple[str, _Rules], ...]] = (
    (r"^(chatgpt-4o|gpt-4o|gpt-4\.1|gpt-4\.5|codex-)", _Rules(openai_model=True, tokenizer=_O200K)),
    (r"^(gpt-4|gpt-3\.5|gpt-35)", _Rules(openai_model=True, tokenizer=_CL100K)),
    (r"^gpt-5-chat", _Rules(openai_model=True, tokenizer=_O200K)),
    (r"^gpt-5", _Rules(reasoning=True, openai_reasoning=True, openai_model=True, tokenizer=_O200K)),
    (r"^o1-mini|^o[134]($|-)", _O_SERIES),
    (r"^o\d", _Rules(reasoning=True, openai_reasoning=True, openai_model=True, parallel_tool_calls=False)),
    (r"^gpt-oss", _Rules(reasoning=True, tokenizer=_O200K)),
    (r"deepseek-v4", _Rules(reasoning=True)),
    (r"gemini-(2\.5|[3-9])", _Rules(reasoning=True)),
    # xAI's reasoning models refuse `stop` (and the penalties, which the proxy never sends); only
    # grok-3-mini takes `reasoning_effort` (docs.x.ai, guides/reasoning).
    (r"grok-3-mini", _Rules(reasoning=True, stop_sequences=False)),
    (r"^grok-(4|code)(?!.*non-reasoning)", _Rules(stop_sequences=False)),
    (r"qwen3", _Rules(reasoning=True)),
)
_COMPILED: Final = tuple((re.compile(pattern), rules) for pattern, rules in _TABLE)
_NO_RULES: Final = _Rules()
_PREFIX: Final = re.compile(r"^ft:")


def normalised_name(model: str) -> str:
    """The part of an upstream model name the table matches: last path segment, lower case, no `ft:`."""
    return _PREFIX.sub("", model.strip().lower().rsplit("/", 1)[-1])


def _rules(model: str) -> _Rules:
    name = normalised_name(model)
    return next((rules for pattern, rules in _COMPILED if pattern.search(name)), _NO_RULES)


def _prices(entry: CatalogEntry) -> Prices | None:
    if entry.input_per_mtok is None and entry.output_per_mtok is None:
        return None
    return Prices(entry.input_per_mtok or 0.0, entry.output_per_mtok or 0.0, entry.cache_read_per_mtok)


@lru_cache(maxsize=1024)
def model_facts(model: str, provider_kind: str | None = None) -> ModelFacts:
    """What the dataset and the table know of `model` served by a provider of `provider_kind` (a
    profile kind: the provider's own limits are preferred); every fact unknown when neither knows it."""
    rules = _rules(model)
    entry = lookup(model, provider_kind)
    if entry is None:
        return ModelFacts(
            reasoning=rules.reasoning,
            openai_reasoning=rules.openai_reasoning,
            openai_model=rules.openai_model,
            parallel_tool_calls=rules.parallel_tool_calls,
            stop_sequences=rules.stop_sequences,
            tokenizer=rules.tokenizer,
        )
    return ModelFacts(
        max_output_tokens=entry.max_output_tokens,
        context_window=entry.context_window,
        max_input_tokens=entry.max_input_tokens,
        vision=entry.vision,
        tool_calling=entry.tool_calling,
        thinking=entry.thinking,
        reasoning=rules.reasoning,
        openai_reasoning=rules.openai_reasoning,
        openai_model=rules.openai_model,
        parallel_tool_calls=rules.parallel_tool_calls,
        stop_sequences=rules.stop_sequences,
        tokenizer=rules.tokenizer,
        prices=_prices(entry),
        catalog_id=entry.id,
    )
