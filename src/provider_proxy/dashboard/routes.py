"""`GET /metrics` (Prometheus text), `GET /dashboard` (the page), `GET /dashboard/data` (its JSON)
and the page's assets under `/dashboard/static/`.

When PROXY_API_KEY is set, /metrics, /dashboard and /dashboard/data require it, as x-api-key, a
Bearer token or (for a browser address bar) a `?key=` query parameter. The static assets hold no
data and are public.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import orjson
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from provider_proxy.api.auth import may_administer
from provider_proxy.api.context import ProxyState
from provider_proxy.api.responses import JSON, error_response
from provider_proxy.dashboard.data import dashboard_data
from provider_proxy.errors import ProxyError
from provider_proxy.services.metrics import CONTENT_TYPE
from provider_proxy.services.usage.period import PeriodError, parse_period
from provider_proxy.services.usage.record import new_request_id
from provider_proxy.services.usage.report import Pricing

STATIC: Final = Path(__file__).resolve().parent / "static"
_NO_STORE: Final = {"Cache-Control": "no-store"}


def dashboard_routes() -> list[BaseRoute]:
    return [
        Route("/metrics", metrics, methods=["GET"]),
        Route("/dashboard", page, methods=["GET"]),
        Route("/dashboard/data", data, methods=["GET"]),
        Mount("/dashboard/static", StaticFiles(directory=STATIC), name="dashboard-static"),
    ]


def _denied(request: Request) -> Response | None:
    """A 401 unless the request carries PROXY_API_KEY or an admin key (when keys are configured)."""
    state: ProxyState = request.app.state.proxy
    if may_administer(request, state.keys):
        return None
    message = (
        f"{request.url.path} requires PROXY_API_KEY or an admin key (keys create --admin): "
        "send it as x-api-key, a Bearer token or ?key=..."
    )
    return error_response(ProxyError("authentication_error", message), new_request_id())


async def metrics(request: Request) -> Response:
    state: ProxyState = request.app.state.proxy
    return _denied(request) or Response(state.recorder.metrics.render(), media_type=CONTENT_TYPE)


async def page(request: Request) -> Response:
    return _denied(request) or FileResponse(STATIC / "index.html", headers=_NO_STORE)


async def data(request: Request) -> Response:
    denied = _denied(request)
    if denied is not None:
        return denied
    state: ProxyState = request.app.state.proxy
    writer = state.recorder.writer
    if writer is None:
        message = "usage tracking is off (USAGE_TRACKING=false): there is nothing to show"
        return error_response(ProxyError("not_found_error", message), new_request_id())
    try:
        period = parse_period(request.query_params.get("since", "7d"), request.query_params.get("until"))
    except PeriodError as exc:
        return error_response(ProxyError("invalid_request_error", f"since/until: {exc}"), new_request_id())
    body = await dashboard_data(writer.store, period, Pricing.from_config(state.config))
    return Response(orjson.dumps(body), media_type=JSON, headers=_NO_STORE)
