"""run_app.sh on a fresh clone: the first run creates .env and stops there, as it says, unless a key
is already in the environment; later runs start the proxy."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STARTED = "provider-proxy started:"


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    """The files run_app.sh uses, with .venv already installed and a stand-in for provider-proxy."""
    for name in ("run_app.sh", "scripts/venv.sh", ".env.example", "pyproject.toml"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, tmp_path / name)
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "python").symlink_to(sys.executable)
    (bin_dir / "provider-proxy").write_text(f'#!/bin/sh\necho "{STARTED} $*"\n')
    (bin_dir / "provider-proxy").chmod(0o755)
    stamp = hashlib.sha256((tmp_path / "pyproject.toml").read_bytes()).hexdigest()
    (tmp_path / ".venv" / ".install-stamp").write_text(stamp + "\n")
    return tmp_path


def _run(clone: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {"PATH": os.environ["PATH"], "HOME": str(clone), **env}
    return subprocess.run(
        ["bash", "run_app.sh", "--port", "9000"], cwd=clone, env=environment, capture_output=True, text=True
    )


def test_the_first_run_creates_env_and_stops_so_the_key_can_be_filled_in(clone: Path) -> None:
    first = _run(clone)
    assert first.returncode == 0, first.stderr
    assert (clone / ".env").read_text() == (clone / ".env.example").read_text()
    assert "then rerun ./run_app.sh" in first.stdout
    assert STARTED not in first.stdout

    second = _run(clone)
    assert f"{STARTED} serve --port 9000" in second.stdout
    assert "still the placeholder" in second.stderr


def test_the_first_run_starts_when_the_key_is_already_in_the_environment(clone: Path) -> None:
    first = _run(clone, OPENAI_API_KEY="sk-from-the-shell-0123456789")
    assert (clone / ".env").exists()
    assert "rerun" not in first.stdout
    assert f"{STARTED} serve --port 9000" in first.stdout
