#!/usr/bin/env bash
# Install the peer proxies the benchmark compares against, outside the project's venv.
# Usage: bash bench/peers/install.sh [PEERS_DIR]   (default /work/bench-peers)
# Everything comes from the ordinary registries (PyPI, npm, Debian); nothing is copied into this repo.
set -euo pipefail
PEERS="${1:-${BENCH_PEERS_DIR:-/work/bench-peers}}"
mkdir -p "$PEERS"

# wrk (optional: bench/run.py falls back to its own Python load client without it).
if ! command -v wrk >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && apt-get install -y -qq wrk || echo "wrk not installed; the Python client is used"
fi

# LiteLLM's proxy in its own venv (never the project's).
if [ ! -x "$PEERS/litellm/bin/litellm" ]; then
    python3 -m venv "$PEERS/litellm"
    "$PEERS/litellm/bin/pip" install -q --upgrade pip
    "$PEERS/litellm/bin/pip" install -q "litellm[proxy]"
fi

# claude-code-router 2.0.0 from npm, in its own prefix.
if [ ! -e "$PEERS/ccr/node_modules/.bin/ccr" ]; then
    mkdir -p "$PEERS/ccr"
    npm install --prefix "$PEERS/ccr" --no-audit --no-fund @musistudio/claude-code-router@2.0.0
fi
echo "peers installed under $PEERS"
