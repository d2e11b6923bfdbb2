#!/usr/bin/env bash
# Start the proxy: ./run_app.sh [provider-proxy serve options, e.g. --port 8082 --config config.toml]
# On first run it creates .venv, installs the package and creates .env from .env.example, then stops
# so you can put your key in it (unless OPENAI_API_KEY is already set in the environment).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"

. scripts/venv.sh
ensure_installed "" ""

if [ ! -f .env ]; then
    cp .env.example .env
    echo
    echo "Created .env from .env.example."
    if [ -z "${OPENAI_API_KEY:-}" ]; then
        # Starting now would serve with the placeholder key: every request would fail.
        echo "  -> Put your provider key in .env (OPENAI_API_KEY=...) and, for a provider other than OpenAI,"
        echo "     set OPENAI_BASE_URL, BIG_MODEL and SMALL_MODEL (examples are in the file), then rerun ./run_app.sh."
        exit 0
    fi
    echo "  -> OPENAI_API_KEY is set in the environment (it wins over .env); starting."
    echo
fi
if [ -z "${OPENAI_API_KEY:-}" ] && grep -q '^OPENAI_API_KEY=your-provider-key' .env; then
    echo "warning: OPENAI_API_KEY in .env is still the placeholder; requests to the default provider will fail." >&2
    echo "         Edit .env, or run '$VENV/bin/provider-proxy check' to see what is missing." >&2
fi

exec "$VENV/bin/provider-proxy" serve "$@"
