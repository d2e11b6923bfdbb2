"""`provider-proxy usage` refuses options it cannot honour with one line and exit code 2."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from provider_proxy.cli.commands import app

runner = CliRunner()


def test_an_unknown_breakdown_is_one_line_listing_the_valid_ones() -> None:
    result = runner.invoke(app, ["usage", "--env-file", "none.env", "--by", "nothing"])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "usage: --by 'nothing' is not a breakdown; use one of: "
        "model, upstream_model, provider, key, session, route, day"
    ]


@pytest.mark.parametrize("order", [["--json", "--csv"], ["--csv", "--json"]])
def test_json_and_csv_together_are_refused(order: list[str]) -> None:
    result = runner.invoke(app, ["usage", "--env-file", "none.env", *order])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == ["usage: --json and --csv cannot be combined; choose one"]
