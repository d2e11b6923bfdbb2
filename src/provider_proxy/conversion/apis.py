"""Which object speaks each upstream API (`ProviderProfile.api`): the one table of the seam described in
`conversion.upstream_api`. A new upstream API is a module with its object and one line here."""

from __future__ import annotations

from typing import Any, Final

from provider_proxy.config.provider import Provider
from provider_proxy.conversion.anthropic_api import AnthropicMessagesApi
from provider_proxy.conversion.chat_api import ChatCompletionsApi
from provider_proxy.conversion.responses_api import ResponsesApi
from provider_proxy.conversion.upstream_api import UpstreamApi

APIS: Final[dict[str, UpstreamApi[Any]]] = {
    "chat": ChatCompletionsApi(),
    "responses": ResponsesApi(),
    "anthropic": AnthropicMessagesApi(),
}


def upstream_api(provider: Provider) -> UpstreamApi[Any]:
    """The object that speaks `provider`'s API."""
    return APIS[provider.profile.api]
