"""A test skipped for a missing Debian package says how to install it, as commands that work when
pasted into a shell (both need root)."""

from __future__ import annotations

import pytest

from tests.support.apt import require_package


def test_the_install_hint_runs_both_apt_commands_with_sudo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception) as skipped:
        require_package("chromium", lambda: None, "the dashboard browser test")
    assert str(skipped.value).endswith("install it with: sudo apt-get update && sudo apt-get install -y chromium")
