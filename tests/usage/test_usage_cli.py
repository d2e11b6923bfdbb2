"""`provider-proxy usage`: the report as a table, JSON or CSV, priced from the config file."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from provider_proxy.services.usage.record import RequestRecord
from provider_proxy.services.usage.sqlite_store import SQLiteStore
from tests.support.usage_data import record

runner = CliRunner()
PRICES = """
[prices."gpt-4.1"]
input_per_mtok = 2.0
output_per_mtok = 8.0
"""


def seed(path: Path, records: list[RequestRecord]) -> None:
    async def write() -> None:
        store = SQLiteStore(path)
        await store.open()
        await store.insert(records)
        await store.close()

    asyncio.run(write())


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    data = tmp_path / "data"
    monkeypatch.setenv("DATA_DIR", str(data))
    now = time.time()
    seed(
        data / "usage.db",
        [
            record(request_id="a", ts=now - 60, input_tokens=1_000_000, output_tokens=10_000),
            record(request_id="b", ts=now - 120, model="claude-haiku-4-5", upstream_model="mini", input_tokens=5),
            record(request_id="old", ts=now - 30 * 86400),
        ],
    )
    return data


def usage(*args: str) -> str:
    from provider_proxy.cli.commands import app

    result = runner.invoke(app, ["usage", "--env-file", "none.env", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_json_report_has_totals_rows_and_cost_from_the_config_prices(data_dir: Path, tmp_path: Path) -> None:
    config = tmp_path / "proxy.toml"
    config.write_text(PRICES)
    report = json.loads(usage("--json", "--config", str(config)))
    assert report["totals"]["requests"] == 2
    assert report["totals"]["cost"] == pytest.approx(2.0 + 0.08)
    assert [row["group"] for row in report["rows"]] == ["claude-sonnet-4-6", "claude-haiku-4-5"]
    assert report["unpriced_models"] == ["mini"]


def test_csv_report_by_provider_ends_with_the_total(data_dir: Path) -> None:
    rows = list(csv.DictReader(io.StringIO(usage("--csv", "--by", "provider", "--since", "60d"))))
    assert [(row["provider"], row["requests"]) for row in rows] == [("default", "3"), ("total", "3")]


def test_table_report_shows_the_breakdown_and_totals(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "160")  # the cost column (priced from the model facts) makes it wide
    output = usage("--by", "upstream_model")
    assert "gpt-4.1" in output and "mini" in output and "total" in output
    assert "1,000,005" in output


def test_a_bad_since_value_exits_with_a_hint(data_dir: Path) -> None:
    from provider_proxy.cli.commands import app

    result = runner.invoke(app, ["usage", "--env-file", "none.env", "--since", "yesterday"])
    assert result.exit_code == 2
    assert "span like 7d" in result.output


def test_prices_in_the_config_file_are_strict(tmp_path: Path) -> None:
    from provider_proxy.cli.commands import app

    config = tmp_path / "proxy.toml"
    config.write_text('[prices."gpt-4.1"]\ninput_per_mtk = 2.0\n')
    result = runner.invoke(app, ["usage", "--env-file", "none.env", "--config", str(config)])
    assert result.exit_code == 2
    assert "input_per_mtk" in result.output


def test_cost_comes_from_the_model_facts_when_the_file_has_no_prices(data_dir: Path) -> None:
    report = json.loads(usage("--json"))
    # gpt-4.1 is priced from the bundled dataset; "mini" is no model the dataset knows.
    assert report["totals"]["cost"] > 0
    assert report["unpriced_models"] == ["mini"]
