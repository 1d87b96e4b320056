"""Talks and Datasets pages on real sizes: a 1,000-talk conference and 1,000,000 frames in 40 episodes.

Seeds moto with a conference of ``TALKS`` talks (talk sheet as an S3 CSV, one ledger record per talk)
and ``RUNS`` dataset sync reports over ``EPISODES`` episodes of ``FRAMES`` frames, builds the summaries
with the project's own functions (the rebuild for the talks, ``note_sync_report`` with a 1,000,000-key
destination listing for the datasets), starts ``airflow api-server`` with the plugin and times signed-in
GETs of every page: the first request (``WARM_UP_S`` after the server answered: the plugin loads the
app in the background meanwhile; the first request still reads the sheet and the summary cold) and the
median of ``REPEATS``.
Side by side: reading the conference the naive way (one GET per ledger record) and the costs the
summaries add where the pipelines write (one ledger write; one report).

Target: every page ≤ 1 s.
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

TALKS = 1000
EPISODES = 40
FRAMES = 1_000_000
RUNS = 30
REPEATS = 10
TARGET_S = 1.0
WARM_UP_S = 10
SLUG = "bench"
BUCKET = "bench-media"


def _seed_talks(s3, stack) -> tuple[dict, str, str]:
    from devstack.demo_talkbot import create_conference
    from include.video_publishing.naming import object_identity, publish_run_id

    statuses = ["published"] * 7 + ["failed", "processing", "excluded"]
    talks = [
        {
            "UUID": f"{n:08x}-0000-4000-8000-{n:012x}",
            "TITLE": f"Talk number {n} about pipelines",
            "SPEAKERS": f"Speaker {n}; Speaker {n + 1}",
        }
        for n in range(TALKS)
    ]
    conference = create_conference(
        stack, slug=SLUG, raw_bucket=f"{SLUG}-raw", library_bucket=f"{SLUG}-library", talks=talks,
        speakers=[], talk_sheet_in_google=False,
    )  # fmt: skip
    library = conference["library_bucket"]

    def put(n: int) -> None:
        uuid, key, etag = talks[n]["UUID"], f"room1_{talks[n]['UUID']}_000002_000014.mp4", f"{n:032x}"
        identity = object_identity(f"{SLUG}-raw", key, etag)
        status = statuses[n % len(statuses)]
        at = "2026-11-23T10:00:00+00:00"
        record = {
            "uuid": uuid, "identity": identity, "conference": SLUG, "bucket": f"{SLUG}-raw", "key": key,
            "etag": etag, "run_id": publish_run_id(uuid, f"{SLUG}-raw", key, etag), "status": status,
            "created_at": at, "updated_at": at, "library_key": f"{SLUG}/{uuid}.mp4",
            "history": [{"at": at, "status": s} for s in ("processing", "processed", status)],
            "emails": {f"s{n}@example.org": {"name": f"Speaker {n}", "state": "sent", "at": at}},
            "youtube": {"video_id": f"v{n}", "playlist_id": "PL1"}, "link": f"https://www.youtube.com/watch?v=v{n}",
        }  # fmt: skip
        s3.put_object(Bucket=library, Key=f"_talkbot/ledger/{uuid}/{identity}.json", Body=json.dumps(record).encode())  # fmt: skip

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(put, range(TALKS)))
    config = {"queue_url": "http://127.0.0.1/q", "conferences": {SLUG: conference}}
    return config, library, talks[0]["UUID"]


def _seed_dataset(s3) -> tuple[float, float, str]:
    import pyarrow as pa

    from include.dataset_sync.planner import parse_destination
    from include.ui_views.summaries import note_sync_report

    s3.create_bucket(Bucket=BUCKET)
    per_episode = FRAMES // EPISODES
    splits, classes = ("train", "validation", "test"), ("Common", "Uncommon", "Rare", "Epic", "Legendary")
    keys = pa.array(
        [
            f"tuttle_twins/ML/{splits[i % 10 // 7 if i % 10 < 9 else 2]}/{classes[i % 5]}/TT_S{1 + e // 10:02d}_E{1 + e % 10:02d}_FRM-{i:07d}.jpg"
            for e in range(EPISODES)
            for i in range(per_episode)
        ]
    )
    started = time.perf_counter()
    dest = parse_destination(keys)
    parse_s = time.perf_counter() - started
    episodes = sorted({f"S{1 + e // 10:02d}E{1 + e % 10:02d}" for e in range(EPISODES)})
    note_s = 0.0
    run_id = ""
    for r in range(RUNS):
        run_id = f"manual__2026-10-{1 + r:02d}T00:00:00+00:00"
        report = {
            "run_id": run_id, "dry_run": False, "planned": True, "problems": [], "failures": [],
            "plan": {"guard": {"tripped": False, "allowed_deletes": 200000, "message": ""}, "deletes": 100, "copies": 200},
            "episodes": {ep: {"unchanged": per_episode - 20, "copied": (r * 7 + i) % 20, "moved": (r + i) % 5, "deleted": i % 3, "missing": (r + i) % 2, "invalid": i % 4, "duplicates": 0, "status": "ok"} for i, ep in enumerate(episodes)},
            "held": [{"episode": episodes[r % EPISODES], "reason": "sheet shrank", "deletes": 50, "existing": per_episode}],
            "datasets_after_run": {},
        }  # fmt: skip
        s3.put_object(Bucket=BUCKET, Key=f"tuttle_twins/sync_runs/{run_id}/report.json", Body=json.dumps(report).encode())  # fmt: skip
        s3.put_object(Bucket=BUCKET, Key=f"tuttle_twins/sync_runs/{run_id}/plan.csv", Body=b"step\n")
        started = time.perf_counter()
        note_sync_report(s3, BUCKET, report, dest if r == RUNS - 1 else None)
        note_s = max(note_s, time.perf_counter() - started)
    return parse_s, note_s, run_id


def _time(server: dict, path: str) -> tuple[float, float, int]:
    from tests.ui.server import get

    started = time.perf_counter()
    status, body = get(server, path)
    first = time.perf_counter() - started
    assert status == 200, f"{path}: {status} {body[-600:]!r}"
    times = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        status, body = get(server, path)
        times.append(time.perf_counter() - started)
    return first, statistics.median(times), len(body)


def main() -> None:
    from benchmarks.common import migrated_home, table
    from devstack import LocalStack
    from include.ui_views import summaries
    from include.video_publishing.ledger import Ledger
    from tests.ui.server import api, api_server

    state = Path(tempfile.mkdtemp(prefix="bench-ui-"))
    home = migrated_home()
    with LocalStack(state / "stack") as stack:
        s3 = stack.boto3_client("s3")
        config, library, first_uuid = _seed_talks(s3, stack)
        started = time.perf_counter()
        summaries.rebuild_talk_summaries(Ledger(library, client=s3))
        naive_s = time.perf_counter() - started  # one GET per record (+ one summary write)
        size = s3.head_object(Bucket=library, Key=f"_talkbot/summaries/{SLUG}.json")["ContentLength"]
        ledger = Ledger(library, client=s3)
        identity = next(
            k.split("/")[-1][:-5] for k in summaries._list_keys(s3, library, f"_talkbot/ledger/{first_uuid}/")
        )
        started = time.perf_counter()
        ledger.update(first_uuid, identity, lambda r: r.update(last_error="bench"))
        ledger_write_s = time.perf_counter() - started
        parse_s, note_s, last_run = _seed_dataset(s3)
        dsize = s3.head_object(Bucket=BUCKET, Key=summaries.DATASET_SUMMARY_KEY)["ContentLength"]

        env = {
            **os.environ,
            **stack.env,
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(Path(__file__).resolve().parent.parent / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(Path(__file__).resolve().parent.parent / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW_VAR_TALKBOT_CONFIG": json.dumps(config),
            "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
        }
        with api_server(env, state / "api") as server:
            status, answer = api(server, "POST", "/api/v2/dags/tuttle_twins_dataset_sync/dagRuns", {"dag_run_id": last_run, "logical_date": None, "conf": {"bucket": BUCKET}})  # fmt: skip
            assert status == 200, f"creating the sync run: {status} {answer}"
            time.sleep(WARM_UP_S)  # a person opens Talks some time after the server came up
            talk_run = json.loads(s3.get_object(Bucket=library, Key=f"_talkbot/ledger/{first_uuid}/{identity}.json")["Body"].read())["run_id"]  # fmt: skip
            pages = [
                (f"talks: {TALKS} talks", f"/media-views/talks/{SLUG}"),
                ("talks: filter failed + search", f"/media-views/talks/{SLUG}?status=failed&q=pipelines"),
                ("talk page (video, timeline)", f"/media-views/talks/{SLUG}/{first_uuid}"),
                ("talk run tab", f"/media-views/run/talkbot_publish_video/{quote(talk_run, safe='')}"),
                (f"datasets: {FRAMES:,} frames, {EPISODES} episodes, {RUNS} runs", f"/media-views/datasets?bucket={BUCKET}"),
                ("sync run tab", f"/media-views/run/tuttle_twins_dataset_sync/{quote(last_run, safe='')}"),
            ]  # fmt: skip
            rows = []
            for name, path in pages:
                first, median, length = _time(server, path)
                verdict = "ok" if median <= TARGET_S else "OVER"
                rows.append([name, f"{first:.3f}", f"{median:.3f}", f"{length / 1e3:.0f} kB", verdict])
    print(table(rows, ["page", "first request s", f"median of {REPEATS} s", "HTML", f"≤ {TARGET_S} s"]))
    talks_median = float(rows[0][2])
    print(
        f"\nconference of {TALKS} talks: summary {size / 1e3:.0f} kB; reading every ledger record instead "
        f"(the rebuild) {naive_s:.2f} s = {naive_s / talks_median:.0f}× the talks page's median {talks_median:.3f} s"
    )
    print(
        f"cost the talk summary adds to one ledger write (1,000-talk summary): {ledger_write_s:.3f} s in all"
    )
    print(
        f"dataset summary {dsize / 1e3:.0f} kB; in write_report: parse_destination of {FRAMES:,} keys "
        f"(write_report does it anyway) {parse_s:.2f} s; composition + summary update ≤ {note_s:.2f} s per report"
    )
