"""Starting and watching the processes under test: the fake upstream, our proxy and the peers.

Each server is a child process on 127.0.0.1, optionally pinned to a CPU with `taskset`; its CPU
time and RSS come from /proc. Peers are optional: `start_*` returns None with a reason when a peer
is not installed or does not come up.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.bodies import UPSTREAM_MODEL

ROOT = Path(__file__).resolve().parent.parent
PEERS_DIR = Path(os.environ.get("BENCH_PEERS_DIR", "/work/bench-peers"))
CLOCK_TICK = os.sysconf("SC_CLK_TCK")
CLIENT_KEY = "sk-bench-client-key"  # what the load client presents (LiteLLM refuses to start without one)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def pin_prefix(cpu: int | None) -> list[str]:
    if cpu is None or shutil.which("taskset") is None or (os.cpu_count() or 1) <= cpu:
        return []
    return ["taskset", "-c", str(cpu)]


@dataclass
class Server:
    name: str
    port: int
    path: str  # where Anthropic Messages requests go
    process: subprocess.Popen[bytes]
    log: Path
    workdir: Path | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.process.pid

    def pids(self) -> list[int]:
        """The process and its descendants (uvicorn workers, node helpers)."""
        found = [self.pid]
        for pid in found:
            try:
                children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
            except OSError:
                continue
            found += [int(c) for c in children]
        return found

    def cpu_seconds(self) -> float:
        total = 0
        for pid in self.pids():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])  # utime + stime
        return total / CLOCK_TICK

    def rss_mb(self) -> float:
        total = 0
        for pid in self.pids():
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            for line in status.splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        return total / 1024

    def pause(self, paused: bool) -> None:
        """SIGSTOP/SIGCONT, so an idle peer's background work cannot steal the measured proxy's core."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGSTOP if paused else signal.SIGCONT)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGCONT)
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)


def _wait_port(port: int, process: subprocess.Popen[bytes], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def _spawn(
    name: str,
    cmd: list[str],
    port: int,
    path: str,
    env: dict[str, str],
    cpu: int | None,
    workdir: Path,
    startup: float = 30.0,
) -> Server | None:
    log = workdir / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            pin_prefix(cpu) + cmd,
            env=env,
            cwd=workdir,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    server = Server(name, port, path, process, log, workdir)
    if not _wait_port(port, process, startup):
        tail = log.read_text(errors="replace")[-600:]
        server.stop()
        print(f"[bench] {name} did not start: {tail}", file=sys.stderr)
        return None
    return server


def _base_env() -> dict[str, str]:
    keep = ("PATH", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")
    return {k: v for k, v in os.environ.items() if k in keep}


def start_upstream(cpu: int | None, chunks: int = 100, delay_ms: float = 0.0) -> Server:
    port = free_port()
    cmd = [sys.executable, str(ROOT / "bench" / "fake_upstream.py"), "--port", str(port), "--chunks", str(chunks)]
    cmd += ["--delay-ms", str(delay_ms)]
    server = _spawn("upstream", cmd, port, "/v1/chat/completions", _base_env(), cpu, Path(tempfile.mkdtemp()))
    if server is None:
        raise RuntimeError("the fake upstream did not start")
    return server


def start_ours(
    upstream_port: int,
    cpu: int | None,
    workers: int = 1,
    log_level: str = "INFO",
    source: Path | None = None,
    extra_env: dict[str, str] | None = None,
    data_dir: Path | None = None,
    wrapper: list[str] | None = None,
    startup: float = 30.0,
) -> Server:
    """Our proxy; `source` runs another checkout's `src` folder (bench.ab compares two). Its usage
    records go to `data_dir`, by default to its own temporary directory: never to the user's store.
    `wrapper` goes before the command (bench.instructions runs the proxy under valgrind).

    By default it runs this checkout's `src` (PYTHONPATH), not whatever the venv has installed: an
    editable install points at one checkout, and a worktree's bench must measure the worktree.
    """
    if source is None and (ROOT / "src" / "provider_proxy").is_dir():
        source = ROOT / "src"
    port = free_port()
    workdir = Path(tempfile.mkdtemp())
    env = _base_env() | {
        "OPENAI_BASE_URL": f"http://127.0.0.1:{upstream_port}/v1",
        "OPENAI_API_KEY": "sk-bench-upstream-key",
        "BIG_MODEL": UPSTREAM_MODEL,
        "SMALL_MODEL": UPSTREAM_MODEL,
        "PORT": str(port),
        "WORKERS": str(workers),
        "LOG_LEVEL": log_level,
        "DATA_DIR": str(data_dir or workdir / "data"),
    }
    if source is not None:
        env["PYTHONPATH"] = str(source)
    env |= extra_env or {}
    # `-m` runs the source tree's own __main__; the venv's console script imports the entry point of
    # whichever checkout was installed last, which another tree may have moved
    exe = Path(sys.executable).parent / "provider-proxy"
    cmd = [str(exe)] if exe.exists() and source is None else [sys.executable, "-m", "provider_proxy"]
    cmd = [*(wrapper or ()), *cmd, "serve", "--env-file", str(workdir / "none.env")]
    server = _spawn("ours", cmd, port, "/v1/messages", env, cpu, workdir, startup)
    if server is None:
        raise RuntimeError("the proxy did not start")
    return server


LIMITS: dict[str, dict[str, float]] = {
    "limited": {"rpm": 10**9, "tpm": 10**12, "daily_budget": 10.0**9},
    "keyed": {},
    "rpm": {"rpm": 10**9},
}


def limited_key_env(kind: str = "limited") -> dict[str, str]:
    """Settings that make the load client's key a named key with limits set too high to refuse anything
    (`limited`: every kind, so each request is authenticated by name, admitted, counted and priced;
    `keyed`: no limit; `rpm`: requests per minute only)."""
    import hashlib
    import json

    keys = Path(tempfile.mkdtemp()) / "keys.json"
    entry = {"sha256": hashlib.sha256(CLIENT_KEY.encode()).hexdigest(), **LIMITS[kind]}
    keys.write_text(json.dumps({"keys": {"bench": entry}}))
    return {"KEYS_FILE": str(keys)}


def tree_env(name: str) -> dict[str, str] | None:
    """A tree's extra settings from its name in `bench.cpu_ab` / `bench.instructions`: `now+limited`
    (or +rpm, +keyed) runs with the load client's key limited so; a plain name with none."""
    return limited_key_env(name.rpartition("+")[2]) if "+" in name else None


def start_floor(upstream_port: int, cpu: int | None) -> Server | tuple[None, str]:
    """bench/floor.py: aiohttp server + client, one orjson round trip per request and per stream event."""
    port = free_port()
    upstream = f"http://127.0.0.1:{upstream_port}/v1/chat/completions"
    cmd = [sys.executable, str(ROOT / "bench" / "floor.py"), "--port", str(port), "--upstream", upstream]
    workdir = Path(tempfile.mkdtemp())
    server = _spawn("floor", cmd, port, "/v1/messages", _base_env(), cpu, workdir)
    if server is None:
        return None, f"the floor proxy did not start; see its log under {workdir}"
    return server


def start_litellm(upstream_port: int, cpu: int | None) -> Server | tuple[None, str]:
    exe = PEERS_DIR / "litellm" / "bin" / "litellm"
    if not exe.exists():
        return None, f"LiteLLM not installed ({exe}); run bench/peers/install.sh"
    port = free_port()
    workdir = Path(tempfile.mkdtemp())
    config = workdir / "litellm.yaml"
    model = {
        "model": f"hosted_vllm/{UPSTREAM_MODEL}",
        "api_base": f"http://127.0.0.1:{upstream_port}/v1",
        "api_key": "sk-bench-upstream-key",
    }
    config.write_text(
        json.dumps(
            {
                "model_list": [{"model_name": "*", "litellm_params": model}],
                "litellm_settings": {"telemetry": False, "drop_params": True, "set_verbose": False},
                "general_settings": {"master_key": CLIENT_KEY, "disable_spend_logs": True},
            }
        )
    )
    env = _base_env() | {"LITELLM_LOG": "ERROR", "LITELLM_TELEMETRY": "False", "HOME": str(workdir)}
    cmd = [str(exe), "--config", str(config), "--host", "127.0.0.1", "--port", str(port), "--num_workers", "1"]
    server = _spawn("litellm", cmd, port, "/v1/messages", env, cpu, workdir, startup=120)
    if server is None:
        return None, f"LiteLLM did not start; see its log under {workdir}"
    return server


def start_ccr(upstream_port: int, cpu: int | None) -> Server | tuple[None, str]:
    cli = PEERS_DIR / "ccr" / "node_modules" / "@musistudio" / "claude-code-router" / "dist" / "cli.js"
    node = shutil.which("node")
    if not cli.exists() or node is None:
        return None, f"claude-code-router not installed ({cli}); run bench/peers/install.sh"
    port = free_port()
    workdir = Path(tempfile.mkdtemp())
    home = workdir / ".claude-code-router"
    home.mkdir()
    provider = {
        "name": "bench",
        "api_base_url": f"http://127.0.0.1:{upstream_port}/v1/chat/completions",
        "api_key": "sk-bench-upstream-key",
        "models": [UPSTREAM_MODEL],
    }
    route = f"bench,{UPSTREAM_MODEL}"
    config = {
        "HOST": "127.0.0.1",
        "PORT": port,
        "LOG": False,
        "Providers": [provider],
        "Router": {"default": route, "background": route, "think": route, "longContext": route},
    }
    (home / "config.json").write_text(json.dumps(config))
    env = _base_env() | {"HOME": str(workdir), "NODE_ENV": "production"}
    server = _spawn("ccr", [node, str(cli), "start"], port, "/v1/messages", env, cpu, workdir, startup=60)
    if server is None:
        return None, f"claude-code-router did not start; see its log under {workdir}"
    return server
