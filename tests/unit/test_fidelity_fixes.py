"""Small fidelity fixes: what the proxy cannot send it says so (in the prompt and in the request's notes),
and OpenAI's parameter rules follow OpenAI's model names under the generic profile."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from provider_proxy.conversion.request import to_openai
from provider_proxy.models.anthropic import MessagesRequest
from provider_proxy.providers.model_facts import model_facts
from provider_proxy.providers.profiles import PROFILES
from tests.unit.golden import FIXTURES, load, route_for
from tests.unit.test_profiles_and_facts import config_with


def translate(case: str):  # type: ignore[no-untyped-def]
    folder = FIXTURES / "translation" / case
    request = msgspec.convert(load(folder / "request.json"), MessagesRequest)
    return to_openai(request, route_for(load(folder / "route.json")))


def test_a_pdf_url_that_is_not_sent_leaves_a_note_for_the_log() -> None:
    notes = translate("document_pdf_url_not_sent_to_openai_with_note").notes
    assert any("document given by URL was not sent" in note for note in notes)


def test_a_pdf_url_passed_on_leaves_no_note() -> None:
    assert translate("document_pdf_url_passed_as_file_url_to_openrouter").notes == ()


def test_tool_choice_naming_a_server_tool_is_noted_and_sent_as_auto() -> None:
    translation = translate("tool_choice_server_tool_is_not_forced_onto_client_tools")
    assert translation.body["tool_choice"] == "auto"
    assert any("server tool 'web_search'" in note for note in translation.notes)


def test_trimmed_stop_sequences_are_noted() -> None:
    notes = translate("generic_profile_openai_model_stop_sequences_capped_at_four").notes
    assert notes == ("kept the first 4 of 6 stop sequences (provider limit)",)


@pytest.mark.parametrize(
    ("model", "openai"),
    [("gpt-5-mini", True), ("openai/o3", True), ("gpt-4.1", True), ("gpt-oss-120b", False), ("qwen3-coder", False)],
)
def test_openai_model_names_are_known_as_openai_models(model: str, openai: bool) -> None:
    facts = model_facts(model)
    assert facts.openai_model is openai
    assert PROFILES["generic"].openai_rules(facts) is openai
    assert PROFILES["vllm"].openai_rules(facts) is False  # a local server serving gpt-oss is not OpenAI


def test_document_urls_can_be_switched_on_from_the_config_file(tmp_path: Path) -> None:
    config = config_with(
        tmp_path,
        '[providers.gw]\nbase_url = "http://gw.invalid/v1"\n[providers.gw.profile]\ndocument_urls = true\n',
    )
    assert config.providers["gw"].profile.document_urls is True
