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
import sys
import warnings
from pathlib import Path

import pytest

from tests.ui import seed, server

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
OTHER_DAG = "talkbot_reconcile"


@pytest.fixture(scope="package")
def ui_data(stack, tmp_path_factory):
    """One conference with six talks (four with ledger records) and three dataset sync runs."""
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
        unanswered_run(),
        seed.sync_report(
            "manual__2026-11-23T09:00:00+00:00",
            {
                "S01E01": {"unchanged": 170, "moved": 8, "deleted": 2, "invalid": 3},
                "S01E02": {"unchanged": 120, "missing": 1},
            },
            held=[{"episode": "S01E02", "season": "S01", "reason": "sheet lost 45 % of its rows", "deletes": 54, "existing": 120, "outcome": "rejected"}],
            invalid_rows={"S01E01": {"count": 3, "reasons": {"no class": 3}, "examples": [{"row": 60, "frame": "TT_S01_E01_FRM-0000059", "value": "", "reason": "no class"}]}},
        ),
    ]  # fmt: skip
    seed.seed_dataset(stack, bucket, runs, {"S01E01": 180, "S01E02": 120})
    return {"talks": talks, "bucket": bucket, "runs": [r["run_id"] for r in runs], "frames": 300}


def unanswered_run() -> dict:
    """A run whose approval task ended without a recorded answer (Airflow's pause/resume race, see
    README): its held entries and problem come from ``write_report``'s own ``_held_outcome``."""
    from include.dataset_sync.steps import _held_outcome

    report = seed.sync_report(
        "manual__2026-11-22T12:00:00+00:00",
        {"S01E01": {"unchanged": 180}, "S01E02": {"unchanged": 120}},
        held=[],
    )
    hold = {"episode": "S01E02", "season": "S01", "reason": "its sheet has no valid target row", "deletes": 120, "existing": 120}  # fmt: skip
    held, problem = _held_outcome({"held": [hold], "dry_run": False, "config": {}}, None, None)
    report.update(held=held, problems=[problem], approval=None)
    return report


@pytest.fixture(scope="package")
def api_server(stack, airflow_db, ui_data, tmp_path_factory):
    """``airflow api-server`` with the plugin on the session's database, reading the seeded stand-ins;
    queued runs (no scheduler) whose run ids are the seeded records' and reports'."""
    env = {**os.environ, **stack.env, "AIRFLOW_VAR_TALKBOT_CONFIG": json.dumps(ui_data["talks"].config)}
    with server.api_server(env, tmp_path_factory.mktemp("api-server")) as running:
        running["data"] = ui_data
        talks = ui_data["talks"]
        uuid = talks.published_uuid
        wanted = [
            (
                "talkbot_publish_video",
                talks.run_ids[uuid],
                {"bucket": talks.raw_bucket, "key": talks.keys[uuid]},
            ),
            *(
                ("tuttle_twins_dataset_sync", run_id, {"bucket": ui_data["bucket"]})
                for run_id in ui_data["runs"][1:]
            ),
            (OTHER_DAG, "manual__media_views_test", {}),
        ]
        for dag_id, run_id, conf in wanted:
            body = {"dag_run_id": run_id, "logical_date": None, "conf": conf}
            status, answer = server.api(running, "POST", f"/api/v2/dags/{dag_id}/dagRuns", body)
            assert status in (200, 409), f"creating run {run_id} of {dag_id}: {status} {answer}"
        yield running


@pytest.fixture(scope="package")
def browser():
    """Debian's headless Chromium through Playwright; skips loudly when it is not installed.

    Package scope, not session: Playwright's sync API keeps an asyncio loop running in this thread while
    it is open, and every later test that runs a trigger in line (``asyncio.run``) would then fail."""
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
    context = browser.new_context(viewport={"width": 1360, "height": 1000})
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
