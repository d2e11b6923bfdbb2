"""`provider-proxy --help` and each command's help show their text whole (it is Rich markup, where a
bare `[word]` is a style tag and disappears)."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from provider_proxy.cli.commands import app

runner = CliRunner()
COMMANDS = {command.name or command.callback.__name__: command.callback for command in app.registered_commands}


def _plain(text: str) -> str:
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", text).split())


def _summary(name: str) -> str:
    doc = COMMANDS[name].__doc__ or ""
    return _plain(doc.strip().split("\n\n")[0].replace("\\[", "["))


def test_the_usage_summary_keeps_prices_in_brackets() -> None:
    assert "the file's [prices]" in _summary("usage")
    assert "the file's [prices]" in _plain(runner.invoke(app, ["--help"]).output)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_each_command_help_shows_its_summary_whole(name: str) -> None:
    result = runner.invoke(app, [name, "--help"])
    assert result.exit_code == 0
    assert _summary(name) in _plain(result.output)
