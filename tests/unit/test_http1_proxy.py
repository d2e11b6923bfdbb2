"""Proxy URLs, HTTPS_PROXY / HTTP_PROXY / NO_PROXY rules, and the absolute-form head: pure, no proxy running."""

from __future__ import annotations

import base64

import pytest

from provider_proxy.services.http1 import HttpClient, ProxyConfigError, prepare
from provider_proxy.services.http1.target import absolute_form
from provider_proxy.utils.proxy import ProxyRules, is_exempt, parse_no_proxy, parse_proxy, redact_url


def test_a_proxy_url_gives_host_port_and_basic_credentials_that_repr_never_shows() -> None:
    proxy = parse_proxy("http://alice:p%40ss%3Aword@proxy.corp:3128")
    assert (proxy.host, proxy.port, proxy.url) == ("proxy.corp", 3128, "http://proxy.corp:3128")
    assert proxy.authorization == b"Proxy-Authorization: Basic " + base64.b64encode(b"alice:p@ss:word") + b"\r\n"
    assert repr(proxy) == "Proxy('http://proxy.corp:3128', with credentials)"
    assert "ss" not in str(proxy) + repr(proxy)
    assert parse_proxy("proxy.corp:8080").url == "http://proxy.corp:8080"  # no scheme: http, as curl reads it
    assert parse_proxy("http://[fd00::1]").url == "http://[fd00::1]:80"
    assert parse_proxy("http://proxy.corp/").authorization == b""


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("https://bob:hunter2@proxy.corp:443", "only http:// proxies"),
        ("socks5://bob:hunter2@proxy.corp:1080", "only http:// proxies"),
        ("http://bob:hunter2@proxy.corp:port", "not a valid proxy URL"),
        ("http://bob:hunter2@proxy.corp:3128/path", "not a valid proxy URL"),
        ("http://bob:hunter2@:3128", "not a valid proxy URL"),
    ],
)
def test_an_unusable_proxy_url_is_refused_naming_its_source_and_hiding_its_password(value: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem) as caught:
        parse_proxy(value, "HTTPS_PROXY")
    assert str(caught.value).startswith("HTTPS_PROXY='")
    assert "hunter2" not in str(caught.value) and "***@" in str(caught.value)
    with pytest.raises(ProxyConfigError, match=problem) as refused:
        HttpClient(connect_timeout=1, read_timeout=1, proxy=value)
    assert "hunter2" not in str(refused.value)


def test_redact_url_hides_userinfo_only() -> None:
    assert redact_url("http://u:p@h:1") == "http://***@h:1"
    assert redact_url("u:p@h:1") == "***@h:1"
    assert redact_url("http://h:1/a@b") == "http://h:1/a@b"


@pytest.mark.parametrize(
    ("no_proxy", "host", "port", "exempt"),
    [
        ("*", "api.openai.com", 443, True),
        ("openai.com", "api.openai.com", 443, True),
        ("openai.com", "openai.com", 443, True),
        (".openai.com", "api.openai.com", 443, True),
        ("*.openai.com", "openai.com", 443, True),
        ("openai.com", "notopenai.com", 443, False),
        ("OpenAI.COM.", "api.openai.com", 443, True),
        ("openai.com:8443", "api.openai.com", 443, False),
        ("openai.com:8443", "api.openai.com", 8443, True),
        ("localhost, 127.0.0.1", "127.0.0.1", 11434, True),
        ("localhost 127.0.0.1", "localhost", 11434, True),
        ("10.0.0.0/8", "10.1.2.3", 80, True),
        ("10.0.0.0/8", "11.1.2.3", 80, False),
        ("10.0.0.0/8", "ten.example", 80, False),
        ("::1", "::1", 80, True),
        ("[::1]:8080", "::1", 8080, True),
        ("[::1]:8080", "::1", 8081, False),
        ("fd00::/8", "fd12::3", 443, True),
        ("fd00::/8", "10.0.0.1", 443, False),
        ("", "api.openai.com", 443, False),
        (" , ,", "api.openai.com", 443, False),
    ],
)
def test_no_proxy_entries_match_like_curl(no_proxy: str, host: str, port: int, exempt: bool) -> None:
    assert is_exempt(parse_no_proxy(no_proxy), host, port) is exempt


def test_the_environment_lowercase_first_empty_unset_and_no_capital_http_proxy_under_cgi() -> None:
    environ = {"https_proxy": "http://lower:1", "HTTPS_PROXY": "http://upper:2", "HTTP_PROXY": "http://plain:3"}
    rules = ProxyRules(environ=environ)
    assert str(rules.select("https", "api.example.com", 443)) == "http://lower:1"
    assert str(rules.select("http", "api.example.com", 80)) == "http://plain:3"
    rules = ProxyRules(environ={"https_proxy": " ", "HTTPS_PROXY": "http://upper:2"})
    assert str(rules.select("https", "api.example.com", 443)) == "http://upper:2"
    cgi = ProxyRules(environ={"HTTP_PROXY": "http://from-a-header:3", "REQUEST_METHOD": "POST"})
    assert cgi.select("http", "api.example.com", 80) is None
    assert (
        ProxyRules(environ={"https_proxy": "http://p:1", "no_proxy": "example.com"}).select(
            "https", "api.example.com", 443
        )
        is None
    )


def test_an_explicit_proxy_serves_every_origin_and_ignores_the_environment() -> None:
    rules = ProxyRules("http://fixed:3128", {"NO_PROXY": "*", "HTTPS_PROXY": "http://other:1"})
    assert str(rules.select("https", "api.example.com", 443)) == "http://fixed:3128"
    assert str(rules.select("http", "localhost", 11434)) == "http://fixed:3128"


async def test_a_bad_proxy_variable_fails_the_requests_it_applies_to_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "socks5h://carol:opensesame@proxy.corp:1080")
    http = HttpClient(connect_timeout=1, read_timeout=1)
    try:
        with pytest.raises(ProxyConfigError, match=r"^HTTPS_PROXY='socks5h://\*\*\*@proxy.corp:1080': only http://"):
            await http.request(prepare("POST", "https://api.example.com/v1", []), b"{}")
        assert "opensesame" not in repr(http)
    finally:
        await http.close()


def test_a_plain_http_request_through_a_proxy_names_the_whole_url_and_carries_the_credentials() -> None:
    target = prepare("POST", "http://ollama.lan:11434/v1/chat/completions?x=1", [("Authorization", "Bearer k")])
    head = absolute_form(target, parse_proxy("http://u:p@proxy:3128"))
    lines = head.split(b"\r\n")
    assert lines[0] == b"POST http://ollama.lan:11434/v1/chat/completions?x=1 HTTP/1.1"
    assert lines[1] == b"Proxy-Authorization: Basic " + base64.b64encode(b"u:p")
    assert lines[2:] == target.head.split(b"\r\n")[1:]
    assert absolute_form(target, parse_proxy("http://proxy:3128")).split(b"\r\n")[1] == b"Host: ollama.lan:11434"
