"""Several worker processes on one listening socket (`WORKERS` above 1), each draining like one process.

uvicorn's own supervisor gives its workers a plain server: on SIGTERM each worker closed its idle
keep-alive connections and stopped at once, with no drain period, so a load balancer that had just
sent a request on such a connection got no answer. This supervisor is small on purpose: it binds the
socket, starts the workers (spawned, each running `target` with the socket), and starts a worker
again when one dies. The first SIGTERM or SIGINT is passed on to every worker as SIGTERM, so each one
drains as a single process does (`server.DrainingServer`); a second one is passed on too, and the
workers stop at once. The supervisor exits with 0 when every worker did.

A worker whose supervisor is gone (killed with SIGKILL, say) stops by itself, draining like on
SIGTERM (`watch_parent`), instead of serving on as an orphan nobody will stop.

A worker that could not start (uvicorn's startup-failure exit code 3, or any error exit within
`STARTUP_SECONDS` of its start) is not started again: a database or configuration problem would fail
the same way every time. The others are stopped and the exit code is 1. A worker killed by a signal
(the OOM killer, say) is always replaced.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import Final

logger = logging.getLogger(__name__)

STARTUP_SECONDS: Final = 5.0
# What uvicorn's server exits with when the app's startup failed.
STARTUP_FAILURE: Final = 3
_POLL_SECONDS: Final = 0.1

Target = Callable[[socket.socket], None]
_PARENT_CHECK_SECONDS: Final = 1.0


@dataclass
class Worker:
    process: BaseProcess
    started: float = field(default_factory=time.monotonic)


class Supervisor:
    def __init__(self, target: Target, sock: socket.socket, count: int) -> None:
        self._target = target
        self._sock = sock
        self._count = count
        self._context = multiprocessing.get_context("spawn")
        self._signals: list[int] = []
        self.workers: list[Worker] = []

    def run(self) -> int:
        """Serve until a signal has stopped every worker; the exit code for the process."""
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._on_signal)
        self.workers = [self._start() for _ in range(self._count)]
        forwarded, failed = 0, False
        while True:
            if not self._signals and not self._replace_dead():
                failed = True
                self._signals.append(signal.SIGTERM)
            while forwarded < len(self._signals):
                self._forward()
                forwarded += 1
            if not any(worker.process.is_alive() for worker in self.workers):
                break
            time.sleep(_POLL_SECONDS)
        codes = [worker.process.exitcode for worker in self.workers]
        logger.info("workers stopped (exit codes %s)", codes)
        # -SIGTERM: a worker still starting, stopped before it had set up its signal handlers (it served nothing).
        return 1 if failed or any(code not in (0, -signal.SIGTERM) for code in codes) else 0

    def _on_signal(self, sig: int, frame: FrameType | None) -> None:
        self._signals.append(sig)

    def _start(self) -> Worker:
        process = self._context.Process(target=self._target, args=(self._sock,), name="provider-proxy-worker")
        process.start()
        logger.info("started worker process %s", process.pid)
        return Worker(process)

    def _forward(self) -> None:
        for worker in self.workers:
            if worker.process.is_alive() and worker.process.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(worker.process.pid, signal.SIGTERM)

    def _replace_dead(self) -> bool:
        """Start a worker again in place of each that died; False when one died at its start."""
        for index, worker in enumerate(self.workers):
            code = worker.process.exitcode
            if code is None:
                continue
            young = time.monotonic() - worker.started < STARTUP_SECONDS
            if code == STARTUP_FAILURE or (code > 0 and young):
                logger.error("worker process %s exited with %s as it started; stopping", worker.process.pid, code)
                return False
            logger.warning("worker process %s died (exit code %s); starting another", worker.process.pid, code)
            self.workers[index] = self._start()
        return True


def watch_parent(parent: int) -> None:
    """In a worker: a SIGTERM to this process once the supervisor that started it (`parent`, known
    before the worker started: a supervisor that died while the worker was starting counts too) has gone."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(_PARENT_CHECK_SECONDS)
        logger.warning("the supervisor (process %s) is gone; stopping this worker", parent)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
