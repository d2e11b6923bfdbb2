#!/usr/bin/env bash
# Run the whole test suite: ./run_tests.sh [pytest options, e.g. -k streaming -x]
# Creates .venv and installs the package with its dev tools when needed, then runs
# ruff (lint and format check), mypy and pytest. Exits non-zero on the first failure.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"

. scripts/venv.sh
ensure_installed "[dev]" "-dev"

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
