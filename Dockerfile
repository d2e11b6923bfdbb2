# syntax=docker/dockerfile:1
# claude-code-provider-proxy: the Anthropic Messages API over any OpenAI-compatible provider.
#   docker compose up --build -d          (./run_docker.sh; usage history in the volume usage-data)
#   docker build -t claude-code-provider-proxy .
#   docker run -d -p 8082:8082 --env-file .env -v provider-proxy-data:/data claude-code-provider-proxy
#
# Base image, pinned by digest for reproducible builds: the python:3.12-slim multi-platform index as
# published in August 2026 (the same digest is pinned in public projects that checked it against the
# registry; no registry is reachable from the machines this file is tested on). To move to a newer one:
#   docker buildx imagetools inspect python:3.12-slim       (prints "Digest: sha256:...")
#   docker build --build-arg PYTHON_IMAGE=python:3.12-slim@sha256:<digest> .
ARG PYTHON_IMAGE=python:3.12-slim@sha256:78387bc3881b8273120a12ebe6c1ab22b018ccc2c9adf565ae1ac9b536e184ea

# Stage 1: the wheel of this package, built from the source alone.
FROM ${PYTHON_IMAGE} AS wheel
WORKDIR /build
COPY pyproject.toml README.md LICENSE ./
COPY src ./src
RUN pip wheel --no-cache-dir --disable-pip-version-check --no-deps --wheel-dir dist .

# Stage 2: the image.
FROM ${PYTHON_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# /data: the usage store; /keys: the client keys file a team deployment shares between replicas
# (deploy/docker-compose.team.yml). A new named volume takes the owner of the directory it covers.
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin proxy \
    && mkdir /data /keys \
    && chown proxy:proxy /data /keys

WORKDIR /app

# Dependencies first, read from pyproject.toml alone: this layer is reused until they change.
COPY pyproject.toml ./
RUN python -c "import tomllib; print(*tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies'], sep='\n')" > requirements.txt \
    && pip install -r requirements.txt \
    && rm requirements.txt pyproject.toml

# Then the package without its dependencies: a code change rebuilds only this layer and the wheel.
COPY --from=wheel /build/dist ./dist
RUN pip install --no-deps dist/*.whl \
    && rm -r dist

USER proxy

# The usage store (SQLite) lives here; mount a volume on it to keep the history (compose does).
# For commands other than serve (check, usage) run in the container; serve's flags below win
# over these and over anything an --env-file sets.
ENV DATA_DIR=/data \
    HOST=0.0.0.0 \
    PORT=8082
EXPOSE 8082

HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8082/health', timeout=4)"]

# Listen on every interface inside the container, on the port the healthcheck and EXPOSE name,
# whatever HOST and PORT an --env-file passes (.env.example has HOST=127.0.0.1, which would make
# the published port unreachable). Publish it elsewhere with -p 9000:8082.
ENTRYPOINT ["provider-proxy"]
# Inside a container the proxy must listen on every interface (--allow-open: without PROXY_API_KEY it
# would refuse to); who reaches it is decided by how the port is published. Without PROXY_API_KEY,
# publish it on 127.0.0.1 only (-p 127.0.0.1:8082:8082).
CMD ["serve", "--host", "0.0.0.0", "--port", "8082", "--allow-open"]
