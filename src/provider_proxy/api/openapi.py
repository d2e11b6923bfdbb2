"""`GET /openapi.json`: the OpenAPI 3.1 description of the API this proxy serves (shipped beside this
module as `openapi.json`), for API tools and client generators. Read from the package once."""

from __future__ import annotations

from functools import cache
from importlib.resources import files

from starlette.requests import Request
from starlette.responses import Response

from provider_proxy.api.context import Answer, ProxyState
from provider_proxy.api.responses import JSON
from provider_proxy.services.usage.record import RequestRecord


@cache
def description() -> bytes:
    return files("provider_proxy.api").joinpath("openapi.json").read_bytes()


async def openapi(request: Request, state: ProxyState, record: RequestRecord) -> Answer:
    return Response(description(), media_type=JSON)
