"""The benchmark's proxy keeps its usage records to itself (it sends thousands of requests)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench import servers


def _spawned_environment(monkeypatch: pytest.MonkeyPatch, tmp: Path, **options: Any) -> tuple[dict[str, str], Path]:
    seen: dict[str, Any] = {}
    (tmp / "work").mkdir()

    def spawn(
        name: str, cmd: list[str], port: int, path: str, env: dict[str, str], cpu: Any, workdir: Path, startup: float
    ) -> Any:
        seen.update(env=env, workdir=workdir)
        return object()

    monkeypatch.setattr(servers, "_spawn", spawn)
    monkeypatch.setattr(servers.tempfile, "mkdtemp", lambda: str(tmp / "work"))
    servers.start_ours(upstream_port=1, cpu=None, **options)
    return seen["env"], seen["workdir"]


def test_the_benchmark_proxy_writes_usage_to_its_own_temporary_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    env, workdir = _spawned_environment(monkeypatch, tmp_path)
    assert Path(env["DATA_DIR"]).is_relative_to(workdir)


def test_the_benchmark_proxy_writes_usage_where_it_is_told(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env, _ = _spawned_environment(monkeypatch, tmp_path, data_dir=tmp_path / "data")
    assert env["DATA_DIR"] == str(tmp_path / "data")
