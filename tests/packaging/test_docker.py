"""The Dockerfile and docker-compose.yml, checked without a Docker engine (none on CI or dev machines).

What is checked: the compose file's volume, ports, HOST and healthcheck; that the image's command
listens on every interface on the port its healthcheck and EXPOSE name, whatever an --env-file
says; that dependencies are installed before the source is copied; and, replayed in a clean venv,
that the image's install steps produce a proxy that starts and answers its healthcheck. Not checked:
the build itself (base image, useradd, file ownership in /data), which needs an engine.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from typer.testing import CliRunner

from provider_proxy.cli.commands import app
from provider_proxy.config.settings import Settings
from tests.support import dockerfile

ROOT = Path(__file__).resolve().parents[2]
IMAGE = dockerfile.parse((ROOT / "Dockerfile").read_text())
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICE: dict[str, Any] = COMPOSE["services"]["proxy"]


def _option(command: list[str], name: str) -> str:
    assert name in command, f"the image's command {command} does not set {name}"
    return command[command.index(name) + 1]


def _listen_port() -> int:
    return int(_option(IMAGE.command(), "--port"))


def _health_port(command: list[str]) -> int:
    url = re.search(r"https?://[^'\"]+/health", " ".join(command))
    assert url, f"no /health URL in {command}"
    port = urlsplit(url.group(0)).port
    assert port is not None
    return port


def test_the_image_serves_on_all_interfaces_on_the_exposed_port() -> None:
    assert IMAGE.command()[:2] == ["provider-proxy", "serve"]
    assert _option(IMAGE.command(), "--host") == "0.0.0.0"
    assert IMAGE.final.one("EXPOSE").args == str(_listen_port())


def test_the_image_healthcheck_asks_the_port_the_server_listens_on() -> None:
    assert _health_port(IMAGE.final.one("HEALTHCHECK").exec_form()) == _listen_port()


def test_the_image_command_wins_over_host_and_port_from_an_env_file(monkeypatch: pytest.MonkeyPatch) -> None:
    """`docker run --env-file .env` puts .env.example's HOST=127.0.0.1 into the environment."""
    served: list[Settings] = []
    monkeypatch.setattr("provider_proxy.server.run", served.append)
    monkeypatch.setenv("HOST", "127.0.0.1")
    monkeypatch.setenv("PORT", "9999")
    result = CliRunner().invoke(app, [*IMAGE.command()[1:], "--env-file", str(ROOT / ".env.example")])
    assert result.exit_code == 0, result.output
    assert (served[0].host, served[0].port) == ("0.0.0.0", _listen_port())


def test_the_image_keeps_its_usage_store_in_data() -> None:
    env = dict(item.split("=", 1) for step in IMAGE.final.all("ENV") for item in step.args.split())
    assert env["DATA_DIR"] == "/data"
    assert any("chown proxy:proxy /data" in step.args for step in IMAGE.final.all("RUN"))


def test_the_image_installs_dependencies_before_it_copies_the_source() -> None:
    steps = [(step.keyword, step.args) for step in IMAGE.final.instructions if step.keyword in ("COPY", "RUN")]
    first_copy = next(args for keyword, args in steps if keyword == "COPY")
    assert first_copy == "pyproject.toml ./"
    dependencies = next(i for i, (keyword, args) in enumerate(steps) if "pip install -r requirements.txt" in args)
    package = next(i for i, (keyword, args) in enumerate(steps) if keyword == "COPY" and "--from=" in args)
    assert dependencies < package
    assert all("src" not in args for keyword, args in steps if keyword == "COPY")  # only the wheel stage sees src


def test_the_base_image_is_python_3_12_slim_and_one_build_argument_pins_it() -> None:
    base = IMAGE.args["PYTHON_IMAGE"]
    assert re.fullmatch(r"python:3\.12-slim(@sha256:[0-9a-f]{64})?", base), base
    assert all(stage.base == "${PYTHON_IMAGE}" for stage in IMAGE.stages)


def test_compose_keeps_usage_history_in_a_named_volume() -> None:
    assert SERVICE["environment"]["DATA_DIR"] == "/data"
    assert "usage-data:/data" in SERVICE["volumes"]
    assert "usage-data" in COMPOSE["volumes"]


def test_compose_publishes_the_port_the_container_listens_on_all_interfaces() -> None:
    assert SERVICE["environment"]["HOST"] == "0.0.0.0"
    assert [str(port).rsplit(":", 1)[1] for port in SERVICE["ports"]] == [str(_listen_port())]
    assert "command" not in SERVICE and "entrypoint" not in SERVICE  # the image's --host/--port stay


def test_compose_healthcheck_asks_the_port_the_server_listens_on() -> None:
    assert _health_port(SERVICE["healthcheck"]["test"]) == _listen_port()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.packaging
def test_the_image_install_steps_give_a_proxy_that_passes_its_healthcheck(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    skipped = dockerfile.replay(IMAGE, ROOT, tmp_path / "stages", venv / "bin")
    assert [step.split()[0] for step in skipped] == ["useradd"]
    assert subprocess.run([venv / "bin" / "pip", "check"], capture_output=True).returncode == 0

    # The image's command and healthcheck, on a free port instead of 8082, with .env.example's values.
    port, image_port = str(_free_port()), str(_listen_port())
    command = [arg if arg != image_port else port for arg in IMAGE.command()]
    example = dict(
        line.split("=", 1) for line in (ROOT / ".env.example").read_text().splitlines() if re.match(r"^[A-Z_]+=", line)
    )
    env = {**example, "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}", "HOME": str(tmp_path)}
    env["DATA_DIR"] = str(tmp_path / "data")
    healthcheck = [arg.replace(f":{image_port}/", f":{port}/") for arg in IMAGE.final.one("HEALTHCHECK").exec_form()]
    log = tmp_path / "proxy.log"
    with log.open("wb") as out:
        proxy = subprocess.Popen(command, env=env, cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while subprocess.run(healthcheck, env=env, capture_output=True).returncode != 0:
            assert proxy.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
    finally:
        proxy.terminate()
        proxy.wait(10)
    assert f"serving on http://0.0.0.0:{port}" in log.read_text()
