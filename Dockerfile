# syntax=docker/dockerfile:1
# claude-code-provider-proxy: the Anthropic Messages API over any OpenAI-compatible provider.
#   docker build -t claude-code-provider-proxy .
#   docker run --rm -p 8082:8082 --env-file .env claude-code-provider-proxy
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Only what the package build needs; .dockerignore keeps .env, .venv and tests out of the image.
COPY pyproject.toml README.md LICENSE ./
COPY src ./src
RUN pip install . \
    && useradd --create-home --uid 10001 --shell /usr/sbin/nologin proxy

USER proxy

# Listen on every interface inside the container; publish the port with -p / ports:.
ENV HOST=0.0.0.0 \
    PORT=8082
EXPOSE 8082

HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('PORT', '8082') + '/health', timeout=4)"]

CMD ["provider-proxy", "serve"]
