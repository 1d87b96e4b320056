"""A real Airflow API server with the media_views plugin, seeded stand-ins, and a headless Chromium.

The API server is ``airflow api-server`` (the process ``airflow standalone`` runs for the UI) on a free
127.0.0.1 port, on the session's SQLite database with the DAGs serialized, reading talk and dataset
records from moto. Chromium is Debian's ``/usr/bin/chromium`` driven by Playwright's Python package
(never a browser Playwright downloads); without it the browser tests skip and say why.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
import warnings
from pathlib import Path

import pytest

from devstack.net import free_port
from tests.ui import seed

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "docs" / "screenshots"
CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless=new",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-gpu",
]
ADMIN_PASSWORD = "media-views-test"
START_TIMEOUT_S = 180
OTHER_DAG = "talkbot_reconcile"


@pytest.fixture(scope="session")
def ui_data(stack, tmp_path_factory):
    """One conference with six talks (four with ledger records) and two dataset sync runs."""
    workdir = tmp_path_factory.mktemp("ui")
    slug = f"ui{os.getpid()}"
    talks = seed.seed_talks(stack, workdir, slug)
    bucket = f"{slug}-media"
    runs = [
        seed.sync_report(
            "scheduled__2026-11-22T00:00:00+00:00",
            {"S01E01": {"unchanged": 0, "copied": 180}, "S01E02": {"unchanged": 0, "copied": 120}},
            held=[],
        ),
        seed.sync_report(
            "manual__2026-11-23T09:00:00+00:00",
            {
                "S01E01": {"unchanged": 170, "moved": 8, "deleted": 2, "invalid": 3, "invalid_rows": [59, 119, 179]},
                "S01E02": {"unchanged": 120, "missing": 1},
            },
            held=[{"episode": "S01E02", "reason": "sheet lost 45 % of its rows", "deletes": 54, "existing": 120}],
        ),
    ]  # fmt: skip
    seed.seed_dataset(stack, bucket, runs, {"S01E01": 180, "S01E02": 120})
    return {"talks": talks, "bucket": bucket, "runs": [r["run_id"] for r in runs], "frames": 300}


@pytest.fixture(scope="session")
def api_server(stack, airflow_db, ui_data, tmp_path_factory):
    """``airflow api-server`` with the plugin, on a free port; yields its base URL."""
    home = Path(os.environ["AIRFLOW_HOME"])
    logs = tmp_path_factory.mktemp("api-server")
    passwords = logs / "passwords.json"
    passwords.write_text(json.dumps({"admin": ADMIN_PASSWORD}))
    port = free_port()
    env = os.environ.copy()
    env.update(stack.env)
    env.update(
        {
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
            "AIRFLOW__API_AUTH__JWT_SECRET": "media-views-test-secret",
            "AIRFLOW_VAR_TALKBOT_CONFIG": json.dumps(ui_data["talks"].config),
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        }
    )
    subprocess.run(
        [sys.executable, "-m", "airflow", "dags", "reserialize"], env=env, check=True, capture_output=True
    )
    log = (logs / "api-server.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "airflow", "api-server", "-p", str(port), "-H", "127.0.0.1"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        cwd=home,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(base, process, logs / "api-server.log")
        token = _token(base)
        server = {"base": base, "token": token, "log": logs / "api-server.log", "data": ui_data}
        _create_runs(server)
        yield server
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        log.close()


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


def _create_runs(server: dict) -> None:
    """Queued runs (no scheduler runs them) whose run ids are the seeded records' and reports'."""
    talks = server["data"]["talks"]
    uuid = talks.published_uuid
    wanted = [
        ("talkbot_publish_video", talks.run_ids[uuid], {"bucket": talks.raw_bucket, "key": talks.keys[uuid]}),
        ("tuttle_twins_dataset_sync", server["data"]["runs"][-1], {"bucket": server["data"]["bucket"]}),
        (OTHER_DAG, "manual__media_views_test", {}),
    ]
    for dag_id, run_id, conf in wanted:
        status, body = api(
            server,
            "POST",
            f"/api/v2/dags/{dag_id}/dagRuns",
            {"dag_run_id": run_id, "logical_date": None, "conf": conf},
        )
        assert status in (200, 409), f"creating run {run_id} of {dag_id}: {status} {body}"


@pytest.fixture(scope="session")
def browser():
    """Debian's headless Chromium through Playwright; skips loudly when it is not installed."""
    if not Path(CHROMIUM).exists():
        message = f"chromium not found at {CHROMIUM}: browser tests SKIPPED (install it: make system-deps)"
        warnings.warn(message, stacklevel=1)
        print(f"\n*** {message} ***", file=sys.stderr)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, api_server):
    """A logged-in page (the session cookie the Airflow UI itself uses); console errors collected in
    ``page.errors``."""
    context = browser.new_context(viewport={"width": 1360, "height": 900})
    context.add_cookies([{"name": "_token", "value": api_server["token"], "url": api_server["base"]}])
    tab = context.new_page()
    tab.errors = []
    tab.on("console", lambda m: tab.errors.append(m.text) if m.type == "error" else None)
    tab.on("pageerror", lambda e: tab.errors.append(str(e)))
    yield tab
    context.close()


@pytest.fixture(scope="session")
def screenshots():
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
