"""OpenAI's Responses API as an upstream (a provider entry's `api = "responses"`): the request translated
(`conversion.responses_request`), the answer translated back (`conversion.responses_response`), the
stream through its translator (`conversion.responses_stream`). The key, the headers and error statuses
are as for Chat Completions. See `conversion.upstream_api` for the seam it fills.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from provider_proxy.config.provider import Provider, Route
from provider_proxy.conversion.chat_api import OpenAIFamily, TranslatedCall, estimate_input_tokens
from provider_proxy.conversion.responses_request import ResponsesTranslation, to_responses
from provider_proxy.conversion.responses_response import decode_response, to_anthropic
from provider_proxy.conversion.responses_stream import ResponsesPipeline, ResponsesStreamTranslator, error_at_start
from provider_proxy.conversion.upstream_api import ClientRequest, Reply
from provider_proxy.errors import UpstreamError


@dataclass(slots=True)
class ResponsesCall(TranslatedCall[ResponsesTranslation]):
    """A Responses API request for one target: the translation and the body sent."""


class ResponsesApi(OpenAIFamily):
    def url(self, provider: Provider, model: str) -> str:
        return provider.responses_url

    def prepare(self, request: ClientRequest, route: Route) -> ResponsesCall:
        translation = to_responses(request.typed, route)
        return ResponsesCall(translation, orjson.dumps(translation.body), request.typed.model)

    def decode(self, raw: bytes, prepared: ResponsesCall, secrets: tuple[str, ...]) -> Reply:
        response = decode_response(raw, secrets)
        estimate = 0 if response.usage else estimate_input_tokens(prepared.body)
        message = to_anthropic(response, prepared.requested, prepared.translation, estimate)
        return Reply(orjson.dumps(message), message["usage"], message["stop_reason"])

    def relay(self, prepared: ResponsesCall, secrets: tuple[str, ...], label: str) -> ResponsesPipeline:
        translator = ResponsesStreamTranslator(
            prepared.requested, prepared.translation, estimate_input_tokens(prepared.body)
        )
        return ResponsesPipeline(translator, secrets, label)

    def failure_at_start(self, raw: bytes, secrets: tuple[str, ...]) -> UpstreamError | None:
        return error_at_start(raw, secrets)
