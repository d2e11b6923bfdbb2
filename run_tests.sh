#!/usr/bin/env bash
# Run the whole test suite: ./run_tests.sh [pytest options, e.g. -k streaming -x]
# Creates .venv and installs the package with its dev tools when needed, then runs
# ruff (lint and format check), mypy and pytest. Exits non-zero on the first failure.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"

VENV=.venv
STAMP="$VENV/.install-stamp-dev"

find_python() {
    local candidate
    for candidate in ${PYTHON:-} python3.13 python3.12 python3.11 python3 python; do
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' >/dev/null 2>&1; then
            echo "$candidate"
            return 0
        fi
    done
    return 1
}

if [ ! -x "$VENV/bin/python" ]; then
    if ! PY="$(find_python)"; then
        echo "error: Python 3.11 or newer is required but was not found." >&2
        echo "       Install it (e.g. 'sudo apt install python3 python3-venv', 'brew install python@3.12'," >&2
        echo "       or https://www.python.org/downloads/), or set PYTHON=/path/to/python3.11 and rerun." >&2
        exit 1
    fi
    echo "Creating $VENV with $PY ($("$PY" --version 2>&1))..."
    if ! "$PY" -m venv "$VENV"; then
        echo "error: could not create $VENV. On Debian/Ubuntu install the venv module: sudo apt install python3-venv" >&2
        rm -rf "$VENV"
        exit 1
    fi
fi

if ! "$VENV/bin/python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'; then
    echo "error: $VENV uses $("$VENV/bin/python" --version 2>&1); Python 3.11 or newer is required." >&2
    echo "       Delete $VENV and rerun this script." >&2
    exit 1
fi

WANT="$("$VENV/bin/python" -c 'import hashlib; print(hashlib.sha256(open("pyproject.toml", "rb").read()).hexdigest())')"
HAVE="$(cat "$STAMP" 2>/dev/null || true)"
if [ "$WANT" != "$HAVE" ] || [ ! -x "$VENV/bin/pytest" ] || [ ! -x "$VENV/bin/provider-proxy" ]; then
    echo "Installing claude-code-provider-proxy with dev tools into $VENV..."
    "$VENV/bin/python" -m pip install --disable-pip-version-check -q -e '.[dev]'
    echo "$WANT" >"$STAMP"
    # A dev install contains the app install too.
    echo "$WANT" >"$VENV/.install-stamp"
fi

export PATH="$PWD/$VENV/bin:$PATH"

step() {
    echo
    echo "==> $*"
}

step "ruff check src tests bench"
ruff check src tests bench

step "ruff format --check src tests bench"
ruff format --check src tests bench

step "mypy"
mypy

step "pytest $*"
status=0
pytest "$@" || status=$?
if [ "$status" -eq 5 ]; then
    echo "error: pytest collected no tests (exit code 5); that counts as a failure." >&2
    exit 5
fi
if [ "$status" -ne 0 ]; then
    exit "$status"
fi

echo
echo "All checks passed."
