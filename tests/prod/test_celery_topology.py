"""Both pipelines, unchanged, on PostgreSQL + CeleryExecutor with two workers and S3 task logs."""

from __future__ import annotations

import json
import shutil
import time
from email.utils import parseaddr

import pytest

from devstack import demo_talkbot
from devstack.topology import LOG_BUCKET
from include.common.sheets import SheetLocation, read_rows
from tests.prod.conftest import received_alerts

pytestmark = pytest.mark.e2e
DATASET_DAG = "tuttle_twins_dataset_sync"
PUBLISH_DAG = "talkbot_publish_video"


def _wait_for_publish_run(topology, timeout: float = 600) -> dict:
    """The listener (continuous) must turn the seeded upload into a successful publish run."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        topology.wait_for_dag(PUBLISH_DAG)
        runs = topology.runs(PUBLISH_DAG)
        done = [r for r in runs if r["state"] in ("success", "failed")]
        if done:
            return done[0]
        time.sleep(3)
    raise TimeoutError("no talkbot_publish_video run finished")


@pytest.fixture(scope="module")
def dataset_run(topology):
    run_id = topology.trigger(DATASET_DAG, conf={})
    return run_id, topology.wait_for_run(DATASET_DAG, run_id, timeout=600)


@pytest.fixture(scope="module")
def publish_run(topology):
    return _wait_for_publish_run(topology)


def test_dataset_sync_runs_on_celery(topology, dataset_run, stack):
    run_id, state = dataset_run
    assert state == "success", topology.task_instances(DATASET_DAG, run_id)
    keys = [
        o["Key"]
        for page in stack.boto3_client("s3")
        .get_paginator("list_objects_v2")
        .paginate(Bucket="media.angel-nft.com", Prefix="tuttle_twins/ML/")
        for o in page.get("Contents", [])
    ]
    assert len(keys) > 100
    assert {k.split("/")[2] for k in keys} == {"train", "validation", "test"}


def test_talk_published_on_celery(topology, publish_run, stack):
    assert publish_run["state"] == "success", topology.task_instances(PUBLISH_DAG, publish_run["dag_run_id"])
    s3 = stack.boto3_client("s3")
    library_key = f"{demo_talkbot.DEMO_SLUG}/{demo_talkbot.DEMO_UUID}.mp4"
    assert s3.head_object(Bucket=demo_talkbot.DEMO_LIBRARY_BUCKET, Key=library_key)["ContentLength"] > 0
    recipients = sorted(parseaddr(m["To"])[1] for m in stack.smtp.messages)
    assert recipients == ["ada@example.org", "alan@example.org"]
    assert len(stack.google.youtube.uploads) == 1
    config = topology.airflow("variables", "get", "talkbot_config")
    talk_sheet = demo_talkbot.json.loads(config)["conferences"][demo_talkbot.DEMO_SLUG]["talk_sheet"]
    rows = read_rows(SheetLocation.parse(talk_sheet, tab="Talks"))
    header = [h.upper() for h in rows[0]]
    row = next(r for r in rows[1:] if r[0] == demo_talkbot.DEMO_UUID)
    assert row[header.index("STATUS")] == "published"
    assert row[header.index("LINK")].startswith("http")


def test_tasks_ran_on_both_workers(topology, dataset_run, publish_run):
    hosts = {
        ti["hostname"]
        for dag_id, run_id in ((DATASET_DAG, dataset_run[0]), (PUBLISH_DAG, publish_run["dag_run_id"]))
        for ti in topology.task_instances(dag_id, run_id)
        if ti["state"] == "success"
    }
    assert set(topology.worker_names) <= hosts, hosts


def test_task_log_served_from_s3_after_local_file_is_gone(topology, dataset_run, stack):
    run_id, _ = dataset_run
    ti = next(t for t in topology.task_instances(DATASET_DAG, run_id) if t["state"] == "success")
    s3_logs = stack.boto3_client("s3").list_objects_v2(Bucket=LOG_BUCKET, Prefix=topology.database)
    assert s3_logs.get("KeyCount", 0) > 0, "no task log was shipped to S3"

    shutil.rmtree(topology.home / "logs", ignore_errors=True)
    path = (
        f"/api/v2/dags/{DATASET_DAG}/dagRuns/{run_id}/taskInstances/{ti['task_id']}/logs/{ti['try_number']}"
    )
    if ti["map_index"] >= 0:
        path += f"?map_index={ti['map_index']}"
    content = topology.get(path)["content"]
    events = [str(line.get("event", "")) for line in content if isinstance(line, dict)]
    # The API server names where it read the log from: the S3 object, since the local file is gone.
    assert "::group::Log message source details" in events, events[:5]
    assert any(
        e.startswith(f"s3://{LOG_BUCKET}/{topology.database}/dag_id={DATASET_DAG}/") for e in events
    ), events[:5]
    assert len(events) > 5, events


def test_failure_alert_reaches_the_subscribed_queue(topology, alert_queue, stack):
    received_alerts(stack, alert_queue[1])  # drain anything earlier
    # A season whose only episode sheet is missing: the run ends failed without retries.
    s3 = stack.boto3_client("s3")
    s3.create_bucket(Bucket="prod-alerts-season")
    manifest = {
        "season_code": "S07",
        "episodes": [
            {"episode_code": "E01", "GOOGLE_SPREADSHEET_URL": "s3://prod-alerts-season/missing.csv"}
        ],
    }
    s3.put_object(
        Bucket="prod-alerts-season",
        Key="tuttle_twins/manifests/S07-episodes.json",
        Body=json.dumps(manifest).encode(),
    )
    run_id = topology.trigger(DATASET_DAG, conf={"bucket": "prod-alerts-season"})
    assert topology.wait_for_run(DATASET_DAG, run_id, timeout=300) == "failed"
    deadline = time.monotonic() + 60
    alerts: list[str] = []
    while time.monotonic() < deadline and not alerts:
        alerts = [a for a in received_alerts(stack, alert_queue[1]) if DATASET_DAG in a]
    assert alerts, "no failure alert arrived on the queue subscribed to the SNS topic"
    assert run_id in alerts[0]
