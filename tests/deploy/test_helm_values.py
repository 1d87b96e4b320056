"""deploy/helm-values.yaml: the invariants that make the official chart's install run.

No chart registry, Helm or Kubernetes is reachable here, and the chart's ``values.schema.json`` is
not on a package registry, so the values are not rendered or schema-validated in CI. These tests
check what a first install needs: pinned versions, external database and broker, the secrets
backend for connections and variables, pools bootstrapped on install/upgrade, Airflow's own secrets
from Kubernetes secrets, IRSA, requests and limits everywhere, and none of the keys the chart
deprecated for Airflow 3.
"""

from __future__ import annotations

import json
import re
from importlib import import_module
from importlib.metadata import version
from pathlib import Path

import pytest
import yaml

from devstack import topology as topo

REPO = Path(__file__).resolve().parents[2]
VALUES_FILE = REPO / "deploy" / "helm-values.yaml"
VALUES = yaml.safe_load(VALUES_FILE.read_text())
CHART = re.search(
    r"^# chart: apache-airflow/airflow (?P<version>\d+\.\d+\.\d+)$", VALUES_FILE.read_text(), re.M
)
SECRETS_BACKENDS = {
    "airflow.providers.amazon.aws.secrets.secrets_manager.SecretsManagerBackend",
    "airflow.providers.amazon.aws.secrets.systems_manager.SystemsManagerParameterStoreBackend",
}
# Keys the chart marks "(deprecated, use ... instead)" in its values.schema.json for Airflow 3
# (workers.* moved under workers.celery.*, webserver under apiServer) or that Airflow 3 ignores.
DEPRECATED = [
    ("workers", "replicas"),
    ("workers", "persistence"),
    ("workers", "args"),
    ("workers", "livenessProbe"),
    ("workers", "updateStrategy"),
    ("workers", "strategy"),
    ("workers", "podManagementPolicy"),
    ("workers", "revisionHistoryLimit"),
    ("webserver",),
    ("webserverSecretKey",),
    ("webserverSecretKeySecretName",),
    ("securityContext",),
    ("ingress", "enabled"),
]
IRSA = "eks.amazonaws.com/role-arn"


def get(path: tuple[str, ...], values: dict = VALUES):
    node = values
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def test_chart_version_is_pinned_and_the_readme_installs_that_version():
    assert CHART, "the values file must name the chart version it was written for (# chart: ...)"
    install = f"--version {CHART['version']}"
    assert install in VALUES_FILE.read_text()
    assert install in (REPO / "README.md").read_text()


def test_airflow_version_and_image_tag_are_pinned():
    assert VALUES["airflowVersion"] == version("apache-airflow")
    assert f"FROM apache/airflow:{VALUES['airflowVersion']}-" in (REPO / "Dockerfile").read_text()
    image = VALUES["images"]["airflow"]
    assert image["tag"] not in (None, "", "latest")
    assert image["tag"] == VALUES["defaultAirflowTag"]
    assert image["repository"] == VALUES["defaultAirflowRepository"]
    for container in VALUES["apiServer"]["extraInitContainers"]:
        assert container["image"] == f"{image['repository']}:{image['tag']}"


def test_external_database_and_broker_and_no_chart_redis():
    assert VALUES["executor"] == "CeleryExecutor"
    assert VALUES["postgresql"]["enabled"] is False
    assert VALUES["redis"]["enabled"] is False
    assert VALUES["data"]["metadataSecretName"]
    assert VALUES["data"]["brokerUrlSecretName"]


def test_connections_and_variables_come_from_the_secrets_backend():
    secrets = VALUES["config"]["secrets"]
    assert secrets["backend"] in SECRETS_BACKENDS
    module, _, name = secrets["backend"].rpartition(".")
    assert hasattr(import_module(module), name), "the backend class must exist in the pinned provider"
    kwargs = json.loads(secrets["backend_kwargs"])
    # The same secret names as the topology `make test-prod` runs (and the runbook creates).
    assert kwargs["connections_prefix"] == topo.CONNECTIONS_PREFIX
    assert kwargs["variables_prefix"] == topo.VARIABLES_PREFIX
    assert "endpoint_url" not in kwargs
    env_names = [e["name"] for e in VALUES.get("env", [])] + [s["envName"] for s in VALUES.get("secret", [])]
    assert not [n for n in env_names if n.startswith(("AIRFLOW_CONN_", "AIRFLOW_VAR_"))]
    assert not VALUES.get("extraEnv")


def test_pools_are_imported_by_the_migration_hook_on_every_install_and_upgrade():
    job = VALUES["migrateDatabaseJob"]
    assert job.get("enabled", True) is not False
    assert job.get("useHelmHooks", True) is not False
    script = " ".join(job["args"])
    assert script.index("airflow db migrate") < script.index(
        "airflow pools import /opt/airflow/deploy/pools.json"
    )
    assert "COPY --chown=airflow:root deploy/pools.json /opt/airflow/deploy/pools.json" in (
        (REPO / "Dockerfile").read_text()
    )


def test_airflow_secrets_come_from_kubernetes_secrets():
    for key in ("apiSecretKeySecretName", "jwtSecretName", "fernetKeySecretName"):
        assert VALUES.get(key), key
    for literal in ("apiSecretKey", "jwtSecret", "fernetKey", "webserverSecretKey"):
        assert not VALUES.get(literal), f"{literal} would put a secret in the values file"


def test_admin_login_of_the_simple_auth_manager():
    core = VALUES["config"]["core"]
    assert core["auth_manager"].endswith("SimpleAuthManager")
    assert core["simple_auth_manager_users"] == "admin:admin"
    auth_dir = str(Path(core["simple_auth_manager_passwords_file"]).parent)
    api = VALUES["apiServer"]
    assert {"name": "simple-auth", "mountPath": auth_dir} in api["extraVolumeMounts"]
    (copy,) = api["extraInitContainers"]
    assert core["simple_auth_manager_passwords_file"] in " ".join(copy["command"])
    assert VALUES["createUserJob"]["enabled"] is False  # FAB-only job


@pytest.mark.parametrize("component", ["apiServer", "scheduler", "dagProcessor", "triggerer", "workers"])
def test_every_aws_facing_component_has_an_irsa_role(component):
    annotations = VALUES[component]["serviceAccount"]["annotations"]
    assert re.fullmatch(r"arn:aws:iam::\d{12}:role/[\w+=,.@-]+", annotations[IRSA])


def _containers_with_resources() -> dict[str, dict | None]:
    containers = {
        "apiServer": get(("apiServer", "resources")),
        "scheduler": get(("scheduler", "resources")),
        "dagProcessor": get(("dagProcessor", "resources")),
        "triggerer": get(("triggerer", "resources")),
        "workers.celery": get(("workers", "celery", "resources")),
        "migrateDatabaseJob": get(("migrateDatabaseJob", "resources")),
    }
    for component in ("scheduler", "dagProcessor", "triggerer", "workers"):
        if get((component, "logGroomerSidecar", "enabled")) is not False:
            containers[f"{component}.logGroomerSidecar"] = get((component, "logGroomerSidecar", "resources"))
    for container in VALUES["apiServer"].get("extraInitContainers", []):
        containers[f"apiServer.extraInitContainers.{container['name']}"] = container.get("resources")
    return containers


def test_requests_and_limits_for_every_component():
    missing = {
        name: resources
        for name, resources in _containers_with_resources().items()
        if not resources
        or not all(
            resources.get(kind, {}).get(r) for kind in ("requests", "limits") for r in ("cpu", "memory")
        )
    }
    assert not missing, f"no cpu/memory requests and limits: {missing}"
    # Components without resources here must be off.
    for component in ("statsd", "flower", "pgbouncer", "redis", "postgresql", "createUserJob"):
        if component in VALUES:
            assert VALUES[component].get("enabled") is False or VALUES[component].get("resources"), component


def test_no_deprecated_keys():
    used = [".".join(path) for path in DEPRECATED if get(path) is not None]
    assert not used, f"deprecated chart keys: {used}"
    assert get(("workers", "celery", "replicas")) >= 1
    assert get(("workers", "celery", "persistence", "enabled")) is False


def test_render_pool_and_workers_agree_with_the_pools_file():
    pools = json.loads(topo.POOLS_FILE.read_text())
    assert VALUES["config"]["celery"]["worker_concurrency"] >= 1
    assert pools["render"]["slots"] <= VALUES["workers"]["celery"]["replicas"] * int(
        VALUES["workers"]["celery"]["resources"]["limits"]["cpu"]
    ), "more render slots than worker cores: renders would fight for CPU"
