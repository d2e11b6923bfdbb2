#!/usr/bin/env bash
# Build and start the proxy in Docker: ./run_docker.sh
# Creates .env from .env.example when missing (and stops, so you can fill it in); otherwise runs
# `docker compose up --build -d`.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"

if docker compose version >/dev/null 2>&1; then
    COMPOSE=(docker compose)
elif command -v docker-compose >/dev/null 2>&1; then
    COMPOSE=(docker-compose)
else
    echo "error: Docker Compose was not found. Install Docker Desktop or the docker-compose-plugin" >&2
    echo "       (https://docs.docker.com/compose/install/), or run the proxy without Docker: ./run_app.sh" >&2
    exit 1
fi

if [ ! -f .env ]; then
    cp .env.example .env
    echo "Created .env from .env.example."
    echo "  -> Put your provider key in .env (OPENAI_API_KEY=...) and, for a provider other than OpenAI,"
    echo "     set OPENAI_BASE_URL, BIG_MODEL and SMALL_MODEL, then rerun ./run_docker.sh."
    exit 0
fi
if grep -q '^OPENAI_API_KEY=your-provider-key' .env; then
    echo "warning: OPENAI_API_KEY in .env is still the placeholder; requests to the default provider will fail." >&2
fi

"${COMPOSE[@]}" up --build -d

cat <<'MSG'

The proxy is starting on http://localhost:8082 (check: curl http://localhost:8082/health).

Use it with Claude Code:
  export ANTHROPIC_BASE_URL=http://localhost:8082
  export ANTHROPIC_AUTH_TOKEN=any-value        # or the PROXY_API_KEY from .env, if you set one
  claude

Logs:    docker compose logs -f proxy
Status:  docker compose ps
Stop:    docker compose down
After editing .env: docker compose up -d   (recreates the container with the new settings)
MSG
