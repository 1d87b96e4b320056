"""docker-compose.yaml: valid Compose, healthy by construction, and the same deployment as the topology.

No Docker engine runs here, so the containers are not started: the file is validated against the
Compose Specification schema (shipped by check-jsonschema), its healthchecks and bootstrap are read,
and it is compared with ``devstack/topology.py``, which ``make test-prod`` runs as processes (and
whose run executes these healthcheck commands, tests/prod/test_deploy_paths.py).
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from devstack import LocalStack
from devstack import topology as topo

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yaml"
ENV_EXAMPLE = REPO / ".env.example"
INIT = "airflow-init"
_VARIABLE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's ``${VAR}``, ``${VAR:-default}``, ``${VAR-default}``, ``${VAR:?error}`` and ``$$``."""

    def value(match: re.Match) -> str:
        name, op, arg = match["name"], match["op"], match["arg"]
        if op == ":-":
            return env.get(name) or arg
        if op == "-":
            return env.get(name, arg)
        if op in (":?", "?") and not env.get(name):
            raise KeyError(f"{name}: {arg}")
        return env.get(name, "")

    return _VARIABLE.sub(value, text.replace("$$", "\0")).replace("\0", "$")


def example_env() -> dict[str, str]:
    """.env.example with its empty values filled in, as a user does."""
    env = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        match = re.match(r"^(?P<name>[A-Z][A-Z0-9_]*)=(?P<value>.*)$", line)
        if match:
            env[match["name"]] = match["value"] or f"filled-{match['name'].lower()}"
    return env


def compose(env: dict[str, str] | None = None) -> dict:
    return yaml.safe_load(interpolate(COMPOSE.read_text(), example_env() if env is None else env))


def airflow_services(spec: dict) -> dict[str, dict]:
    """The services built from this project's image (the x-airflow-common anchor)."""
    image = spec["x-airflow-common"]["image"]
    return {name: s for name, s in spec["services"].items() if s.get("image") == image}


def test_compose_file_matches_the_compose_specification(tmp_path):
    if importlib.util.find_spec("check_jsonschema") is None:
        pytest.skip("SKIPPED Compose schema check: check-jsonschema is not installed (make install)")
    check = [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec"]
    result = subprocess.run([*check, str(COMPOSE)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    # The check is not vacuous: an unknown service key fails it.
    broken = tmp_path / "docker-compose.yaml"
    broken.write_text(
        COMPOSE.read_text().replace("    command: scheduler\n", "    command: scheduler\n    comand: x\n")
    )
    result = subprocess.run([*check, str(broken)], capture_output=True, text=True, check=False)
    assert result.returncode != 0
    assert "comand" in result.stdout


def test_every_variable_is_listed_in_env_example_and_required_ones_fail_loudly():
    referenced = {m["name"] for m in _VARIABLE.finditer(COMPOSE.read_text().replace("$$", ""))}
    listed = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", ENV_EXAMPLE.read_text(), re.MULTILINE))
    assert referenced - {"HOSTNAME"} <= listed, referenced - listed
    with pytest.raises(KeyError, match="AIRFLOW_"):
        compose(env={})
    assert compose()["services"]  # .env.example, filled in, resolves every variable


def test_env_files_never_reach_git_or_the_image():
    for ignore_file in (".gitignore", ".dockerignore"):
        lines = (REPO / ignore_file).read_text().splitlines()
        assert {"/.env", ".env"} & set(lines), f"{ignore_file} must ignore .env"
    result = subprocess.run(["git", "check-ignore", "-q", ".env"], cwd=REPO, capture_output=True, check=False)
    assert result.returncode == 0, ".env is not ignored by git"
    result = subprocess.run(["git", "check-ignore", "-q", ".env.example"], cwd=REPO, check=False)
    assert result.returncode == 1, ".env.example must stay tracked"


def test_every_airflow_service_has_a_healthcheck_like_the_official_compose_file():
    spec = compose()
    services = airflow_services(spec)
    tests = {name: " ".join(s["healthcheck"]["test"][1:]) for name, s in services.items() if name != INIT}
    assert set(tests) == set(topo.SERVICES) | {topo.WORKER_SERVICE}
    assert "http://localhost:8080/api/v2/version" in tests["airflow-apiserver"]
    assert "http://localhost:8974/health" in tests["airflow-scheduler"]
    assert "airflow jobs check --job-type SchedulerJob --local" in tests["airflow-scheduler"]
    assert tests["airflow-triggerer"] == "airflow jobs check --job-type TriggererJob --local"
    assert tests["airflow-dag-processor"] == "airflow jobs check --job-type DagProcessorJob --local"
    assert tests["airflow-worker"] == (
        'celery --app airflow.providers.celery.executors.celery_executor.app inspect ping -d "celery@${HOSTNAME}"'
    )
    env = spec["x-airflow-common"]["environment"]
    assert env["AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK"] == "true", "the scheduler's :8974/health is off"
    # Airflow services wait for the init service; workers also for a healthy API server.
    for name, service in services.items():
        if name != INIT:
            assert service["depends_on"][INIT] == {"condition": "service_completed_successfully"}
    assert services["airflow-worker"]["depends_on"]["airflow-apiserver"] == {"condition": "service_healthy"}


def test_init_bootstraps_pools_variables_and_the_admin_login():
    spec = compose()
    init = spec["services"][INIT]
    script = init["command"][-1]
    assert script.index("airflow db migrate") < script.index(
        "airflow pools import /opt/airflow/deploy/pools.json"
    )
    assert "airflow variables import" in script
    passwords_file = spec["x-airflow-common"]["environment"][
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"
    ]
    assert f"> {passwords_file}" in script
    assert 'os.environ["AIRFLOW_ADMIN_PASSWORD"]' in script
    assert init["environment"]["AIRFLOW_ADMIN_PASSWORD"] == example_env()["AIRFLOW_ADMIN_PASSWORD"]
    auth_dir = str(Path(passwords_file).parent)
    api_volumes = spec["services"]["airflow-apiserver"]["volumes"]
    init_volumes = init["volumes"]
    shared = {v.split(":")[0] for v in api_volumes if v.split(":")[1] == auth_dir}
    assert shared
    assert shared == {v.split(":")[0] for v in init_volumes if v.split(":")[1] == auth_dir}
    users = spec["x-airflow-common"]["environment"]["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"]
    assert users == "admin:admin"
    # The image carries the pools file the init imports, the same file the topology imports.
    assert "COPY --chown=airflow:root deploy/pools.json /opt/airflow/deploy/pools.json" in (
        (REPO / "Dockerfile").read_text()
    )
    assert topo.POOLS_FILE == REPO / "deploy" / "pools.json"
    pools = json.loads(topo.POOLS_FILE.read_text())
    assert {"render", "transcribe"} <= set(pools)
    assert all(p["slots"] >= 1 for p in pools.values())


@pytest.fixture(scope="module")
def topology_env(tmp_path_factory):
    """The environment every topology process gets (nothing is started)."""
    root = tmp_path_factory.mktemp("topology-env")
    topology = topo.CeleryTopology(LocalStack(root / "stack"), root / "topology", secrets_backend=True)
    return topology, topology.env


def _flag(value: str) -> bool:
    return value.strip().lower() in ("true", "1", "yes")


def test_compose_and_the_celery_topology_describe_the_same_deployment(topology_env):
    topology, env = topology_env
    spec = compose()
    services = airflow_services(spec)
    commands = {name: s["command"].split() for name, s in services.items() if name != INIT}
    assert commands == {**topo.SERVICES, topo.WORKER_SERVICE: topo.WORKER_COMMAND}
    assert (
        services[topo.WORKER_SERVICE]["deploy"]["replicas"]
        == len(topology.worker_names)
        == topo.DEFAULT_WORKERS
    )

    compose_env = spec["x-airflow-common"]["environment"]
    same = (
        "AIRFLOW__CORE__EXECUTOR",
        "AIRFLOW__LOGGING__REMOTE_LOG_CONN_ID",
        "AIRFLOW__SECRETS__BACKEND",
        "AIRFLOW__CELERY__WORKER_CONCURRENCY",
    )
    assert {k: compose_env[k] for k in same} == {k: env[k] for k in same}
    flags = (
        "AIRFLOW__CORE__LOAD_EXAMPLES",
        "AIRFLOW__LOGGING__REMOTE_LOGGING",
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK",
    )
    assert {k: _flag(compose_env[k]) for k in flags} == {k: _flag(env[k]) for k in flags}

    def scheme(key: str, source: dict) -> str:
        return urlsplit(source[key]).scheme

    for key in (
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
        "AIRFLOW__CELERY__RESULT_BACKEND",
        "AIRFLOW__CELERY__BROKER_URL",
        "AIRFLOW__LOGGING__REMOTE_BASE_LOG_FOLDER",
    ):
        assert scheme(key, compose_env) == scheme(key, env), key
    for source in (compose_env, env):  # Celery results live in the metadata database
        metadata = urlsplit(source["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
        results = urlsplit(source["AIRFLOW__CELERY__RESULT_BACKEND"])
        assert (results.hostname, results.path) == (metadata.hostname, metadata.path)

    prefixes = ("connections_prefix", "variables_prefix")
    compose_kwargs = json.loads(compose_env["AIRFLOW__SECRETS__BACKEND_KWARGS"])
    topology_kwargs = json.loads(env["AIRFLOW__SECRETS__BACKEND_KWARGS"])
    assert {k: compose_kwargs[k] for k in prefixes} == {k: topology_kwargs[k] for k in prefixes}
    assert not [k for k in env if k.startswith(("AIRFLOW_CONN_", "AIRFLOW_VAR_"))]


def test_init_script_bootstraps_a_fresh_database(tmp_path):
    """Runs airflow-init's own script (paths moved from /opt/airflow into a temp dir) on SQLite."""
    import os
    import sqlite3

    from cryptography.fernet import Fernet

    spec = compose(env={**example_env(), "AIRFLOW_UID": str(os.getuid())})
    script = spec["services"][INIT]["command"][-1]
    opt = tmp_path / "opt-airflow"
    (opt / "deploy").mkdir(parents=True)
    (opt / "config").mkdir()
    (opt / "auth").mkdir()
    (opt / "deploy" / "pools.json").write_text(topo.POOLS_FILE.read_text())
    talkbot_config = json.dumps({"queue_url": "https://sqs.example/q", "conferences": {}})
    (opt / "config" / "variables.json").write_text(json.dumps({"talkbot_config": talkbot_config}))
    script = script.replace("/opt/airflow/", f"{opt}/")
    if os.getuid() != 0:  # only root may give the files to group 0, as the container does
        script = re.sub(r"^chown .*$", "true", script, flags=re.MULTILINE)
    home = tmp_path / "home"
    fernet_key = Fernet.generate_key().decode()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AIRFLOW__", "AIRFLOW_CONN_", "AIRFLOW_VAR_"))
    }
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__FERNET_KEY": fernet_key,  # compose sets it from AIRFLOW_FERNET_KEY
            "AIRFLOW_ADMIN_PASSWORD": "correct horse battery staple",
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        }
    )
    result = subprocess.run(
        ["bash", "-c", script], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]

    with sqlite3.connect(home / "airflow.db") as db:  # read back what the script wrote
        pools = dict(db.execute("SELECT pool, slots FROM slot_pool").fetchall())
        (stored,) = db.execute("SELECT val FROM variable WHERE key = 'talkbot_config'").fetchall()
    expected = {n: p["slots"] for n, p in json.loads(topo.POOLS_FILE.read_text()).items()}
    assert {n: pools[n] for n in expected} == expected
    assert json.loads(Fernet(fernet_key).decrypt(stored[0].encode())) == json.loads(talkbot_config)
    assert json.loads((opt / "auth" / "simple_auth_manager_passwords.json").read_text()) == {
        "admin": "correct horse battery staple"
    }
