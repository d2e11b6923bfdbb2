"""Client keys from PROXY_API_KEY, the config file's [keys] and the keys file."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from provider_proxy.cli.keys import create_key
from provider_proxy.config.keys import KeyEntry, build_keys, read_keys_file
from provider_proxy.config.proxy_config import build_config
from provider_proxy.config.settings import ConfigError, load_settings


def settings(tmp_path: Path, **values: object):  # type: ignore[no-untyped-def]
    return load_settings(env_file=None, keys_file=tmp_path / "keys.json", **values)


def test_no_key_configured_lets_everyone_in(tmp_path: Path) -> None:
    keys = build_keys(settings(tmp_path), {})
    assert not keys.required and keys.find("anything") is None


def test_keys_from_every_source_are_found_by_what_the_client_presents(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI_BOT_KEY", "bot-secret-0123")
    created = create_key(tmp_path / "keys.json", "alice", frozenset(), rpm=10)
    config = tmp_path / "proxy.toml"
    digest = hashlib.sha256(b"carol-secret").hexdigest()
    config.write_text(
        f'[keys.carol]\nsha256 = "{digest}"\nmonthly_budget = 20\n[keys.bot]\nkey_env = "CI_BOT_KEY"\nadmin = true\n'
    )
    keys = build_config(settings(tmp_path, proxy_api_key=" operator-0123 ", config_file=config)).keys
    found = {name: keys.find(key) for name, key in [("default", "operator-0123"), ("alice", created)]}
    found |= {"carol": keys.find("carol-secret"), "bot": keys.find("bot-secret-0123")}
    assert {name: key.name if key else None for name, key in found.items()} == {n: n for n in found}
    assert found["default"].admin and found["bot"].admin and not found["alice"].admin  # type: ignore[union-attr]
    assert found["alice"].rpm == 10 and found["carol"].monthly_budget == 20  # type: ignore[union-attr]
    assert keys.find("carol-secret ") is None and keys.find("") is None
    assert "secret" not in repr(found["carol"]) and digest not in repr(found["carol"])


def test_a_key_named_in_both_the_config_file_and_the_keys_file_is_an_error(tmp_path: Path) -> None:
    create_key(tmp_path / "keys.json", "alice", frozenset())
    config = tmp_path / "proxy.toml"
    config.write_text('[keys.alice]\nkey_env = "X"\n')
    with pytest.raises(ConfigError, match=r"keys\.alice: defined both in CONFIG_FILE and in"):
        build_config(settings(tmp_path, config_file=config))


@pytest.mark.parametrize(
    ("table", "problem"),
    [
        ("[keys.a]\nrpm = 5\n", "give the key's sha256 or key_env"),
        ('[keys.a]\nsha256 = "abc"\n', "64 hex digits"),
        ('[keys.a]\nkey_env = "UNSET_VARIABLE_X"\n', "UNSET_VARIABLE_X is not set"),
        ('[keys."a b"]\nkey_env = "X"\n', "key name 'a b'"),
        ('[keys.a]\nkey_env = "X"\nrpn = 5\n', "rpn"),
    ],
)
def test_bad_key_tables_name_the_problem(tmp_path: Path, table: str, problem: str) -> None:
    config = tmp_path / "proxy.toml"
    config.write_text(table)
    with pytest.raises(ConfigError, match=problem):
        build_config(settings(tmp_path, config_file=config))


def test_a_revoked_key_still_makes_keys_required(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    path.write_text('{"keys": {"alice": {"sha256": "' + "0" * 64 + '", "revoked": "2026-12-01T00:00:00Z"}}}')
    keys = build_keys(settings(tmp_path), {})
    assert keys.required and not keys.by_digest


def test_an_invalid_keys_file_is_a_config_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    path.write_text('{"keys": []}')
    with pytest.raises(ConfigError, match="is not a valid keys file"):
        read_keys_file(path)
    assert read_keys_file(tmp_path / "missing.json") == {}
    assert KeyEntry().models == ()
