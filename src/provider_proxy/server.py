"""Serving the app with uvicorn: uvloop when installed, client connections with limits, no access log.

Log lines leave the request path: handlers run in a writer thread fed in batches (`utils.log_writer`),
so a request only pays for creating its log record (redaction, formatting and the write to stderr
happen after).
"""

from __future__ import annotations

import atexit
import functools
import gc
import importlib.util
import logging
import os
import signal
import socket
import threading
from types import FrameType
from typing import Any

import uvicorn

from provider_proxy.api.context import Lifecycle
from provider_proxy.app import ProxyApp, create_app
from provider_proxy.client_protocol import ClientLimits, ClientProtocol
from provider_proxy.config.proxy_config import build_config
from provider_proxy.config.settings import Settings
from provider_proxy.utils.log_writer import BatchWriter
from provider_proxy.utils.logging import configure_logging
from provider_proxy.workers import Supervisor, watch_parent

logger = logging.getLogger(__name__)


def _logging_off_request_path() -> None:
    """Move the root handlers configured by `configure_logging` behind a writer thread (`log_writer`)."""
    root = logging.getLogger()
    handlers = list(root.handlers)
    if not handlers:
        return
    for handler in handlers:
        root.removeHandler(handler)
    writer = BatchWriter(handlers)
    root.addHandler(writer)
    atexit.register(writer.close)


def client_limits(settings: Settings) -> ClientLimits:
    return ClientLimits(
        header_timeout=settings.client_header_timeout,
        body_timeout=settings.client_body_timeout,
        max_header_bytes=settings.client_max_header_bytes,
        max_headers=settings.client_max_headers,
    )


def server_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's options: client connections with limits (`client_protocol`), the grace period for
    in-flight requests at shutdown, uvloop, and no per-request extras."""
    # proxy_headers off: X-Forwarded-* rewriting is for deployments behind a proxy that needs it.
    options: dict[str, Any] = {"log_config": None, "access_log": False, "server_header": False, "proxy_headers": False}
    if importlib.util.find_spec("uvloop") is not None:
        options["loop"] = "uvloop"
    # A partial of a module-level class, not a class made here: `--workers` pickles the options.
    options["http"] = functools.partial(ClientProtocol, limits=client_limits(settings))
    options["timeout_keep_alive"] = settings.client_idle_timeout
    options["timeout_graceful_shutdown"] = settings.shutdown_grace
    return options


# Allocations between two young-generation collections (CPython's default is 700: a collection every
# request or two, each scanning the objects of every request in flight).
_YOUNG_THRESHOLD = 10_000


def _freeze_startup_objects() -> None:
    """Imports and set-up leave ~50 MB of objects that live as long as the process. Frozen, they are
    out of the collector's reach: a full collection then scans what requests created, not all of it.
    Young collections run less often: almost every object a request makes is freed by its reference
    count, so a collection finds little garbage and costs in proportion to what is still alive."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(_YOUNG_THRESHOLD, *gc.get_threshold()[1:])


def _configure_logging(level: str, secrets: tuple[str, ...]) -> None:
    configure_logging(level, secrets)
    _logging_off_request_path()


def run(settings: Settings) -> None:
    config = build_config(settings)
    _configure_logging(settings.log_level, config.secrets)
    default = config.providers["default"]
    logger.info(
        "serving on http://%s:%d; default provider %s (%s) at %s; opus -> %s, sonnet -> %s, haiku -> %s",
        settings.host,
        settings.port,
        default.name,
        default.profile.kind,
        default.base_url,
        settings.big_model,
        settings.sonnet_model,
        settings.small_model,
    )
    if settings.workers > 1:
        # uvicorn's socket binding (address family, SO_REUSEADDR, inheritable); the app is the workers'.
        bind = uvicorn.Config("provider_proxy.app:create_app", host=settings.host, port=settings.port, log_config=None)
        sock = bind.bind_socket()
        code = Supervisor(functools.partial(_serve_worker, settings, os.getpid()), sock, settings.workers).run()
        if code:
            raise SystemExit(code)
        return
    _serve(settings, create_app(settings, config))


def _serve(settings: Settings, app: ProxyApp, sockets: list[socket.socket] | None = None) -> None:
    """Serve `app` until a signal, draining first (DRAIN_SECONDS); on `sockets` when given (a worker)."""
    _freeze_startup_objects()
    server = DrainingServer(uvicorn.Config(app, host=settings.host, port=settings.port, **server_options(settings)))
    server.drain_seconds, server.lifecycle = settings.drain_seconds, app.state.proxy.lifecycle
    server.run(sockets)


def _serve_worker(settings: Settings, supervisor: int, sock: socket.socket) -> None:
    """A worker process (WORKERS above 1): the same settings, its own app, the supervisor's socket."""
    config = build_config(settings)
    _configure_logging(settings.log_level, config.secrets)
    watch_parent(supervisor)
    _serve(settings, create_app(settings, config), [sock])


class DrainingServer(uvicorn.Server):
    """uvicorn's server, with a drain period before it stops.

    The first SIGTERM (or SIGINT) marks the proxy as draining: `GET /ready` answers 503 while every
    request is still served, for `drain_seconds`, so a load balancer takes the replica out before its
    connections close. Then uvicorn's own shutdown: stop accepting, let in-flight requests and streams
    finish (at most SHUTDOWN_GRACE seconds), run the lifespan end (usage flushed). A second signal
    stops at once. A SIGTERM ends the process with exit code 0 once all that is done.
    """

    drain_seconds = 0.0
    lifecycle: Lifecycle | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        lifecycle = self.lifecycle
        if self.drain_seconds <= 0 or lifecycle is None or lifecycle.draining:
            super().handle_exit(sig, frame)
            return
        lifecycle.draining = True
        logger.info("draining: /ready answers 503; stopping in %gs (a second signal stops now)", self.drain_seconds)
        timer = threading.Timer(self.drain_seconds, super().handle_exit, (sig, frame))
        timer.daemon = True
        timer.start()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        await super().shutdown(sockets)
        # uvicorn raises a SIGTERM it caught again once it has shut down, which ends the process by the
        # signal: exit code 143 and no atexit, so the logging thread's last lines (the usage flush
        # included) were lost. The shutdown was clean: end normally, with 0.
        self._captured_signals = [sig for sig in self._captured_signals if sig != signal.SIGTERM]
