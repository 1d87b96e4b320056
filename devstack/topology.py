"""Production topology on one machine: PostgreSQL + Redis + CeleryExecutor, one process each.

API server, scheduler, DAG processor, triggerer and N Celery workers run as separate
processes on 127.0.0.1, exactly as they would on separate hosts: they share only the
metadata database (a fresh PostgreSQL database per topology, dropped at stop), the
Redis broker (a private Redis database index, flushed at stop) and the S3 bucket that
receives remote task logs. Workers get distinct names so task instances record which
worker ran them. Used by ``make test-prod`` and the load/fault benchmarks.

It is the ``docker-compose.yaml`` stack without containers: the same services (``SERVICES``),
executor, broker, database, remote logging, secrets backend and pools (``deploy/pools.json``);
``tests/deploy/test_compose.py`` compares the two. With ``secrets_backend=True`` the connections
and variables live in moto's Secrets Manager and Airflow reads them through providers-amazon's
``SecretsManagerBackend``, as in production; otherwise they are ``AIRFLOW_CONN_*`` variables and
the metadata database (the benchmarks point ``aws_default`` at a fault proxy that way).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from devstack import LocalStack
from devstack.net import free_port

REPO = Path(__file__).resolve().parent.parent
PG_HOST = os.environ.get("PROD_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("PROD_PG_PORT", "5432"))
PG_USER = os.environ.get("PROD_PG_USER", "postgres")
REDIS_HOST = os.environ.get("PROD_REDIS_HOST", "127.0.0.1")
REDIS_PORT = int(os.environ.get("PROD_REDIS_PORT", "6379"))
LOG_BUCKET = "airflow-remote-logs"
WORKER_NAME_ENV = "DEVSTACK_WORKER_NAME"
POOLS_FILE = REPO / "deploy" / "pools.json"
SECRETS_BACKEND = "airflow.providers.amazon.aws.secrets.secrets_manager.SecretsManagerBackend"
CONNECTIONS_PREFIX = "airflow/connections"
VARIABLES_PREFIX = "airflow/variables"
# One process per service of docker-compose.yaml (service name -> `airflow` arguments); the Celery
# workers are `WORKER_COMMAND`, one process per replica.
SERVICES = {
    "airflow-apiserver": ["api-server"],
    "airflow-scheduler": ["scheduler"],
    "airflow-dag-processor": ["dag-processor"],
    "airflow-triggerer": ["triggerer"],
}
WORKER_SERVICE = "airflow-worker"
WORKER_COMMAND = ["celery", "worker"]
DEFAULT_WORKERS = 2


def worker_hostname() -> str:
    """``[core] hostname_callable`` for the topology: each worker's own name, else the FQDN."""
    return os.environ.get(WORKER_NAME_ENV) or socket.getfqdn()


def services_available() -> tuple[bool, str]:
    """Whether PostgreSQL and Redis answer on this machine, and why not."""
    for name, host, port in (("PostgreSQL", PG_HOST, PG_PORT), ("Redis", REDIS_HOST, REDIS_PORT)):
        try:
            with socket.create_connection((host, port), timeout=2):
                pass
        except OSError as err:
            return False, f"{name} not reachable on {host}:{port} ({err})"
    return True, "PostgreSQL and Redis answer"


def _pg_admin(sql: str) -> None:
    import psycopg2

    conn = psycopg2.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres")
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
    finally:
        conn.close()


@dataclass
class Component:
    name: str
    args: list[str]
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen | None = None


class CeleryTopology:
    """Start/stop the distributed Airflow deployment against a running LocalStack."""

    def __init__(
        self,
        stack: LocalStack,
        workdir: Path,
        *,
        workers: int = DEFAULT_WORKERS,
        worker_concurrency: int = 2,
        extra_env: dict[str, str] | None = None,
        secrets_backend: bool = False,
    ):
        self.stack = stack
        self.secrets_backend = secrets_backend
        self.extra_env = dict(extra_env or {})
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.home = self.workdir / "airflow-home"
        self.home.mkdir(exist_ok=True)
        self.database = f"airflow_{uuid.uuid4().hex[:12]}"
        self.redis_db = secrets.randbelow(14) + 1
        self.api_port = free_port()
        self.api_url = f"http://127.0.0.1:{self.api_port}"
        self.worker_names = [f"worker-{i + 1}" for i in range(workers)]
        self.worker_concurrency = worker_concurrency
        self.components: list[Component] = []
        self._db_created = False
        self.scheduler_health_port = free_port()

    # -- configuration ----------------------------------------------------------------------
    @property
    def sql_alchemy_conn(self) -> str:
        return f"postgresql+psycopg2://{PG_USER}@{PG_HOST}:{PG_PORT}/{self.database}"

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__")}
        env.update(self.stack.env)
        if self.secrets_backend:
            # Only the secrets backend knows the connections, as in production.
            env = {k: v for k, v in env.items() if not k.startswith(("AIRFLOW_CONN_", "AIRFLOW_VAR_"))}
            env["AIRFLOW__SECRETS__BACKEND"] = SECRETS_BACKEND
            env["AIRFLOW__SECRETS__BACKEND_KWARGS"] = json.dumps(self.secrets_backend_kwargs)
        env.update(
            {
                "AIRFLOW_HOME": str(self.home),
                "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
                "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
                "AIRFLOW__CORE__PARALLELISM": "16",
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
                "AIRFLOW__CORE__HOSTNAME_CALLABLE": "devstack.topology.worker_hostname",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.api_url}/execution/",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.sql_alchemy_conn,
                "AIRFLOW__CELERY__BROKER_URL": f"redis://{REDIS_HOST}:{REDIS_PORT}/{self.redis_db}",
                "AIRFLOW__CELERY__RESULT_BACKEND": f"db+postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/{self.database}",
                "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(self.worker_concurrency),
                "AIRFLOW__API__HOST": "127.0.0.1",
                "AIRFLOW__API__PORT": str(self.api_port),
                "AIRFLOW__API__BASE_URL": self.api_url,
                "AIRFLOW__API__WORKERS": "1",
                "AIRFLOW__API_AUTH__JWT_SECRET": self._secret("jwt"),
                "AIRFLOW__API__SECRET_KEY": self._secret("api"),
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
                "AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL": "5",
                "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "True",
                "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_HOST": "127.0.0.1",
                "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT": str(self.scheduler_health_port),
                "AIRFLOW__LOGGING__REMOTE_LOGGING": "True",
                "AIRFLOW__LOGGING__REMOTE_BASE_LOG_FOLDER": f"s3://{LOG_BUCKET}/{self.database}",
                "AIRFLOW__LOGGING__REMOTE_LOG_CONN_ID": "aws_default",
                "AIRFLOW__LOGGING__DELETE_LOCAL_LOGS": "False",
                "AIRFLOW__LOGGING__TRIGGERER_LOG_SERVER_PORT": str(free_port()),
                "GOOGLE_APPLICATION_CREDENTIALS": "",
                "NO_GCE_CHECK": "True",
                "PYTHONPATH": str(REPO),
                "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            }
        )
        env.update(self.extra_env)
        return env

    @property
    def secrets_backend_kwargs(self) -> dict[str, str]:
        """``[secrets] backend_kwargs``: the production prefixes, moto's endpoint instead of AWS's."""
        return {
            "connections_prefix": CONNECTIONS_PREFIX,
            "variables_prefix": VARIABLES_PREFIX,
            "region_name": "us-east-1",
            "endpoint_url": self.stack.aws_endpoint,
        }

    def put_secrets(self, variables: dict[str, str]) -> list[str]:
        """Write the stack's connections and ``variables`` to Secrets Manager; returns the secret names.

        Idempotent: an existing secret gets a new value (``put_secret_value``).
        """
        client = self.stack.boto3_client("secretsmanager")
        secrets_by_name = {
            f"{CONNECTIONS_PREFIX}/{c}": json.dumps(v) for c, v in self.stack.connections().items()
        }
        secrets_by_name.update({f"{VARIABLES_PREFIX}/{name}": value for name, value in variables.items()})
        for name, value in secrets_by_name.items():
            try:
                client.create_secret(Name=name, SecretString=value)
            except client.exceptions.ResourceExistsException:
                client.put_secret_value(SecretId=name, SecretString=value)
        return sorted(secrets_by_name)

    def _secret(self, name: str) -> str:
        path = self.home / f".{name}-secret"
        if not path.exists():
            path.write_text(secrets.token_urlsafe(32))
        return path.read_text()

    # -- lifecycle --------------------------------------------------------------------------
    def airflow(self, *args: str, check: bool = True) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "airflow", *args],
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
        )
        if check and result.returncode != 0:
            raise RuntimeError(f"airflow {' '.join(args)}:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}")
        return result.stdout

    def start(self, *, pools: dict[str, int] | None = None, variables: dict[str, str] | None = None):
        """Bootstrap like compose's ``airflow-init`` (migrate, import ``deploy/pools.json``), then start.

        ``pools`` resizes pools after the import (the benchmarks size ``render`` to their workers).
        """
        _pg_admin(f'CREATE DATABASE "{self.database}"')
        self._db_created = True
        if not self._bucket_exists():
            self.stack.boto3_client("s3").create_bucket(Bucket=LOG_BUCKET)
        if self.secrets_backend:
            self.put_secrets(variables or {})
        self.airflow("db", "migrate")
        self.airflow("pools", "import", str(POOLS_FILE))
        for name, slots in (pools or {}).items():
            self.airflow("pools", "set", name, str(slots), f"{name} (topology)")
        if not self.secrets_backend:
            for name, value in (variables or {}).items():
                self.airflow("variables", "set", name, value)
        api_args = [*SERVICES["airflow-apiserver"], "--port", str(self.api_port), "--host", "127.0.0.1"]
        self.components = [
            Component("api-server", api_args),
            Component("scheduler", SERVICES["airflow-scheduler"]),
            Component("dag-processor", SERVICES["airflow-dag-processor"]),
            Component("triggerer", SERVICES["airflow-triggerer"]),
        ]
        for name in self.worker_names:
            self.components.append(
                Component(
                    name,
                    [
                        *WORKER_COMMAND,
                        "--celery-hostname",
                        f"{name}@%h",
                        "--without-mingle",
                        "--without-gossip",
                    ],
                    {WORKER_NAME_ENV: name, "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port())},
                )
            )
        for component in self.components:
            self._spawn(component)
        self.wait_healthy()
        return self

    def _bucket_exists(self) -> bool:
        s3 = self.stack.boto3_client("s3")
        return any(b["Name"] == LOG_BUCKET for b in s3.list_buckets().get("Buckets", []))

    def _spawn(self, component: Component) -> None:
        log = (self.workdir / f"{component.name}.log").open("ab")
        env = {**self.env, **component.env}
        component.process = subprocess.Popen(
            [sys.executable, "-m", "airflow", *component.args],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=self.workdir,
        )
        log.close()

    def restart(self, name: str) -> None:
        """Start a component again (for example a worker that was killed)."""
        component = next(c for c in self.components if c.name == name)
        self._spawn(component)

    def wait_healthy(self, timeout: float = 240) -> dict:
        deadline = time.monotonic() + timeout
        last: dict = {}
        while time.monotonic() < deadline:
            for component in self.components:
                if component.process and component.process.poll() is not None:
                    tail = (self.workdir / f"{component.name}.log").read_text(errors="replace")[-3000:]
                    raise RuntimeError(
                        f"{component.name} exited with {component.process.returncode}:\n{tail}"
                    )
            with contextlib.suppress(OSError, ValueError):
                last = self.get("/api/v2/monitor/health")
                components = ("metadatabase", "scheduler", "triggerer", "dag_processor")
                if (
                    all(last.get(c, {}).get("status") == "healthy" for c in components)
                    and self.scheduler_health_ok()
                    and self._workers_ready()
                ):
                    return last
            time.sleep(1)
        raise TimeoutError(f"topology not healthy after {timeout}s: {last}")

    def scheduler_health_ok(self) -> bool:
        """The scheduler's own health server (compose's and the chart's probes use it) answers 200."""
        url = f"http://127.0.0.1:{self.scheduler_health_port}/health"
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.status == 200
        except (OSError, urllib.error.URLError):
            return False

    def _workers_ready(self) -> bool:
        for name in self.worker_names:
            log = self.workdir / f"{name}.log"
            if not log.exists() or " ready." not in log.read_text(errors="replace"):
                return False
        return True

    def pid_of(self, name: str) -> int:
        component = next(c for c in self.components if c.name == name)
        return component.process.pid

    def stop(self) -> None:
        for component in reversed(self.components):
            if component.process and component.process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(component.process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        for component in self.components:
            if component.process:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    component.process.wait(timeout=max(0.1, deadline - time.monotonic()))
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(component.process.pid, signal.SIGKILL)
        self._kill_leftovers()
        with contextlib.suppress(Exception):
            import redis

            redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=self.redis_db).flushdb()
        if self._db_created:
            with contextlib.suppress(Exception):
                _pg_admin(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')

    def _kill_leftovers(self) -> None:
        import psutil

        for proc in psutil.process_iter(["pid"]):
            with contextlib.suppress(psutil.Error):
                if proc.environ().get("AIRFLOW_HOME") == str(self.home) and proc.pid != os.getpid():
                    proc.kill()

    def __enter__(self) -> CeleryTopology:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- REST API ---------------------------------------------------------------------------
    def request(self, method: str, path: str, body: dict | None = None) -> dict:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(  # noqa: S310 - loopback API of our own topology
            f"{self.api_url}{path}", data=data, method=method, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(req, timeout=30) as response:  # noqa: S310
                text = response.read().decode()
        except urllib.error.HTTPError as err:
            raise RuntimeError(f"{method} {path}: {err.code} {err.read().decode()[:1000]}") from None
        return json.loads(text) if text else {}

    def get(self, path: str) -> dict:
        return self.request("GET", path)

    def wait_for_dag(self, dag_id: str, timeout: float = 120) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            with contextlib.suppress(RuntimeError):
                return self.get(f"/api/v2/dags/{dag_id}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"DAG {dag_id} not parsed after {timeout}s")
            time.sleep(1)

    def trigger(self, dag_id: str, conf: dict | None = None, run_id: str | None = None) -> str:
        self.wait_for_dag(dag_id)
        body = {"logical_date": None, "conf": conf or {}}
        if run_id:
            body["dag_run_id"] = run_id
        return self.request("POST", f"/api/v2/dags/{dag_id}/dagRuns", body)["dag_run_id"]

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 600) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(RuntimeError):
                state = self.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")["state"]
                if state in ("success", "failed"):
                    return state
            time.sleep(2)
        raise TimeoutError(f"{dag_id} run {run_id} not finished after {timeout}s")

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        return self.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances?limit=1000")["task_instances"]

    def runs(self, dag_id: str) -> list[dict]:
        return self.get(f"/api/v2/dags/{dag_id}/dagRuns?limit=1000")["dag_runs"]
