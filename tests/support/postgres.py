"""A throwaway PostgreSQL server for the tests: initdb in a temporary directory, a free port on
127.0.0.1, the unix socket in the same directory, stopped and removed at the end of the session.

initdb refuses to run as root, so as root the cluster belongs to the `postgres` system user
(created if missing) and every server command runs through `runuser -u postgres --`.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg

from tests.support.apt import require_package

_USER = "postgres"


def find_bin_dir() -> Path | None:
    """The newest `/usr/lib/postgresql/<version>/bin` that has initdb and pg_ctl."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version)
    for initdb in reversed(candidates):
        bin_dir = Path(initdb).parent
        if (bin_dir / "pg_ctl").exists():
            return bin_dir
    return None


def _version(path: str) -> float:
    try:
        return float(Path(path).parent.parent.name)
    except ValueError:
        return 0.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class PostgresServer:
    bin_dir: Path
    root: Path
    port: int = 0

    @property
    def data(self) -> Path:
        return self.root / "data"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{_USER}@127.0.0.1:{self.port}/{database}"

    def run(self, *args: str) -> None:
        command = [str(self.bin_dir / args[0]), *args[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", _USER, "--", *command]
        subprocess.run(command, check=True, capture_output=True, cwd=self.root)

    def start(self) -> None:
        self.run("initdb", "-D", str(self.data), "-U", _USER, "--auth=trust", "--no-sync", "-E", "UTF8")
        self.port = _free_port()
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self.run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.root / "server.log"), "-w", "start")

    def stop(self) -> None:
        self.run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def start_again(self) -> None:
        """Start the stopped server on its data and port (a restart's second half)."""
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self.run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.root / "server.log"), "-w", "start")

    def create_database(self) -> str:
        """A new empty database; its URL."""
        name = "usage_" + uuid.uuid4().hex[:12]
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}".encode())
        return self.url(name)


def _ensure_user() -> None:
    if os.geteuid() != 0:
        return
    if subprocess.run(["id", "-u", _USER], capture_output=True).returncode != 0:
        subprocess.run(["useradd", "--system", "--no-create-home", _USER], check=True)


@contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    bin_dir = require_package("postgresql", find_bin_dir, "the PostgreSQL usage store tests")
    _ensure_user()
    # Not under pytest's tmp dir: that one is private to root and the server user could not enter it.
    root = Path(tempfile.mkdtemp(prefix="provider-proxy-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, _USER, _USER)
    server = PostgresServer(bin_dir, root)
    try:
        server.start()
        yield server
        server.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)
