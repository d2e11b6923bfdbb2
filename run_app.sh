#!/usr/bin/env bash
# Start the proxy: ./run_app.sh [provider-proxy serve options, e.g. --port 8082 --config config.toml]
# On first run it creates .venv, installs the package and creates .env from .env.example.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"

VENV=.venv
STAMP="$VENV/.install-stamp"

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

# Reinstall only when pyproject.toml changed since the last install (or nothing is installed yet).
WANT="$("$VENV/bin/python" -c 'import hashlib; print(hashlib.sha256(open("pyproject.toml", "rb").read()).hexdigest())')"
HAVE="$(cat "$STAMP" 2>/dev/null || true)"
if [ "$WANT" != "$HAVE" ] || [ ! -x "$VENV/bin/provider-proxy" ]; then
    echo "Installing claude-code-provider-proxy into $VENV..."
    "$VENV/bin/python" -m pip install --disable-pip-version-check -q -e .
    echo "$WANT" >"$STAMP"
fi

if [ ! -f .env ]; then
    cp .env.example .env
    echo
    echo "Created .env from .env.example."
    echo "  -> Put your provider key in .env (OPENAI_API_KEY=...) and, for a provider other than OpenAI,"
    echo "     set OPENAI_BASE_URL, BIG_MODEL and SMALL_MODEL (examples are in the file), then rerun."
    echo
fi
if [ -z "${OPENAI_API_KEY:-}" ] && grep -q '^OPENAI_API_KEY=your-provider-key' .env; then
    echo "warning: OPENAI_API_KEY in .env is still the placeholder; requests to the default provider will fail." >&2
    echo "         Edit .env, or run '$VENV/bin/provider-proxy check' to see what is missing." >&2
fi

exec "$VENV/bin/provider-proxy" serve "$@"
