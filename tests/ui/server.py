"""Start and stop ``airflow api-server`` (the API and UI process ``airflow standalone`` runs) for the UI
tests and ``benchmarks/bench_ui.py``: a free 127.0.0.1 port, simple auth with one known admin password,
and the DAGs serialized so runs can be created through the REST API."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from devstack.net import free_port

ADMIN_PASSWORD = "media-views-test"
START_TIMEOUT_S = 180


@contextmanager
def api_server(env: dict[str, str], workdir: Path) -> Iterator[dict]:
    """Yields ``{"base", "token", "log"}``; ``env`` is the Airflow environment (home, connections,
    variables). Stops the server's process group on exit."""
    workdir.mkdir(parents=True, exist_ok=True)
    passwords = workdir / "passwords.json"
    passwords.write_text(json.dumps({"admin": ADMIN_PASSWORD}))
    port = free_port()
    env = {
        **env,
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW__API_AUTH__JWT_SECRET": "media-views-test-secret",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
    }
    subprocess.run(
        [sys.executable, "-m", "airflow", "dags", "reserialize"], env=env, check=True, capture_output=True
    )
    log_path = workdir / "api-server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "airflow", "api-server", "-p", str(port), "-H", "127.0.0.1"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            _wait_healthy(base, process, log_path)
            yield {"base": base, "token": _token(base), "log": log_path}
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


def _wait_healthy(base: str, process: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"api-server exited {process.returncode}: {log_path.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{base}/api/v2/monitor/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"api-server not healthy after {START_TIMEOUT_S}s: {log_path.read_text()[-3000:]}")


def _token(base: str) -> str:
    request = urllib.request.Request(
        f"{base}/auth/token",
        data=json.dumps({"username": "admin", "password": ADMIN_PASSWORD}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)["access_token"]


def api(server: dict, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
    """One authenticated call of Airflow's REST API."""
    request = urllib.request.Request(
        f"{server['base']}{path}",
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Bearer {server['token']}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


def get(server: dict, path: str) -> tuple[int, bytes]:
    """A signed-in GET of one of the plugin's pages."""
    request = urllib.request.Request(
        f"{server['base']}{path}", headers={"Authorization": f"Bearer {server['token']}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()
