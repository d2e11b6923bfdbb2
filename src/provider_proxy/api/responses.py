"""Rendering an error: the one place a `ProxyError` becomes an HTTP response."""

from __future__ import annotations

from starlette.responses import Response

from provider_proxy.errors import ProxyError, error_body

JSON = "application/json"


def error_response(error: ProxyError, request_id: str) -> Response:
    headers = {**error.headers, "request-id": request_id}
    return Response(error_body(error), status_code=error.status, media_type=JSON, headers=headers)
