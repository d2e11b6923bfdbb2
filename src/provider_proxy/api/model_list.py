"""`GET /v1/models` and `GET /v1/models/{id}` in Anthropic's shape: the Claude family names and the
config file's routes, each with the routed model's input window and output limit (`max_input_tokens`,
`max_tokens`). Claude Code reads the list for its model picker (with gateway model discovery on); the
SDKs' `models.list()` / `models.retrieve()` read it as they read Anthropic's."""

from __future__ import annotations

from typing import Final

import orjson
from starlette.requests import Request
from starlette.responses import Response

from provider_proxy.api.context import Answer, ProxyState
from provider_proxy.api.responses import JSON
from provider_proxy.config.provider import Route
from provider_proxy.errors import invalid_request
from provider_proxy.models.anthropic_output import ModelInfo, ModelList
from provider_proxy.services.served_models import is_pattern, served_models
from provider_proxy.services.usage.record import RequestRecord

PREFIX: Final = "/v1/models/"
# Release dates are not known for routes: Anthropic's API allows the epoch then.
_UNKNOWN_DATE: Final = "1970-01-01T00:00:00Z"
_DEFAULT_LIMIT: Final = 20


def model_info(model_id: str, route: Route) -> ModelInfo:
    targets = " | ".join(target.label for target in route.targets)
    return {
        "type": "model",
        "id": model_id,
        "display_name": model_id if model_id == route.label else f"{model_id} -> {targets}",
        "created_at": _UNKNOWN_DATE,
        "lifecycle": "active",
        "max_input_tokens": route.facts.input_window,
        "max_tokens": route.max_output_tokens,
        "max_output_tokens": route.max_output_tokens,
    }


def _limit(request: Request) -> int:
    raw = request.query_params.get("limit", str(_DEFAULT_LIMIT))
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= 1000:
        raise invalid_request(f"limit: must be a number from 1 to 1000 (got {raw!r})")
    return int(raw)


async def list_models(request: Request, state: ProxyState, record: RequestRecord) -> Answer:
    models = [
        model_info(served.id, served.route)
        for served in served_models(state.config, state.router)
        if not is_pattern(served.id)
    ]
    models = list({model["id"]: model for model in models}.values())
    ids = [model["id"] for model in models]
    start, end = 0, len(models)
    if (after := request.query_params.get("after_id")) in ids:
        start = ids.index(after) + 1
    if (before := request.query_params.get("before_id")) in ids:
        end = ids.index(before)
    limit = _limit(request)
    page = models[start:end]
    shown = page[-limit:] if before and not after else page[:limit]
    body: ModelList = {
        "data": shown,
        "first_id": shown[0]["id"] if shown else None,
        "last_id": shown[-1]["id"] if shown else None,
        "has_more": len(shown) < len(page),
    }
    return Response(orjson.dumps(body), media_type=JSON)


async def get_model(request: Request, state: ProxyState, record: RequestRecord) -> Answer:
    """Any name the proxy would route: the listed ones, other Claude names (by family), `provider/model`
    and names passed through to the default provider."""
    model_id = request.url.path[len(PREFIX) :]
    if not model_id:
        raise invalid_request("GET /v1/models/{model_id}: the model id is missing")
    record.model = model_id
    return Response(orjson.dumps(model_info(model_id, state.router.resolve(model_id))), media_type=JSON)
