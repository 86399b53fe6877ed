"""deploy/k8s: every manifest against the Kubernetes schemas, and against the code."""

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from prometheus_client import CollectorRegistry
from pydantic import ValidationError

from services.collector.worker import worker_options
from shared.settings import CollectorSettings, Settings
from tests.deploy import dockerfile
from tests.deploy.entry_points import ALL_INTERFACES, ROLES, entrypoint_roles
from tests.deploy.kustomize import (
    BASE,
    K8S,
    KUBERNETES_VERSION,
    OVERLAYS,
    SECRET_TEMPLATE,
    base_resource,
    build,
    documents,
    kustomization,
    kustomizations,
    manifest_files,
    patch_files,
    pod_containers,
    resources,
)
from tests.deploy.variables import SETTINGS_VARIABLES

WORKLOADS = {
    "api": "Deployment",
    "scheduler": "Deployment",
    "collector": "Deployment",
    "migrate": "Job",
}
CONFIG_MAP = "monitor-config"


def pod_spec(kind: str, name: str) -> dict[str, Any]:
    """The pod template's spec of a base Deployment or Job."""
    spec: dict[str, Any] = base_resource(kind, name)["spec"]["template"]["spec"]
    return spec


def container(role: str) -> dict[str, Any]:
    """The one container of a workload."""
    containers = pod_spec(WORKLOADS[role], role)["containers"]
    assert len(containers) == 1
    only: dict[str, Any] = containers[0]
    return only


def config() -> dict[str, str]:
    data: dict[str, str] = base_resource("ConfigMap", CONFIG_MAP)["data"]
    return data


def image_user() -> int:
    """The uid the image runs as (deploy/Dockerfile's USER)."""
    return int(dockerfile.load()[1][-1].last("USER").arguments.split(":")[0])


@pytest.mark.parametrize("path", manifest_files(), ids=lambda p: str(p.relative_to(K8S)))
def test_every_manifest_matches_the_kubernetes_schema(path: Path) -> None:
    for document in documents(path):
        # strict: a misspelt or misplaced field is an error, not silently dropped.
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("folder", kustomizations(), ids=lambda p: str(p.relative_to(K8S)))
def test_kustomizations_name_files_and_resources_that_exist(folder: Path) -> None:
    for entry in kustomization(folder).get("resources", []):
        path = folder / entry
        assert path.is_file() or (path / "kustomization.yaml").is_file(), entry
    built = {(manifest.kind, manifest.name) for manifest in resources(folder)}
    for patch in patch_files(folder):
        for document in documents(patch):
            target = (document["kind"], document["metadata"]["name"])
            assert target in built, f"{patch.name} patches {target}, which is not built"
    images = {c["image"] for m in resources(folder) for c in pod_containers(m.document)}
    for image in kustomization(folder).get("images", []):
        assert image["name"] in images


@pytest.mark.parametrize("folder", sorted(OVERLAYS.iterdir()), ids=lambda p: p.name)
def test_each_overlay_builds_valid_manifests(folder: Path) -> None:
    built = build(folder)
    namespace = kustomization(folder)["namespace"]
    assert namespace == kustomization(BASE)["namespace"]
    for document in built:
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
        if document["kind"] != "Namespace":
            assert document["metadata"]["namespace"] == namespace
    data = next(d for d in built if d["kind"] == "ConfigMap")["data"]
    Settings(_env_file=None, tikhub_api_key="a-real-looking-key", **_fields(data))
    images = {c["image"] for document in built for c in pod_containers(document)}
    override = kustomization(folder)["images"][0]
    assert images == {f"{override['newName']}:{override['newTag']}"}


@pytest.mark.parametrize("folder", [BASE, *sorted(OVERLAYS.iterdir())], ids=lambda p: p.name)
def test_kubectl_kustomize_renders_what_the_checks_saw(folder: Path) -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed")
    output = subprocess.run(
        [kubectl, "kustomize", str(folder)], capture_output=True, text=True, check=True
    ).stdout
    rendered = [document for document in yaml.safe_load_all(output) if document]
    expected = {(d["kind"], d["metadata"]["name"]): d for d in build(folder)}
    assert {(d["kind"], d["metadata"]["name"]) for d in rendered} == set(expected)
    for document in rendered:
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
        own = expected[(document["kind"], document["metadata"]["name"])]
        for part in ("spec", "data", "stringData"):
            assert document.get(part) == own.get(part), (document["kind"], part)


def _fields(variables: dict[str, str]) -> dict[str, Any]:
    """Environment variables as Settings keyword arguments."""
    return {name.lower(): value for name, value in variables.items()}


def test_the_config_map_is_a_valid_production_configuration() -> None:
    data = config()
    assert set(data) <= SETTINGS_VARIABLES, set(data) - SETTINGS_VARIABLES
    settings = CollectorSettings(
        _env_file=None, tikhub_api_key="a-real-looking-key", **_fields(data)
    )
    assert settings.environment == "production"
    assert settings.api_host == ALL_INTERFACES


def test_no_secret_is_committed() -> None:
    for folder in kustomizations():
        assert all(manifest.kind != "Secret" for manifest in resources(folder))
    shared, tikhub = documents(SECRET_TEMPLATE)
    assert set(shared["stringData"]) | set(tikhub["stringData"]) <= SETTINGS_VARIABLES
    assert set(tikhub["stringData"]) == {"TIKHUB_API_KEY"}
    # The template's key is a placeholder the collector refuses to start with in production;
    # the API and the scheduler start without any.
    production = _fields(config()) | _fields(shared["stringData"])
    with pytest.raises(ValidationError, match="TIKHUB_API_KEY must be set"):
        CollectorSettings(_env_file=None, **production, **_fields(tikhub["stringData"]))
    assert Settings(_env_file=None, **production).tikhub_api_key.get_secret_value() == ""


def test_the_documented_secret_commands_create_the_secrets_the_pods_read() -> None:
    shared, tikhub = documents(SECRET_TEMPLATE)
    text = SECRET_TEMPLATE.read_text()
    commands = re.findall(r"create secret generic (\S+)(.*?)\n#\n", text, re.DOTALL)
    for template, (name, arguments) in zip((shared, tikhub), commands, strict=True):
        assert name == template["metadata"]["name"]
        literals = re.findall(r"--from-literal=(\w+)=", arguments)
        assert set(literals) == set(template["stringData"])
    for role in WORKLOADS:
        references = container(role)["envFrom"]
        assert {"secretRef": {"name": shared["metadata"]["name"]}} in references, role
        assert {"configMapRef": {"name": CONFIG_MAP}} in references, role
        reads_tikhub = {"secretRef": {"name": tikhub["metadata"]["name"]}} in references
        assert reads_tikhub == (role == "collector"), role


def test_every_process_but_the_sandbox_runs_in_the_cluster() -> None:
    for role in WORKLOADS:
        assert container(role)["args"] == [role]
        assert container(role)["image"] == "instagram-monitor"
    assert set(WORKLOADS) == ROLES - {"sandbox"}
    assert set(WORKLOADS) <= set(entrypoint_roles())


@pytest.mark.parametrize("role", sorted(WORKLOADS))
def test_every_container_has_resource_requests_and_limits(role: str) -> None:
    limits = container(role)["resources"]
    for bound in ("requests", "limits"):
        assert set(limits[bound]) == {"cpu", "memory"}, (role, bound)


def test_the_api_is_probed_on_its_health_endpoints() -> None:
    api = container("api")
    ports = {port["name"]: port["containerPort"] for port in api["ports"]}
    assert ports["http"] == int(config()["API_PORT"])
    assert api["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert api["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}


@pytest.mark.parametrize("role", ["scheduler", "collector"])
def test_workers_are_probed_with_their_own_check(role: str) -> None:
    entrypoint = dockerfile.load()[1][-1].last("ENTRYPOINT").exec_form()
    check = [*entrypoint, role, "--check"]
    worker = container(role)
    assert worker["livenessProbe"]["exec"]["command"] == check
    assert worker["readinessProbe"]["exec"]["command"] == check


@pytest.mark.parametrize("role", ["scheduler", "collector"])
def test_metrics_are_scraped_where_the_workers_serve_them(role: str) -> None:
    # The settings' default is local to the pod; the scraper comes from outside it.
    assert config()[f"{role.upper()}_METRICS_HOST"] == ALL_INTERFACES
    port = int(config()[f"{role.upper()}_METRICS_PORT"])
    assert [p["containerPort"] for p in container(role)["ports"]] == [port]
    annotations = base_resource("Deployment", role)["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == str(port)


@pytest.mark.parametrize("role", sorted(WORKLOADS))
def test_pods_meet_the_restricted_policy_as_the_image_user(role: str) -> None:
    namespace = base_resource("Namespace", kustomization(BASE)["namespace"])
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    pod = pod_spec(WORKLOADS[role], role)["securityContext"]
    assert pod["runAsNonRoot"] is True
    assert pod["runAsUser"] == image_user()
    assert pod["seccompProfile"] == {"type": "RuntimeDefault"}
    own = container(role)["securityContext"]
    assert own["allowPrivilegeEscalation"] is False
    assert own["capabilities"] == {"drop": ["ALL"]}
    assert own["readOnlyRootFilesystem"] is True


@pytest.mark.parametrize("role", ["api", "scheduler", "collector"])
def test_deployments_select_their_own_pods(role: str) -> None:
    deployment = base_resource("Deployment", role)
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= labels.items()
    assert labels["app.kubernetes.io/component"] == role
    budget = base_resource("PodDisruptionBudget", role)["spec"]
    assert budget["selector"]["matchLabels"] == selector
    assert budget["minAvailable"] < deployment["spec"]["replicas"]


def test_the_service_routes_to_the_api_pods() -> None:
    service = base_resource("Service", "api")["spec"]
    labels = base_resource("Deployment", "api")["spec"]["template"]["metadata"]["labels"]
    assert service["selector"].items() <= labels.items()
    named_ports = {port["name"] for port in container("api")["ports"]}
    assert {port["targetPort"] for port in service["ports"]} <= named_ports


@pytest.mark.parametrize("role", ["api", "collector"])
def test_the_api_and_the_collector_scale_on_load(role: str) -> None:
    autoscaler = base_resource("HorizontalPodAutoscaler", role)["spec"]
    target = {"apiVersion": "apps/v1", "kind": "Deployment", "name": role}
    assert autoscaler["scaleTargetRef"] == target
    deployment = base_resource("Deployment", role)["spec"]
    assert autoscaler["minReplicas"] <= deployment["replicas"] <= autoscaler["maxReplicas"]


def test_two_schedulers_run_side_by_side() -> None:
    assert base_resource("Deployment", "scheduler")["spec"]["replicas"] == 2


def test_a_stopping_collector_has_time_to_finish_its_jobs() -> None:
    settings = Settings(_env_file=None, **_fields(config()), tikhub_api_key="a-real-looking-key")
    options = worker_options(settings, CollectorRegistry())
    grace = pod_spec("Deployment", "collector")["terminationGracePeriodSeconds"]
    # arq cancels the running jobs on SIGTERM unless it is told to wait for them.
    assert options.get("job_completion_wait", 0) >= settings.collector_job_timeout_seconds
    assert grace > options["job_completion_wait"]


def test_the_api_stops_serving_before_its_grace_period_ends() -> None:
    pre_stop = container("api")["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    assert int(pre_stop[1]) < pod_spec("Deployment", "api")["terminationGracePeriodSeconds"]


def test_the_example_ingress_exposes_the_api_and_the_dashboard_only() -> None:
    ingress = next(m for m in build(OVERLAYS / "example") if m["kind"] == "Ingress")
    paths = {
        (path["path"], path["pathType"])
        for rule in ingress["spec"]["rules"]
        for path in rule["http"]["paths"]
    }
    # An exact "/" is the dashboard's page; a prefix "/" would expose /metrics and /docs too.
    assert paths == {("/api", "Prefix"), ("/", "Exact")}
    secret = ingress["spec"]["tls"][0]["secretName"]
    source = (OVERLAYS / "example" / "ingress.yaml").read_text()
    assert f"create secret tls {secret}" in source
    assert "cert-manager" in source


def test_the_base_says_redis_must_persist_its_data() -> None:
    # Redis holds the collection queue and the scheduler's state; the base runs no Redis, so
    # it says what the one it is pointed at must do.
    text = (BASE / "kustomization.yaml").read_text()
    assert "appendonly yes" in text
    assert "noeviction" in text
