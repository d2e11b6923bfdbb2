"""Requests refused before they named a model (a wrong PROXY_API_KEY, an invalid body) are shown as
rejected requests, apart from the model rows, in the report, the CLI's table, JSON and CSV, and the
dashboard's data; the rows plus the rejected requests make the totals."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from provider_proxy.dashboard.data import dashboard_data
from provider_proxy.services.usage.period import Period
from provider_proxy.services.usage.record import RequestRecord
from provider_proxy.services.usage.report import REJECTED, usage_report
from provider_proxy.services.usage.sqlite_store import SQLiteStore
from provider_proxy.services.usage.store import UsageStore
from tests.support.usage_data import record

T0 = 1_780_012_800.0
UNROUTED = {"model": None, "route": None, "provider": None, "upstream_model": None, "stop_reason": None}


def _records(start: float) -> list[RequestRecord]:
    refused = {**UNROUTED, "input_tokens": None, "output_tokens": None, "latency_ms": 2.0}
    return [
        record(request_id="ok1", ts=start + 10, input_tokens=1000),
        record(request_id="ok2", ts=start + 20, model="claude-haiku-4-5", upstream_model="mini"),
        record(request_id="auth", ts=start + 30, status=401, error_type="authentication_error", **refused),
        record(request_id="bad", ts=start + 40, status=400, error_type="invalid_request_error", **refused),
    ]


@pytest.mark.parametrize("by", ["model", "upstream_model", "provider", "key", "day"])
async def test_the_report_counts_rejected_requests_apart_from_its_rows(store: UsageStore, by: str) -> None:
    await store.insert(_records(T0))
    report = await usage_report(store, Period(T0, T0 + 3600), by)
    assert all(row.group not in ("-", REJECTED) for row in report.rows) or by == "key"
    assert (report.rejected.requests, report.rejected.errors) == (2, 2)
    assert sum(row.requests for row in report.rows) + report.rejected.requests == report.totals.requests == 4
    assert report.as_dict()["rejected"]["requests"] == 2


async def test_the_dashboard_data_has_rejected_requests_apart_from_the_models(store: UsageStore) -> None:
    await store.insert(_records(T0))
    data = await dashboard_data(store, Period(T0, T0 + 3600))
    assert [row["group"] for row in data["top_models"]] == ["claude-sonnet-4-6", "claude-haiku-4-5"]
    assert data["series"]["models"] == ["claude-sonnet-4-6", "claude-haiku-4-5"]
    assert data["rejected"]["requests"] == 2 and sum(data["series"]["rejected"]) == 2
    assert data["series"]["error_rate"][0] == 0.5  # 2 rejected of 4 requests in the first bucket
    assert data["totals"]["requests"] == 4


@pytest.fixture
def seeded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async def write() -> None:
        store = SQLiteStore(tmp_path / "data" / "usage.db")
        await store.open()
        await store.insert(_records(time.time() - 3600))
        await store.close()

    asyncio.run(write())
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))


def _usage(*args: str) -> str:
    from provider_proxy.cli.commands import app

    result = CliRunner().invoke(app, ["usage", "--env-file", "none.env", *args], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.output


def test_the_table_shows_rejected_requests_on_a_line_of_their_own(seeded: None) -> None:
    output = _usage()
    lines = [line for line in output.splitlines() if line.startswith("│")]
    assert [line.split("│")[1].strip() for line in lines] == [
        "claude-sonnet-4-6",
        "claude-haiku-4-5",
        REJECTED,
        "total",
    ]
    assert "refused before naming a model" in output
    assert "│ -" not in output


def test_json_and_csv_have_rejected_requests_apart_from_the_rows(seeded: None) -> None:
    report = json.loads(_usage("--json"))
    assert "-" not in [row["group"] for row in report["rows"]]
    assert report["rejected"]["requests"] == 2
    rows = list(csv.DictReader(io.StringIO(_usage("--csv"))))
    assert [(row["model"], row["requests"]) for row in rows] == [
        ("claude-sonnet-4-6", "1"),
        ("claude-haiku-4-5", "1"),
        (REJECTED, "2"),
        ("total", "4"),
    ]
