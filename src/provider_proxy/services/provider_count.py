"""`/v1/messages/count_tokens` answered by the provider, for providers that have that endpoint
(`ProviderProfile.count_tokens`: Anthropic's API). A provider that fails or answers something else
leaves the count to the proxy (`services.token_counting`): count_tokens never fails for the upstream."""

from __future__ import annotations

import logging
from typing import Final

from provider_proxy.config.provider import Route
from provider_proxy.conversion.anthropic_api import count_tokens_call, counted_tokens
from provider_proxy.conversion.upstream_api import client_json_object
from provider_proxy.errors import UpstreamError
from provider_proxy.services.upstream import UpstreamClient

logger = logging.getLogger(__name__)

# IDE extensions call count_tokens in bursts and wait for it: a provider slower than this is not waited for.
COUNT_TIMEOUT: Final = 5.0


async def provider_count(upstream: UpstreamClient, route: Route, raw: bytes, betas: str) -> int | None:
    """The provider's count of the request's input tokens for the routed model, or None."""
    url, call = count_tokens_call(client_json_object(raw), raw, betas, route)
    try:
        answer = await upstream.post(route.provider, url, call.headers, call.body, COUNT_TIMEOUT)
    except UpstreamError as error:
        logger.info("count_tokens at %s failed (%s); counted locally", route.label, error.message)
        return None
    count = counted_tokens(answer)
    if count is None:
        logger.info("count_tokens at %s answered no input_tokens; counted locally", route.label)
    return count
