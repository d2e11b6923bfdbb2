"""Debian packages that some tests need (a PostgreSQL server, Chromium): installed in CI, else a skip.

In CI (the `CI` environment variable is set) a missing package is installed with apt-get; on a
developer machine the test is skipped with the command that installs it, so no test silently
depends on something it cannot have.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from typing import TypeVar

import pytest

T = TypeVar("T")


def require_package(package: str, find: Callable[[], T | None], purpose: str) -> T:
    """What `find` finds, after installing `package` in CI; skips the test elsewhere when missing."""
    found = find()
    if found is not None:
        return found
    if not os.environ.get("CI"):
        command = f"sudo apt-get update && sudo apt-get install -y {package}"
        pytest.skip(f"{purpose} needs the Debian package {package!r}; install it with: {command}")
    if shutil.which("apt-get") is None:
        pytest.fail(f"{purpose} needs {package!r} and this CI machine has no apt-get")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update"], check=True, env=env, capture_output=True)
    subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", package], check=True, env=env)
    found = find()
    if found is None:
        pytest.fail(f"installed {package!r} but still cannot find what {purpose} needs")
    return found
