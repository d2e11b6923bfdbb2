"""The team deployment files: HAProxy's config is checked by a real HAProxy; the compose file and the
Kubernetes manifests keep what draining and streams need (readiness on /ready, grace periods longer
than the drain plus the grace, no buffering delay, keys in secrets) and what shared limits need (one
Redis, one keys file for every replica). tests/team runs the HAProxy config in front of real replicas."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.support.apt import require_package
from tests.support.haproxy import render

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def _seconds(value: str) -> float:
    return float(value.removesuffix("s"))


def test_haproxy_accepts_the_config_and_it_checks_readiness_without_stream_delays() -> None:
    haproxy = require_package("haproxy", lambda: shutil.which("haproxy"), "the HAProxy config check")
    checked = subprocess.run([haproxy, "-c", "-f", str(DEPLOY / "haproxy.cfg")], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    config = (DEPLOY / "haproxy.cfg").read_text()
    assert "option http-no-delay" in config
    assert "option httpchk GET /ready" in config
    assert "timeout server 15m" in config and "timeout client 15m" in config
    # A refused connection or an answer-less close is tried again, on another replica at the end.
    assert "retry-on conn-failure empty-response" in config and "option redispatch" in config


def test_the_team_compose_file_runs_replicas_that_drain_within_dockers_grace() -> None:
    compose: dict[str, Any] = yaml.safe_load((DEPLOY / "docker-compose.team.yml").read_text())
    proxy = compose["services"]["proxy"]
    environment = proxy["environment"]
    assert proxy["deploy"]["replicas"] >= 2
    assert environment["USAGE_DATABASE_URL"].startswith("postgresql://")
    drain, grace = float(environment["DRAIN_SECONDS"]), float(environment["SHUTDOWN_GRACE"])
    assert drain > 0 and _seconds(proxy["stop_grace_period"]) > drain + grace
    haproxy = compose["services"]["haproxy"]
    assert "./haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro" in haproxy["volumes"]
    assert haproxy["ports"] == ["8082:8082"] and "ports" not in proxy  # only the balancer is published
    assert compose["services"]["postgres"]["healthcheck"]


def test_the_team_compose_file_shares_one_redis_and_one_keys_file() -> None:
    compose: dict[str, Any] = yaml.safe_load((DEPLOY / "docker-compose.team.yml").read_text())
    proxy, redis = compose["services"]["proxy"], compose["services"]["redis"]
    assert proxy["environment"]["REDIS_URL"] == "redis://redis:6379/0"
    assert redis["healthcheck"] and proxy["depends_on"]["redis"] == {"condition": "service_healthy"}
    keys_file = Path(proxy["environment"]["KEYS_FILE"])
    volume, _, mount = next(v for v in proxy["volumes"] if v.endswith(f":{keys_file.parent}")).partition(":")
    assert volume in compose["volumes"]  # a named volume: every replica sees the same file
    # The image creates the mount point for its user, so `keys create` in a container can write there.
    dockerfile = (DEPLOY.parent / "Dockerfile").read_text()
    assert f"mkdir /data {mount}" in dockerfile and f"chown proxy:proxy /data {mount}" in dockerfile


def _manifests(name: str = "proxy.yaml") -> dict[str, dict[str, Any]]:
    """The documents by kind; Secrets by kind and name ("Secret/provider-proxy-keys")."""
    documents = yaml.safe_load_all((DEPLOY / "kubernetes" / name).read_text())
    found: dict[str, dict[str, Any]] = {}
    for document in filter(None, documents):
        kind = document["kind"]
        found[f"Secret/{document['metadata']['name']}" if kind == "Secret" else kind] = document
    return found


def test_kubernetes_probes_drain_and_keep_keys_in_a_secret() -> None:
    manifests = _manifests()
    pod = manifests["Deployment"]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    assert container["resources"]["requests"]["cpu"] and container["resources"]["requests"]["memory"]
    settings = manifests["ConfigMap"]["data"]
    drain, grace = float(settings["DRAIN_SECONDS"]), float(settings["SHUTDOWN_GRACE"])
    assert pod["terminationGracePeriodSeconds"] > drain + grace
    probe = container["readinessProbe"]
    assert probe["periodSeconds"] * probe["failureThreshold"] < drain  # out of the Service before it stops
    secret_keys = set(manifests["Secret/provider-proxy-keys"]["stringData"])
    assert {"OPENAI_API_KEY", "PROXY_API_KEY", "USAGE_DATABASE_URL", "REDIS_URL"} <= secret_keys
    assert not secret_keys & set(settings)  # no key in the ConfigMap
    sources = {next(iter(source.values()))["name"] for source in container["envFrom"]}
    assert sources == {"provider-proxy-keys", manifests["ConfigMap"]["metadata"]["name"]}
    labels = manifests["Deployment"]["spec"]["selector"]["matchLabels"]
    assert manifests["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"] == labels
    assert manifests["Service"]["spec"]["selector"] == labels


def test_kubernetes_mounts_the_client_keys_file_from_a_secret_and_runs_a_redis() -> None:
    manifests = _manifests()
    pod = manifests["Deployment"]["spec"]["template"]["spec"]
    keys_file = Path(manifests["ConfigMap"]["data"]["KEYS_FILE"])
    mount = next(m for m in pod["containers"][0]["volumeMounts"] if m["mountPath"] == str(keys_file.parent))
    assert mount["readOnly"]
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    secret = manifests[f"Secret/{volume['secret']['secretName']}"]
    assert json.loads(secret["stringData"][keys_file.name]) == {"keys": {}}  # the format `keys create` writes
    assert volume["secret"]["defaultMode"] & 0o007 == 0  # not readable by other users
    assert pod["securityContext"]["fsGroup"] == pod["securityContext"]["runAsUser"] == 10001  # the image's user
    redis = _manifests("redis.yaml")
    url = manifests["Secret/provider-proxy-keys"]["stringData"]["REDIS_URL"]
    port = redis["Service"]["spec"]["ports"][0]["port"]
    assert url == f"redis://{redis['Service']['metadata']['name']}:{port}/0"
    assert redis["Service"]["spec"]["selector"] == redis["Deployment"]["spec"]["selector"]["matchLabels"]


def test_the_team_tests_run_the_deployed_haproxy_config_with_only_its_addresses_changed(tmp_path: Path) -> None:
    template = (DEPLOY / "haproxy.cfg").read_text()
    rendered = render(template, port=18082, servers={"r1": 18001, "r2": 18002}, stats_socket=tmp_path / "s.sock")
    haproxy = require_package("haproxy", lambda: shutil.which("haproxy"), "the HAProxy config check")
    (tmp_path / "haproxy.cfg").write_text(rendered)
    checked = subprocess.run([haproxy, "-c", "-f", str(tmp_path / "haproxy.cfg")], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr

    def settings(config: str) -> set[str]:
        skipped = ("bind", "server", "resolvers", "nameserver", "hold", "stats", "default-server", "#")
        return {line.strip() for line in config.splitlines() if line.strip() and not line.strip().startswith(skipped)}

    assert settings(rendered) == settings(template)
    assert "server r2 127.0.0.1:18002 check" in rendered and "bind 127.0.0.1:18082" in rendered
    assert "default-server inter 2s fall 2 rise 2\n" in rendered
