"""The team deployment files: HAProxy's config is checked by a real HAProxy; the compose file and the
Kubernetes manifests keep what draining and streams need (readiness on /ready, grace periods longer
than the drain plus the grace, no buffering delay, keys in secrets)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.support.apt import require_package

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


def _manifests() -> dict[str, dict[str, Any]]:
    documents = yaml.safe_load_all((DEPLOY / "kubernetes" / "proxy.yaml").read_text())
    return {document["kind"]: document for document in documents if document}


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
    secret_keys = set(manifests["Secret"]["stringData"])
    assert {"OPENAI_API_KEY", "PROXY_API_KEY", "USAGE_DATABASE_URL"} <= secret_keys
    assert not secret_keys & set(settings)  # no key in the ConfigMap
    sources = {next(iter(source.values()))["name"] for source in container["envFrom"]}
    assert sources == {manifests["Secret"]["metadata"]["name"], manifests["ConfigMap"]["metadata"]["name"]}
    labels = manifests["Deployment"]["spec"]["selector"]["matchLabels"]
    assert manifests["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"] == labels
    assert manifests["Service"]["spec"]["selector"] == labels
