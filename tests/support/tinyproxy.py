"""A real forward proxy for the outbound-proxy tests: tinyproxy (Debian package), one per test, on 127.0.0.1.

Started in the foreground (`-d`) with a config file in a temporary directory: its own free port,
`Allow 127.0.0.1`, CONNECT only to the ports the test names, optionally Basic credentials. Its log
(level Connect) tells which requests went through it. In CI a missing tinyproxy is installed with
apt-get; elsewhere the test is skipped with the command that installs it (tests/support/apt.py).
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.apt import require_package

_START_TIMEOUT = 10.0


@dataclass
class Tinyproxy:
    port: int
    log: Path

    def url(self, credentials: str = "") -> str:
        return f"http://{credentials + '@' if credentials else ''}127.0.0.1:{self.port}"

    def requests(self) -> list[str]:
        """The request lines the proxy received so far, e.g. `CONNECT 127.0.0.1:4443 HTTP/1.1`."""
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return re.findall(r"Request \(file descriptor \d+\): (.*)", text)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _find() -> str | None:
    return shutil.which("tinyproxy") or next(
        (path for path in ("/usr/bin/tinyproxy", "/usr/sbin/tinyproxy") if Path(path).exists()), None
    )


@contextmanager
def tinyproxy(connect_ports: Iterable[int], *, basic_auth: tuple[str, str] | None = None) -> Iterator[Tinyproxy]:
    """A running tinyproxy that tunnels CONNECT only to `connect_ports` (none: it refuses every CONNECT)."""
    binary = require_package("tinyproxy", _find, "the outbound proxy tests")
    root = Path(tempfile.mkdtemp(prefix="provider-proxy-tinyproxy-"))
    proxy = Tinyproxy(_free_port(), root / "tinyproxy.log")
    lines = [
        f"Port {proxy.port}",
        "Listen 127.0.0.1",
        "Timeout 30",
        "MaxClients 64",
        "Allow 127.0.0.1",
        f'LogFile "{proxy.log}"',
        "LogLevel Connect",
        'ViaProxyName "test-proxy"',  # forwarded http requests carry `Via: 1.1 test-proxy`
        *(f"ConnectPort {port}" for port in connect_ports),
    ]
    if not any(line.startswith("ConnectPort") for line in lines):
        lines.append("ConnectPort 1")  # no ConnectPort at all would allow every port
    if basic_auth is not None:
        lines.append(f"BasicAuth {basic_auth[0]} {basic_auth[1]}")
    config = root / "tinyproxy.conf"
    config.write_text("\n".join(lines) + "\n")
    output = (root / "output.txt").open("wb")
    process = subprocess.Popen([binary, "-d", "-c", str(config)], stdout=output, stderr=subprocess.STDOUT)
    try:
        _wait_until_listening(proxy.port, process, root)
        yield proxy
    finally:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        output.close()
        shutil.rmtree(root, ignore_errors=True)


def _wait_until_listening(port: int, process: subprocess.Popen[bytes], root: Path) -> None:
    deadline = time.monotonic() + _START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"tinyproxy exited with {process.returncode}: {(root / 'output.txt').read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.02)
    pytest.fail(f"tinyproxy did not listen on 127.0.0.1:{port} within {_START_TIMEOUT:g} s")
