"""Intake latency: S3 put → ``talkbot_publish_video`` run created, on a running ``airflow standalone``.

Starts the stand-ins and ``airflow standalone`` (LocalExecutor, SQLite, triggerer) with the demo
conference, waits until ``talkbot_sqs_listener`` has handled the demo upload (warm-up), then uploads
``UPLOADS`` more talks one after another. For each it measures from just before ``PutObject`` to the
``queued_at`` of the publish run with the upload's deterministic run id. ``talkbot_publish_video`` is
paused so the measurement is the intake path only (renders would compete for the 2 cores).

Then the same again with poison beside every upload: just before each put, two messages the listener
cannot use (a record whose key is a number, JSON nested too deep for the parser) go to the queue, so
they arrive in the upload's batch. The ratio of the two medians shows what poison costs a good upload.

Target: median ≤ 15 s, with and without poison.
"""

from __future__ import annotations

import json
import sqlite3
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

UPLOADS = 5
TARGET_SECONDS = 15.0
RUN_TIMEOUT_SECONDS = 120
WARM_TIMEOUT_SECONDS = 600  # the first runs also wait for the DAG processor and a cold triggerer


def _queued_at(db: Path, run_id: str) -> datetime | None:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as conn:
        row = conn.execute(
            "SELECT queued_at FROM dag_run WHERE dag_id = 'talkbot_publish_video' AND run_id = ?", (run_id,)
        ).fetchone()
    if not row or not row[0]:
        return None
    value = row[0] if isinstance(row[0], str) else str(row[0])
    parsed = datetime.fromisoformat(value.replace(" ", "T"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)  # Airflow stores UTC


def _wait_for_run(db: Path, run_id: str, since: float, timeout: float = RUN_TIMEOUT_SECONDS) -> datetime:
    while time.time() - since < timeout:
        queued = _queued_at(db, run_id)
        if queued:
            return queued
        time.sleep(0.2)
    raise TimeoutError(f"no talkbot_publish_video run {run_id} after {timeout:.0f} s")


def _poison(bucket: str) -> list[str]:
    record = {"eventSource": "aws:s3", "eventName": "ObjectCreated:Put"}
    record["s3"] = {"bucket": {"name": bucket}, "object": {"key": 20260101, "eTag": "e"}}
    return [json.dumps({"Records": [record]}), "[" * 100_000 + "]" * 100_000]


def _measure(stack, db: Path, source: Path, config: dict, *, poison: bool) -> list[float]:
    from devstack import demo_talkbot
    from include.video_publishing.naming import publish_run_id

    s3, sqs = stack.boto3_client("s3"), stack.boto3_client("sqs")
    raw, queue_url = config["conferences"][demo_talkbot.DEMO_SLUG]["raw_bucket"], config["queue_url"]
    latencies = []
    for n in range(UPLOADS):
        talk = str(uuid.uuid4())
        key = demo_talkbot.talk_key(talk)
        before = time.time()
        if poison:
            for body in _poison(raw):
                sqs.send_message(QueueUrl=queue_url, MessageBody=body)
        s3.upload_file(str(source), raw, key)
        etag = s3.head_object(Bucket=raw, Key=key)["ETag"]
        queued = _wait_for_run(db, publish_run_id(talk, raw, key, etag), before)
        latencies.append(queued.timestamp() - before)
        label = "with poison" if poison else "clean"
        print(f"  {label} upload {n + 1}/{UPLOADS}: run created {latencies[-1]:.1f} s after the put")
    return latencies


def _summary(label: str, latencies: list[float]) -> str:
    median = statistics.median(latencies)
    return (
        f"intake latency S3 put → publish run, {label}: median {median:.1f} s, min {min(latencies):.1f} s, "
        f"max {max(latencies):.1f} s over {len(latencies)} uploads (target ≤ {TARGET_SECONDS:.0f} s: "
        f"{'met' if median <= TARGET_SECONDS else 'NOT met'})"
    )


def main() -> None:

    from devstack import LocalStack, demo_talkbot
    from devstack.demo import airflow, airflow_environment, start_standalone, stop_standalone, wait_healthy
    from devstack.net import free_port
    from include.video_publishing.naming import publish_run_id

    state = Path(tempfile.mkdtemp(prefix="bench-intake-"))
    home, workdir = state / "airflow", state / "stack"
    home.mkdir()
    port = free_port()
    with LocalStack(workdir) as stack:
        env = airflow_environment(stack, home, port)
        airflow(env, "db", "migrate")
        demo_talkbot.seed(stack, workdir)
        for name, value in demo_talkbot.variables(stack).items():
            airflow(env, "variables", "set", name, value)
        airflow(env, "pools", "set", "render", "2", "ffmpeg renders")
        airflow(env, "dags", "reserialize")
        airflow(env, "dags", "pause", "talkbot_publish_video")
        db = home / "airflow.db"
        config = json.loads(demo_talkbot.variables(stack)["talkbot_config"])
        raw = config["conferences"][demo_talkbot.DEMO_SLUG]["raw_bucket"]
        s3 = stack.boto3_client("s3")
        warm_key = demo_talkbot.talk_key(demo_talkbot.DEMO_UUID)
        warm_run = publish_run_id(
            demo_talkbot.DEMO_UUID, raw, warm_key, s3.head_object(Bucket=raw, Key=warm_key)["ETag"]
        )
        log_path = state / "standalone.log"
        process = start_standalone(env, log_path)
        try:
            started = time.time()
            wait_healthy(port, process, log_path)
            _wait_for_run(db, warm_run, time.time(), timeout=WARM_TIMEOUT_SECONDS)
            print(f"standalone healthy and warm (demo upload triggered) after {time.time() - started:.0f} s")
            source = workdir / "talk-20s.mp4"
            clean = _measure(stack, db, source, config, poison=False)
            poisoned = _measure(stack, db, source, config, poison=True)
        finally:
            stop_standalone(process, home)
    print(_summary("clean", clean))
    print(_summary("two poison messages in each batch", poisoned))
    ratio = statistics.median(poisoned) / statistics.median(clean)
    print(f"with poison / clean, medians: {ratio:.2f}")


if __name__ == "__main__":
    main()
