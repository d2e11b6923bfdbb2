"""A real HAProxy (Debian's `haproxy`) in front of test replicas, configured from `deploy/haproxy.cfg`.

`render` keeps every setting of the deployed file (http-no-delay, /ready checks, retries and redispatch,
timeouts) and changes only what ties it to Docker: the listening address, the servers (fixed
127.0.0.1 ports instead of Docker's DNS) and, when asked, the check interval. A stats socket lets the
tests see which servers HAProxy holds up.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

from tests.support.apt import require_package

DEPLOY_CONFIG = Path(__file__).resolve().parents[2] / "deploy" / "haproxy.cfg"


def render(template: str, *, port: int, servers: dict[str, int], stats_socket: Path, inter: str | None = None) -> str:
    """The deployed config for a bind on 127.0.0.1:`port` and `servers` (name -> port) on 127.0.0.1."""
    lines: list[str] = []
    skipping = False
    for line in template.splitlines():
        stripped = line.strip()
        if stripped.startswith("resolvers "):
            skipping = True  # Docker's DNS: the whole section goes
            continue
        if skipping:
            if stripped and not stripped.startswith("#") and not line[0].isspace():
                skipping = False
            else:
                continue
        if stripped == "global":
            lines += [line, f"    stats socket {stats_socket} mode 600 level admin"]
            continue
        if stripped.startswith("bind "):
            line = re.sub(r"bind \S*:\d+", f"bind 127.0.0.1:{port}", line)
        if stripped.startswith("default-server"):
            line = line.replace(" resolvers docker", "").replace(" init-addr none", "")
            if inter is not None:
                line = re.sub(r"\binter \S+", f"inter {inter}", line)
        if stripped.startswith("server-template"):
            lines += [f"    server {name} 127.0.0.1:{server_port} check" for name, server_port in servers.items()]
            continue
        lines.append(line)
    return "\n".join(lines) + "\n"


def find_haproxy() -> str:
    return require_package("haproxy", lambda: shutil.which("haproxy"), "the tests behind a load balancer")


class HAProxy:
    def __init__(self, directory: Path, servers: dict[str, int], *, inter: str | None = None) -> None:
        self.binary = find_haproxy()
        self.directory = directory
        self.port = free_port()
        self.stats_socket = directory / "haproxy.sock"
        self.config = directory / "haproxy.cfg"
        self.log = directory / "haproxy.log"
        config = render(
            DEPLOY_CONFIG.read_text(), port=self.port, servers=servers, stats_socket=self.stats_socket, inter=inter
        )
        self.config.write_text(config)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> HAProxy:
        checked = subprocess.run([self.binary, "-c", "-f", str(self.config)], capture_output=True, text=True)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        with self.log.open("wb") as log:
            self.process = subprocess.Popen([self.binary, "-db", "-f", str(self.config)], stdout=log, stderr=log)
        deadline = time.monotonic() + 10
        while not self.stats_socket.exists() or not _accepts(self.port):
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError(f"haproxy did not start: {self.log.read_text()}")
            time.sleep(0.05)
        return self

    def server_status(self) -> dict[str, str]:
        """Each server's state as HAProxy sees it (UP, DOWN, "UP 1/2"...)."""
        with socket.socket(socket.AF_UNIX) as sock:
            sock.connect(str(self.stats_socket))
            sock.sendall(b"show stat\n")
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
        rows = [line.split(",") for line in data.decode().splitlines() if line and not line.startswith("#")]
        return {row[1]: row[17] for row in rows if row[0] == "replicas" and row[1] not in ("BACKEND", "FRONTEND")}

    def wait_for(self, server: str, status: str, timeout: float = 15) -> float:
        """Wait until `server` is in `status` (UP or DOWN); the seconds it took."""
        started = time.monotonic()
        while (current := self.server_status().get(server)) != status:
            if time.monotonic() - started > timeout:
                raise AssertionError(f"haproxy holds {server} {current}, not {status}, after {timeout}s")
            time.sleep(0.1)
        return time.monotonic() - started

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False
