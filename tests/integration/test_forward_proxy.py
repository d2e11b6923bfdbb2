"""The upstream client through a real forward proxy (tinyproxy): CONNECT for https, absolute-form for http.

Each scenario runs on asyncio's loop and on uvloop (the loop the proxy serves on): the tunnel's TLS is
`loop.start_tls` on the tunnelled transport, which each loop implements on its own.
"""

from __future__ import annotations

import asyncio
import base64
import ssl
import traceback
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
import trustme
import uvloop

from provider_proxy.services.http1 import ConnectError, HttpClient, ProxyRefused, prepare
from tests.support.scripted_server import Server, answer, client, echo_forever, serve
from tests.support.tinyproxy import tinyproxy

Runner = Callable[[Coroutine[Any, Any, None]], None]
RUNNERS = [pytest.param(asyncio.run, id="asyncio"), pytest.param(uvloop.run, id="uvloop")]
USER, PASSWORD = "team", "s3cret.pw-1"
CREDENTIALS = f"{USER}:s3cret%2Epw-1"  # percent-encoded in the URL, as a password with reserved characters must be


class Tls:
    """A certificate authority the client trusts, and a server certificate for `localhost` from it."""

    def __init__(self) -> None:
        authority = trustme.CA()
        self.server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        authority.issue_cert("localhost").configure_cert(self.server)
        self.client = ssl.create_default_context()
        authority.configure_trust(self.client)


@pytest.fixture(scope="module")
def tls() -> Tls:
    return Tls()


def reply(body: bytes) -> bytes:
    return answer(b"upstream got " + body)


def url(server: Server, scheme: str, host: str = "localhost") -> str:
    return f"{scheme}://{host}:{server.port}/v1/chat/completions"


async def ask(http: HttpClient, address: str) -> bytes:
    response = await http.request(prepare("POST", address, [("Authorization", "Bearer sk-upstream")]), b"hi")
    assert response.status == 200
    return await response.read()


def never_shown(secret: str, *texts: str) -> None:
    encoded = base64.b64encode(f"{USER}:{secret}".encode()).decode()
    for text in texts:
        assert secret not in text and encoded not in text


@pytest.mark.parametrize("run", RUNNERS)
def test_an_http_target_is_asked_through_the_proxy_in_absolute_form(run: Runner) -> None:
    async def scenario() -> None:
        async with serve(echo_forever(reply)) as server:
            with tinyproxy([]) as proxy:
                async with client(proxy=proxy.url()) as http:
                    for _ in range(2):
                        assert await ask(http, url(server, "http", "127.0.0.1")) == b"upstream got hi"
                assert proxy.requests() == [f"POST {url(server, 'http', '127.0.0.1')} HTTP/1.1"] * 2
        head = server.requests[0][0]
        assert b"Via: 1.1 test-proxy" in head  # it came through the proxy
        assert b"Authorization: Bearer sk-upstream\r\n" in head

    run(scenario())


@pytest.mark.parametrize("run", RUNNERS)
def test_an_https_target_is_tunnelled_with_connect_and_verified_end_to_end(run: Runner, tls: Tls) -> None:
    async def scenario() -> None:
        async with serve(echo_forever(reply), tls.server) as server:
            with tinyproxy([server.port]) as proxy:
                async with client(proxy=proxy.url(), ssl_context=tls.client) as http:
                    for _ in range(3):
                        assert await ask(http, url(server, "https")) == b"upstream got hi"
                assert proxy.requests() == [f"CONNECT localhost:{server.port} HTTP/1.1"]  # one tunnel, kept alive
                assert server.connections == 1
                async with client(proxy=proxy.url()) as http:  # the default trust store does not know our CA
                    with pytest.raises(ConnectError, match=r"through proxy .*CERTIFICATE_VERIFY_FAILED"):
                        await ask(http, url(server, "https"))

    run(scenario())


def test_the_environment_chooses_the_proxy_and_no_proxy_exempts_hosts(
    monkeypatch: pytest.MonkeyPatch, tls: Tls
) -> None:
    async def scenario() -> None:
        async with serve(echo_forever(reply), tls.server) as secure, serve(echo_forever(reply)) as plain:
            with tinyproxy([secure.port]) as proxy:
                monkeypatch.setenv("HTTPS_PROXY", proxy.url())
                monkeypatch.setenv("http_proxy", proxy.url())
                monkeypatch.setenv("NO_PROXY", "example.com, 127.0.0.1")
                async with client(ssl_context=tls.client) as http:
                    monkeypatch.delenv("NO_PROXY")  # read once, when the client was made
                    assert await ask(http, url(secure, "https")) == b"upstream got hi"
                    assert await ask(http, url(plain, "http", "127.0.0.1")) == b"upstream got hi"
                assert proxy.requests() == [f"CONNECT localhost:{secure.port} HTTP/1.1"]
                assert b"Via:" not in plain.requests[0][0]  # 127.0.0.1 was exempt: asked directly
                monkeypatch.setenv("no_proxy", f"localhost:{secure.port}")
                async with client(ssl_context=tls.client) as http:
                    assert await ask(http, url(secure, "https")) == b"upstream got hi"
                    assert await ask(http, url(plain, "http", "127.0.0.1")) == b"upstream got hi"
                assert len(proxy.requests()) == 2  # only the http request was added
                async with client(ssl_context=tls.client, trust_env=False) as http:
                    assert await ask(http, url(plain, "http", "127.0.0.1")) == b"upstream got hi"
                assert len(proxy.requests()) == 2

    asyncio.run(scenario())


@pytest.mark.parametrize("run", RUNNERS)
def test_proxy_credentials_are_sent_and_never_shown(run: Runner, tls: Tls) -> None:
    async def scenario() -> None:
        async with serve(echo_forever(reply), tls.server) as secure, serve(echo_forever(reply)) as plain:
            with tinyproxy([secure.port], basic_auth=(USER, PASSWORD)) as proxy:
                async with client(proxy=proxy.url(CREDENTIALS), ssl_context=tls.client) as http:
                    assert await ask(http, url(secure, "https")) == b"upstream got hi"
                    assert await ask(http, url(plain, "http", "127.0.0.1")) == b"upstream got hi"
                    never_shown(PASSWORD, repr(http))
                assert b"Proxy-Authorization" not in plain.requests[0][0]  # the proxy keeps it to itself

                async with client(proxy=proxy.url(f"{USER}:wrong-guess"), ssl_context=tls.client) as http:
                    with pytest.raises(ProxyRefused, match=f"proxy http://127.0.0.1:{proxy.port} refused") as caught:
                        await ask(http, url(secure, "https"))
                    rendered = "".join(traceback.format_exception(caught.value))
                    never_shown("wrong-guess", str(caught.value), repr(caught.value), rendered, repr(http))

                async with client(proxy=proxy.url(), ssl_context=tls.client) as http:
                    for address in (url(secure, "https"), url(plain, "http", "127.0.0.1")):
                        with pytest.raises(ProxyRefused, match=r"407 .*needs user:password@") as refused:
                            await ask(http, address)
                        assert refused.value.status == 407

    run(scenario())


@pytest.mark.parametrize("run", RUNNERS)
def test_a_proxy_that_refuses_the_tunnel_is_a_clear_error(run: Runner, tls: Tls) -> None:
    async def scenario() -> None:
        async with serve(echo_forever(reply), tls.server) as server:
            with tinyproxy([server.port + 1]) as proxy:  # CONNECT allowed to another port only
                async with client(proxy=proxy.url(), ssl_context=tls.client) as http:
                    with pytest.raises(ProxyRefused, match=r"refused the connection to https://localhost:\d+: 403"):
                        await ask(http, url(server, "https"))
        assert server.connections == 0

    run(scenario())


@pytest.mark.parametrize("run", RUNNERS)
def test_a_proxy_that_is_down_is_a_connect_error_naming_it_without_credentials(run: Runner) -> None:
    async def scenario() -> None:
        async with serve(echo_forever(reply)) as gone:
            port = gone.port
        async with client(proxy=f"http://{USER}:{PASSWORD}@127.0.0.1:{port}") as http:
            for scheme in ("https", "http"):
                with pytest.raises(ConnectError) as caught:
                    await ask(http, f"{scheme}://api.example.com/v1/chat/completions")
                message = str(caught.value)
                assert message.startswith(
                    f"cannot connect to proxy http://127.0.0.1:{port} (for {scheme}://api.example.com:"
                )
                assert "Connection refused" in message
                assert caught.value.proxy == f"http://127.0.0.1:{port}"
                never_shown(PASSWORD, message, repr(caught.value), "".join(traceback.format_exception(caught.value)))

    run(scenario())
