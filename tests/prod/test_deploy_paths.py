"""The deployment paths on the running topology: secrets backend, pools, compose's healthchecks.

The topology is docker-compose.yaml without containers (tests/deploy/test_compose.py compares them),
so compose's own healthcheck commands are run here against its processes: what would make each
container healthy is exercised, only the container runtime is not.
"""

from __future__ import annotations

import json
import socket
import subprocess

import pytest

from devstack.topology import CONNECTIONS_PREFIX, POOLS_FILE, VARIABLES_PREFIX
from tests.deploy.test_compose import compose

pytestmark = pytest.mark.e2e


def test_connections_and_variables_come_only_from_the_secrets_backend(topology, stack):
    env = topology.env
    assert not [k for k in env if k.startswith(("AIRFLOW_CONN_", "AIRFLOW_VAR_"))]
    assert env["AIRFLOW__SECRETS__BACKEND"].endswith("SecretsManagerBackend")
    names = {s["Name"] for s in stack.boto3_client("secretsmanager").list_secrets()["SecretList"]}
    assert f"{VARIABLES_PREFIX}/talkbot_config" in names
    assert f"{CONNECTIONS_PREFIX}/aws_default" in names
    # Airflow resolves them through the backend; the metadata database holds none of them.
    config = json.loads(topology.airflow("variables", "get", "talkbot_config"))
    assert config["conferences"]
    stored = json.loads(topology.airflow("variables", "list", "--output", "json"))
    assert stored == []
    aws = json.loads(topology.airflow("connections", "get", "aws_default", "--output", "json"))
    assert aws[0]["extra_dejson"]["endpoint_url"] == stack.aws_endpoint


def test_pools_were_imported_from_the_pools_file(topology):
    pools = {p["pool"]: p for p in json.loads(topology.airflow("pools", "list", "--output", "json"))}
    for name, expected in json.loads(POOLS_FILE.read_text()).items():
        assert int(pools[name]["slots"]) == expected["slots"], name
        assert pools[name]["description"] == expected["description"]


def _run(topology, command: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", "-c", command], env=topology.env, capture_output=True, text=True, timeout=120, check=False
    )


def test_compose_healthchecks_pass_on_the_topology(topology):
    services = compose()["services"]

    def healthcheck(service: str) -> str:
        return services[service]["healthcheck"]["test"][-1]

    assert topology.get("/api/v2/version")["version"]  # airflow-apiserver: GET /api/v2/version
    scheduler = healthcheck("airflow-scheduler").replace(
        "http://localhost:8974/", f"http://127.0.0.1:{topology.scheduler_health_port}/"
    )
    for service, command in (
        ("airflow-scheduler", scheduler),
        ("airflow-triggerer", healthcheck("airflow-triggerer")),
        ("airflow-dag-processor", healthcheck("airflow-dag-processor")),
    ):
        result = _run(topology, command)
        assert result.returncode == 0, (
            f"{service}: {command}\n{result.stdout[-1500:]}\n{result.stderr[-1500:]}"
        )
    for worker in topology.worker_names:
        command = healthcheck("airflow-worker").replace(
            '"celery@${HOSTNAME}"', f"{worker}@{socket.gethostname()}"
        )
        result = _run(topology, command)
        assert result.returncode == 0, (
            f"{worker}: {command}\n{result.stdout[-1500:]}\n{result.stderr[-1500:]}"
        )
        assert "pong" in result.stdout
