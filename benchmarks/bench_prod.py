"""Load and faults on the Celery topology (PostgreSQL + Redis + two Celery workers).

Scenarios, all on one topology whose ``aws_default`` goes through a counting/fault proxy
in front of moto:

1. **burst**: 50 talk uploads at once → 50 publish runs; no duplicate run, upload or email;
   render concurrency never above the ``render`` pool; time to drain, median latency.
2. **worker kill**: a Celery worker is killed (SIGKILL of its process group) while it
   renders; the task is retried on the other worker and the video published exactly once.
3. **sync 200k**: a dataset sync of 200,000 frames end to end; wall time and S3 requests.
4. **slowdown**: 10 % of the dataset bucket's S3 requests answered ``503 SlowDown`` while a
   sync applies a change; the run converges to the exact expected layout.

Needs PostgreSQL and Redis on 127.0.0.1 (skipped with the reason otherwise). Sizes:
``BENCH_PROD_UPLOADS`` (50), ``BENCH_PROD_FRAMES`` (200000).
"""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import statistics
import tempfile
import time
import uuid
from collections import Counter
from datetime import datetime
from email.utils import parseaddr
from pathlib import Path

from benchmarks.common import table

UPLOADS = int(os.environ.get("BENCH_PROD_UPLOADS", "50"))
FRAMES = int(os.environ.get("BENCH_PROD_FRAMES", "200000"))
RENDER_SLOTS = 2
SYNC_BUCKET = "bench-angel-nft"
PUBLISH = "talkbot_publish_video"
SYNC = "tuttle_twins_dataset_sync"
EPISODES = ("E01", "E02", "E03", "E04")
RARITIES = ("Common", "Uncommon", "Rare", "Epic", "Legendary")


def _ts(value: str | None) -> float | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() if value else None


def _max_overlap(intervals: list[tuple[float, float]]) -> int:
    events = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])
    running = peak = 0
    for _, delta in events:
        running += delta
        peak = max(peak, running)
    return peak


def _frame(episode: str, n: int) -> str:
    """Frame n at 24 fps as ``TT_S09_E01_FRM-HH-MM-SS-FF``."""
    seconds = n // 24
    return (
        f"TT_S09_{episode}_FRM-{seconds // 3600:02d}-{seconds // 60 % 60:02d}-{seconds % 60:02d}-{n % 24:02d}"
    )


# -- setup ------------------------------------------------------------------------------------
def _talk_conference(stack) -> tuple[list[str], dict[str, str]]:
    from devstack import demo_talkbot as demo

    queue_url = demo.create_queue(stack, "bench-uploads", "bench-raw")
    uuids = [str(uuid.uuid4()) for _ in range(UPLOADS + 1)]
    talks = [
        {"UUID": u, "TITLE": f"Talk {i}", "DESCRIPTION": "Load test.", "SPEAKERS": f"Speaker {i}"}
        for i, u in enumerate(uuids)
    ]
    conference = demo.create_conference(
        stack,
        slug="bench",
        raw_bucket="bench-raw",
        library_bucket="bench-library",
        talks=talks,
        speakers=[(f"Speaker {i}", f"speaker{i}@example.org") for i in range(len(uuids))],
        talk_sheet_in_google=False,
    )
    config = {"queue_url": queue_url, "conferences": {"bench": conference}}
    return uuids, {"talkbot_config": json.dumps(config)}


def _seed_sync(stack) -> dict[str, list[list[str]]]:
    """Bucket, 4 episode CSV sheets and FRAMES source objects (written straight into moto)."""
    from moto.s3.models import s3_backends

    s3 = stack.boto3_client("s3")
    s3.create_bucket(Bucket=SYNC_BUCKET)
    # The DAG's scheduled run at start-up syncs the default bucket: give it one with no season.
    s3.create_bucket(Bucket="media.angel-nft.com")
    backend = s3_backends["123456789012"]["aws"]
    per_episode = FRAMES // len(EPISODES)
    sheets = {}
    for e_index, episode in enumerate(EPISODES):
        rows = []
        for n in range(per_episode):
            frame = _frame(episode, n)
            rows.append(["", str(n), frame, RARITIES[(n + e_index) % 5], "", "", "[]"])
            key = f"tuttle_twins/S09{episode}/default_eng/v1/frames/thumbnails/{frame}.jpg"
            backend.put_object(SYNC_BUCKET, key, b"\xff\xd8jpeg\xff\xd9", disable_notification=True)
        sheets[episode] = rows
        _put_sheet(s3, episode, rows)
    manifest = {
        "season_code": "S09",
        "episodes": [
            {"episode_code": e, "GOOGLE_SPREADSHEET_URL": f"s3://{SYNC_BUCKET}/sheets/S09{e}.csv"}
            for e in EPISODES
        ],
    }
    s3.put_object(
        Bucket=SYNC_BUCKET, Key="tuttle_twins/manifests/S09-episodes.json", Body=json.dumps(manifest).encode()
    )
    return sheets


def _put_sheet(s3, episode: str, rows: list[list[str]]) -> None:
    from include.dataset_sync.sheet import SHEET_COLUMNS

    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows([list(SHEET_COLUMNS), *rows])
    s3.put_object(Bucket=SYNC_BUCKET, Key=f"sheets/S09{episode}.csv", Body=buffer.getvalue().encode())


def _expected_layout(sheets: dict[str, list[list[str]]]) -> set[str]:
    from include.dataset_sync import layout
    from include.dataset_sync.config import DEFAULT_SPLIT_SALT

    return {
        layout.dest_key(layout.assign_split(DEFAULT_SPLIT_SALT, row[2]), row[5] or row[4] or row[3], row[2])
        for rows in sheets.values()
        for row in rows
    }


def _dest_layout(stack) -> set[str]:
    keys = set()
    for page in (
        stack.boto3_client("s3")
        .get_paginator("list_objects_v2")
        .paginate(Bucket=SYNC_BUCKET, Prefix="tuttle_twins/ML/")
    ):
        keys.update(o["Key"] for o in page.get("Contents", []))
    return keys


# -- scenarios --------------------------------------------------------------------------------
def burst(topo, stack, workdir: Path, uuids: list[str]) -> list[list[object]]:
    from devstack import demo_talkbot as demo

    video = workdir / "burst.mp4"
    from devstack.media import make_talk_video

    make_talk_video(video, duration=10.0, size="320x180", fps=25)
    s3 = stack.boto3_client("s3")
    topo.wait_for_dag("talkbot_sqs_listener")
    put_at = {}
    for u in uuids[:UPLOADS]:
        key = demo.talk_key(u, "000001", "000009")
        s3.upload_file(str(video), "bench-raw", key)
        put_at[u] = time.time()
    first_put = min(put_at.values())
    deadline = time.monotonic() + 3600
    while time.monotonic() < deadline:
        runs = topo.runs(PUBLISH)
        if sum(r["state"] in ("success", "failed") for r in runs) >= UPLOADS:
            break
        time.sleep(5)
    runs = topo.runs(PUBLISH)
    finished = [r for r in runs if r["state"] == "success"]
    last_end = max(_ts(r["end_date"]) for r in finished)
    latencies, renders = [], []
    for run in finished:
        conf_key = run["conf"].get("key", "")
        u = next((x for x in uuids if x in conf_key), None)
        if u in put_at:
            latencies.append(_ts(run["end_date"]) - put_at[u])
        for ti in topo.task_instances(PUBLISH, run["dag_run_id"]):
            if ti["task_id"] == "render_video" and ti["start_date"] and ti["end_date"]:
                renders.append((_ts(ti["start_date"]), _ts(ti["end_date"])))
    keys_per_run = Counter(r["conf"].get("key") for r in runs)
    titles = Counter(u["snippet"].get("title") for u in stack.google.youtube.uploads)
    mails = Counter(parseaddr(m["To"])[1] for m in stack.smtp.messages)
    return [
        ["uploads", UPLOADS],
        ["publish runs (success / total)", f"{len(finished)} / {len(runs)}"],
        ["duplicate runs for one key", sum(c - 1 for c in keys_per_run.values())],
        [
            "YouTube uploads (duplicates)",
            f"{len(stack.google.youtube.uploads)} ({sum(c - 1 for c in titles.values())})",
        ],
        ["emails (duplicates)", f"{sum(mails.values())} ({sum(c - 1 for c in mails.values())})"],
        ["max concurrent renders / pool slots", f"{_max_overlap(renders)} / {RENDER_SLOTS}"],
        ["time to drain (first put → last run end)", f"{last_end - first_put:.1f} s"],
        ["median per-video latency (put → run end)", f"{statistics.median(latencies):.1f} s"],
    ]


def worker_kill(topo, stack, workdir: Path, talk_uuid: str) -> list[list[object]]:
    from devstack import demo_talkbot as demo
    from devstack.media import make_talk_video

    video = workdir / "long.mp4"
    make_talk_video(video, duration=90.0, size="1280x720", fps=25)
    title = f"Talk {UPLOADS}"
    key = demo.talk_key(talk_uuid, "000001", "000128")
    stack.boto3_client("s3").upload_file(str(video), "bench-raw", key)
    victim, run_id = None, None
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and victim is None:
        for run in topo.runs(PUBLISH):
            if run["conf"].get("key") != key:
                continue
            run_id = run["dag_run_id"]
            for ti in topo.task_instances(PUBLISH, run_id):
                if ti["task_id"] == "render_video" and ti["state"] == "running" and ti["hostname"]:
                    victim = ti["hostname"]
        time.sleep(0.5)
    if victim is None:
        return [["worker kill", "render never observed running"]]
    time.sleep(2)  # mid-render
    os.killpg(topo.pid_of(victim), signal.SIGKILL)
    killed_at = time.time()
    state = topo.wait_for_run(PUBLISH, run_id, timeout=1200)
    render = next(t for t in topo.task_instances(PUBLISH, run_id) if t["task_id"] == "render_video")
    end = _ts(topo.get(f"/api/v2/dags/{PUBLISH}/dagRuns/{run_id}")["end_date"])
    return [
        ["killed worker (render running there)", victim],
        ["run state", state],
        ["render tries / final host", f"{render['try_number']} / {render['hostname']}"],
        ["kill → run end", f"{end - killed_at:.1f} s"],
        [
            "YouTube uploads of that talk",
            sum(u["snippet"].get("title") == title for u in stack.google.youtube.uploads),
        ],
        [
            "emails sent for it",
            sum(parseaddr(m["To"])[1] == f"speaker{UPLOADS}@example.org" for m in stack.smtp.messages),
        ],
    ]


def _wait_idle(topo, dag_id: str, timeout: float = 1800) -> None:
    """Wait until no run of the DAG is queued or running (the scheduled run at start-up)."""
    deadline = time.monotonic() + timeout
    while any(r["state"] in ("queued", "running") for r in topo.runs(dag_id)):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{dag_id} still busy after {timeout}s")
        time.sleep(2)


def sync_large(topo, stack, proxy, sheets) -> list[list[object]]:
    topo.request("PATCH", "/api/v2/dags/talkbot_sqs_listener", {"is_paused": True})
    _wait_idle(topo, SYNC)
    proxy.counts.clear()
    started = time.time()
    run_id = topo.trigger(SYNC, conf={"bucket": SYNC_BUCKET})
    state = topo.wait_for_run(SYNC, run_id, timeout=3600)
    wall = time.time() - started
    counts = {k: v for k, v in proxy.counts.items() if k[1] == SYNC_BUCKET}
    layout_ok = _dest_layout(stack) == _expected_layout(sheets)
    return [
        ["frames", FRAMES],
        ["run state / layout as expected", f"{state} / {layout_ok}"],
        ["wall time (trigger → run end)", f"{wall:.1f} s ({FRAMES / wall:.0f} frames/s)"],
        ["S3 requests on the bucket", sum(counts.values())],
        ["  CopyObject (minimum = frames)", counts.get(("COPY", SYNC_BUCKET), 0)],
        ["  PUT (sync report and plan)", counts.get(("PUT", SYNC_BUCKET), 0)],
        ["  POST (DeleteObjects)", counts.get(("POST", SYNC_BUCKET), 0)],
        ["  GET (listings, manifests, sheets)", counts.get(("GET", SYNC_BUCKET), 0)],
    ]


def sync_with_slowdown(topo, stack, proxy, sheets) -> list[list[object]]:
    s3 = stack.boto3_client("s3")
    changed = 0
    for episode, rows in sheets.items():
        for row in rows[: len(rows) // 50]:  # reclassify 2 % of every episode
            row[5] = RARITIES[(RARITIES.index(row[3]) + 1) % 5]
            changed += 1
        _put_sheet(s3, episode, rows)
    _wait_idle(topo, SYNC)
    proxy.only_prefix = f"/{SYNC_BUCKET}"
    proxy.failure_rate = 0.10
    failures_before = proxy.failures
    started = time.time()
    run_id = topo.trigger(SYNC, conf={"bucket": SYNC_BUCKET})
    state = topo.wait_for_run(SYNC, run_id, timeout=3600)
    wall = time.time() - started
    proxy.failure_rate = 0.0
    tries = max(t["try_number"] for t in topo.task_instances(SYNC, run_id))
    layout_ok = _dest_layout(stack) == _expected_layout(sheets)
    return [
        ["frames moved (class changed)", changed],
        ["503 SlowDown injected", proxy.failures - failures_before],
        ["run state / max task try", f"{state} / {tries}"],
        ["final layout == expected", layout_ok],
        ["wall time", f"{wall:.1f} s"],
    ]


def main() -> None:
    from devstack import LocalStack
    from devstack.faultproxy import FaultProxy
    from devstack.topology import CeleryTopology, services_available

    ok, why = services_available()
    if not ok:
        print(f"SKIPPED: {why}")
        return
    workdir = Path(tempfile.mkdtemp(prefix="bench-prod-"))
    with LocalStack(workdir / "stack") as stack, FaultProxy(stack.aws_endpoint, failure_rate=0.0) as proxy:
        uuids, variables = _talk_conference(stack)
        t0 = time.time()
        sheets = _seed_sync(stack)
        print(f"seeded {FRAMES} source frames in {time.time() - t0:.1f} s", flush=True)
        aws = json.loads(stack.env["AIRFLOW_CONN_AWS_DEFAULT"])
        aws["extra"]["endpoint_url"] = proxy.endpoint
        topo = CeleryTopology(
            stack,
            workdir / "topology",
            workers=2,
            worker_concurrency=2,
            extra_env={
                "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(aws),
                "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "30",
            },
        )
        with topo:
            topo.start(pools={"render": RENDER_SLOTS}, variables=variables)
            scenarios = [
                (f"burst of {UPLOADS} uploads", lambda: burst(topo, stack, workdir, uuids)),
                (
                    "Celery worker killed mid-render",
                    lambda: worker_kill(topo, stack, workdir, uuids[UPLOADS]),
                ),
                (f"dataset sync of {FRAMES} frames", lambda: sync_large(topo, stack, proxy, sheets)),
                ("sync apply with 10 % 503 SlowDown", lambda: sync_with_slowdown(topo, stack, proxy, sheets)),
            ]
            for title, scenario in scenarios:
                started = time.time()
                rows = scenario()
                print(
                    f"\n{title} ({time.time() - started:.0f} s)\n{table(rows, ['measure', 'value'])}",
                    flush=True,
                )
