"""`provider-proxy`: a thin command line over the library."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from dotenv import load_dotenv

from provider_proxy.config.settings import ConfigError, Settings, load_settings

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Anthropic Messages API over OpenAI-compatible providers.",
)

ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="TOML file with providers and routes (CONFIG_FILE).")
]
EnvFileOption = Annotated[Path, typer.Option("--env-file", help="Environment file to read.")]


@contextmanager
def _config_errors() -> Iterator[None]:
    """A configuration error ends the command with exit code 2 and the message, naming the key."""
    try:
        yield
    except ConfigError as exc:
        typer.secho(f"Configuration error: {exc}", fg="red", err=True)
        raise typer.Exit(2) from None


def _settings(env_file: Path, **overrides: Any) -> Settings:
    # Keys named by a config file's `api_key_env` may live in the same .env file.
    load_dotenv(env_file, override=False)
    clean = {key: value for key, value in overrides.items() if value is not None}
    with _config_errors():
        return load_settings(env_file=env_file, **clean)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to listen on (HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (PORT).")] = None,
    config: ConfigOption = None,
    log_level: Annotated[str | None, typer.Option(help="DEBUG, INFO, WARNING or ERROR (LOG_LEVEL).")] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes (WORKERS).")] = None,
    allow_open: Annotated[
        bool | None,
        typer.Option("--allow-open", help="Listen beyond loopback without PROXY_API_KEY (ALLOW_OPEN)."),
    ] = None,
    env_file: EnvFileOption = Path(".env"),
) -> None:
    """Run the proxy."""
    from provider_proxy.cli.check import startup_warnings
    from provider_proxy.config.proxy_config import build_config
    from provider_proxy.server import run

    settings = _settings(
        env_file,
        host=host,
        port=port,
        config_file=config,
        log_level=log_level,
        workers=workers,
        allow_open=allow_open,
    )
    with _config_errors():
        settings.check_open(build_config(settings).keys.required)
        for warning in startup_warnings(settings):
            typer.secho(f"warning: {warning}", fg="yellow", err=True)
        run(settings)


@app.command()
def check(
    config: ConfigOption = None,
    probe: Annotated[
        bool,
        typer.Option(
            help="Ask each provider's /models endpoint whether the key works, and the usage store whether it answers."
        ),
    ] = False,
    request: Annotated[
        Path | None,
        typer.Option(help="A request body (JSON file, - for stdin): say which scenario and route it takes."),
    ] = None,
    header: Annotated[list[str] | None, typer.Option(help="A header of that request, NAME:VALUE (repeatable).")] = None,
    env_file: EnvFileOption = Path(".env"),
) -> None:
    """Validate the configuration and say what is missing or wrong."""
    from provider_proxy.cli.check import check_config, explain_route, probe_providers
    from provider_proxy.cli.usage_check import usage_findings
    from provider_proxy.errors import ProxyError

    settings = _settings(env_file, config_file=config)
    with _config_errors():
        findings = check_config(settings)
        if probe:
            findings += asyncio.run(probe_providers(settings))
        findings += asyncio.run(usage_findings(settings, probe=probe))
        if request is not None:
            try:
                raw = sys.stdin.buffer.read() if str(request) == "-" else request.read_bytes()
                headers = dict(item.partition(":")[::2] for item in header or ())
                lines = explain_route(settings, raw, {k.strip(): v.strip() for k, v in headers.items()})
            except (OSError, ProxyError) as exc:
                typer.secho(f"--request: {getattr(exc, 'message', exc)}", fg="red", err=True)
                raise typer.Exit(2) from None
            for line in lines:
                typer.echo(f"[route] {line}")
    problems = 0
    for finding in findings:
        colour = {"ok": "green", "warning": "yellow", "error": "red"}[finding.level]
        typer.secho(f"[{finding.level}] {finding.message}", fg=colour)
        problems += finding.level == "error"
    if problems:
        typer.secho(f"{problems} problem(s) must be fixed before the proxy can serve requests.", fg="red")
        raise typer.Exit(1)
    typer.secho("Configuration looks good.", fg="green")


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def code(
    ctx: typer.Context,
    print_env: Annotated[bool, typer.Option("--print-env", help="Print the shell exports and exit.")] = False,
    keep_proxy: Annotated[
        bool, typer.Option(help="Leave a proxy started here running after Claude Code exits.")
    ] = False,
    config: ConfigOption = None,
    env_file: EnvFileOption = Path(".env"),
) -> None:
    """Run Claude Code through the proxy (started in the background if it is not running)."""
    from provider_proxy.cli import code as launcher

    settings = _settings(env_file, config_file=config)
    with _config_errors():
        launch = launcher.launch_for(settings)
    if print_env:
        print(launch.exports())
        return
    claude = launcher.find_claude()
    if claude is None:
        typer.secho(launcher.INSTALL_HINT, fg="red", err=True)
        raise typer.Exit(127)
    started = None
    if not launcher.is_healthy(launch.base_url):
        log_path = Path.home() / ".cache" / "provider-proxy" / "proxy.log"
        typer.secho(f"Starting the proxy on {launch.base_url} (log: {log_path})", err=True)
        try:
            started = launcher.start_proxy(settings, log_path)
        except RuntimeError as exc:
            typer.secho(f"Could not start the proxy: {exc}", fg="red", err=True)
            raise typer.Exit(1) from None
    try:
        code = launcher.run_claude(claude, list(ctx.args), launch)
    finally:
        if started is not None and not keep_proxy:
            started.terminate()
            started.wait(10)
    raise typer.Exit(code)


@app.command()
def usage(
    since: Annotated[str, typer.Option(help="Start: a span back from now (7d, 12h, 30m) or a UTC date.")] = "7d",
    until: Annotated[str | None, typer.Option(help="End (default: now), in the same forms as --since.")] = None,
    by: Annotated[
        str,
        typer.Option(
            help="Breakdown: model, upstream_model, provider, route (the target that answered), key, session or day."
        ),
    ] = "model",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print CSV instead of a table.")] = False,
    config: ConfigOption = None,
    env_file: EnvFileOption = Path(".env"),
) -> None:
    # Help text is Rich markup: a bare [prices] would be taken for a style tag and vanish.
    r"""Usage totals and a breakdown over a period, with cost from the model facts or the file's \[prices]."""
    from rich.console import Console

    from provider_proxy.cli import tables as render
    from provider_proxy.services.usage.period import PeriodError, parse_period
    from provider_proxy.services.usage.report import DIMENSIONS, load_report

    if by not in DIMENSIONS:
        _usage_error(f"--by {by!r} is not a breakdown; use one of: {', '.join(DIMENSIONS)}")
    if as_json and as_csv:
        _usage_error("--json and --csv cannot be combined; choose one")
    settings = _settings(env_file, config_file=config)
    try:
        report = asyncio.run(load_report(settings, parse_period(since, until), by))
    except (ConfigError, PeriodError) as exc:
        _usage_error(str(exc))
    if as_json:
        print(render.as_json(report))
    elif as_csv:
        print(render.as_csv(report), end="")
    else:
        render.show(render.as_table(report), Console())


def _usage_error(message: str) -> NoReturn:
    typer.secho(f"usage: {message}", fg="red", err=True)
    raise typer.Exit(2)


@app.command()
def models(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    config: ConfigOption = None,
    env_file: EnvFileOption = Path(".env"),
) -> None:
    """The names the proxy serves, where each goes (fallbacks too) and each target's window, output
    limit, vision, tools and price."""
    from rich.console import Console

    from provider_proxy.cli import models as render

    settings = _settings(env_file, config_file=config)
    with _config_errors():
        report = render.models_report(settings)
    if as_json:
        print(render.as_json(report))
    else:
        Console().print(render.as_table(report))


keys_app = typer.Typer(
    no_args_is_help=True,
    help="Client keys: create, list, revoke (in KEYS_FILE, default DATA_DIR/keys.json; no restart needed).",
)
app.add_typer(keys_app, name="keys")


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Argument(help="Who or what the key is for (letters, digits, . _ - @).")],
    model: Annotated[
        list[str] | None, typer.Option("--model", help="Allowed model pattern, e.g. 'claude-*haiku*' (repeatable).")
    ] = None,
    rpm: Annotated[int | None, typer.Option(min=1, help="Requests per minute.")] = None,
    tpm: Annotated[int | None, typer.Option(min=1, help="Tokens (input + output) per minute.")] = None,
    daily_budget: Annotated[float | None, typer.Option(min=0.01, help="US dollars per UTC day.")] = None,
    monthly_budget: Annotated[float | None, typer.Option(min=0.01, help="US dollars per UTC month.")] = None,
    admin: Annotated[bool, typer.Option(help="May open the dashboard and /metrics.")] = False,
    config: ConfigOption = None,
    env_file: EnvFileOption = Path(".env"),
) -> None:
    """Make a key; it is printed once and stored only as a hash."""
    from provider_proxy.cli.keys import create_key
    from provider_proxy.config.proxy_config import build_config

    settings = _settings(env_file, config_file=config)
    with _config_errors():
        limits: dict[str, object] = {"models": tuple(model or ()), "rpm": rpm, "tpm": tpm, "admin": admin}
        limits |= {"daily_budget": daily_budget, "monthly_budget": monthly_budget}
        key = create_key(settings.keys_path, name, frozenset(build_config(settings).key_entries), **limits)
    typer.secho(f"Created key {name!r} in {settings.keys_path}. It is shown only now; give it to its user:", err=True)
    print(key)
    typer.secho("Clients send it as x-api-key (ANTHROPIC_API_KEY) or a Bearer token (ANTHROPIC_AUTH_TOKEN).", err=True)


@keys_app.command("list")
def keys_list(config: ConfigOption = None, env_file: EnvFileOption = Path(".env")) -> None:
    """The keys, with their limits (never the keys themselves)."""
    from provider_proxy.cli.keys import keys_table, show
    from provider_proxy.config.keys import read_keys_file
    from provider_proxy.config.proxy_config import build_config

    settings = _settings(env_file, config_file=config)
    with _config_errors():
        show(keys_table(read_keys_file(settings.keys_path), build_config(settings).key_entries))


@keys_app.command("revoke")
def keys_revoke(
    name: Annotated[str, typer.Argument(help="The key's name.")],
    config: ConfigOption = None,
    env_file: EnvFileOption = Path(".env"),
) -> None:
    """Revoke a key: a running proxy refuses it within a second, no restart needed."""
    from provider_proxy.cli.keys import revoke_key
    from provider_proxy.config.proxy_config import build_config

    settings = _settings(env_file, config_file=config)
    with _config_errors():
        revoke_key(settings.keys_path, name, frozenset(build_config(settings).key_entries))
    typer.secho(f"Revoked key {name!r}.", fg="green")


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
