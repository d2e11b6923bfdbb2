"""Base URLs of providers, checked whole when the configuration loads.

A URL that cannot work (no host, a space, a port that is not a number in 1-65535) would otherwise
pass start-up and fail on the first request, or end `check` in a traceback.
"""

from __future__ import annotations

from urllib.parse import urlsplit


def base_url_problem(url: str) -> str | None:
    """What is wrong with `url` as a provider base URL, in words; None when it can be used."""
    if not url.startswith(("http://", "https://")):
        return "must start with http:// or https://"
    if any(c.isspace() or not c.isprintable() for c in url):
        return "must not contain spaces or control characters"
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        return f"is not a valid URL: {exc}"
    if not parts.hostname:
        return "has no host name, e.g. https://api.openai.com/v1"
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0:
        return f"port {parts.netloc.rpartition(':')[2]!r} is not a number from 1 to 65535"
    if parts.query or parts.fragment:
        return "must not have a query (?...) or fragment (#...); the proxy appends /chat/completions"
    return None
