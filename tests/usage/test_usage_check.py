"""`provider-proxy check` reports a usage backlog that does not drain, says whose it is and what to do."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

from typer.testing import CliRunner

from provider_proxy.cli.commands import app
from provider_proxy.services.usage.journal import FINISHED, Journal
from tests.support.usage_data import record

runner = CliRunner()


def env_file(tmp_path: Path, *extra: str) -> Path:
    env = tmp_path / "proxy.env"
    lines = ["OPENAI_API_KEY=sk-test-checkkey-0123456789", "BIG_MODEL=gpt-4.1", f"DATA_DIR={tmp_path / 'data'}"]
    env.write_text("\n".join([*lines, *extra]) + "\n")
    return env


def journal_with_old_records(tmp_path: Path, minutes: float) -> Journal:
    journal = Journal(tmp_path / "data" / "usage-journal")
    journal.open()
    journal.write([(FINISHED, record(request_id=f"req_{number}")) for number in range(3)])
    then = time.time() - minutes * 60
    for path in journal.directory.glob("*.jsonl"):
        os.utime(path, (then, then))
    return journal


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_a_running_proxy_whose_backlog_does_not_drain_is_an_error_with_the_reason(tmp_path: Path) -> None:
    journal = journal_with_old_records(tmp_path, minutes=12)  # held: its process runs
    url = f"USAGE_DATABASE_URL=postgresql://proxy@127.0.0.1:{closed_port()}/usage"
    result = runner.invoke(app, ["check", "--env-file", str(env_file(tmp_path, url))])
    journal.close()
    assert result.exit_code == 1, result.output
    text = " ".join(result.output.split())
    assert "the usage backlog does not drain: 1 journal segment(s) holding 3 usage entries, the oldest 12" in text
    assert "look for 'could not write' in that proxy's log" in text
    assert "does not answer" in text and "start the database or fix USAGE_DATABASE_URL" in text


def test_a_stopped_proxy_journal_is_a_warning_that_says_to_start_a_proxy(tmp_path: Path) -> None:
    journal = journal_with_old_records(tmp_path, minutes=30)
    assert journal._lock_fd is not None
    os.close(journal._lock_fd)  # the process is gone: its lock with it
    result = runner.invoke(app, ["check", "--env-file", str(env_file(tmp_path))])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "were left by a proxy that stopped" in text
    assert "start the proxy (any replica with this DATA_DIR) and it ships them" in text


def test_a_fresh_journal_and_a_store_that_answers_are_fine(tmp_path: Path) -> None:
    journal = journal_with_old_records(tmp_path, minutes=1)
    result = runner.invoke(app, ["check", "--env-file", str(env_file(tmp_path))])
    journal.close()
    assert "backlog" not in result.output and "left by a proxy" not in result.output
