"""Dataset sync: planner speed and memory, request counts, and concurrent-copy throughput.

1. **Planner** — 1,000,000 target frames against 1,000,000 existing destination objects with
   1 % churn (0.5 % reclassified, 0.25 % new, 0.25 % dropped), inputs shaped as in the DAG
   (targets as an Arrow table read from the episode Parquet files, listings as Python lists
   of keys). Runs in a fresh subprocess; peak RSS is the process's high-water mark reset
   just before planning (``/proc/self/clear_refs``), so it covers the planner plus its
   inputs. Targets: ≤ 2 s, ≤ 1.5 GB.
2. **Requests** — mutation requests of that plan against the theoretical minimum (one
   CopyObject per copy or move, ceil(deleted / 1000) DeleteObjects) and against a full
   reload (delete all + copy all); then the same measured end to end on moto (the task
   functions, boto3 calls counted) at a smaller scale.
3. **Apply throughput** — server-side copies against a moto server with 50 ms added to every
   CopyObject (a botocore ``before-send`` hook that sleeps, modelling network latency):
   the project's ``copy_objects`` with 32 threads vs 1 thread, and the efficiency against
   the ideal ``min(32 / per-request time, moto's own capacity measured in the same run)``.
   Targets: ≥ 10× serial, efficiency ≥ 0.8.

``BENCH_SYNC_FRAMES`` changes the planner scale (default 1,000,000).
"""

from __future__ import annotations

import json
import math
import os
import random
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from benchmarks.common import REPO, table

FRAMES = int(os.environ.get("BENCH_SYNC_FRAMES", "1000000"))
PLANNER_TARGET_S = 2.0
PLANNER_TARGET_GB = 1.5
LATENCY_S = 0.050
CONCURRENCY = 32
COPIES = 640
SPEEDUP_TARGET = 10.0
EFFICIENCY_TARGET = 0.8


# -- 1 and 2: planner ------------------------------------------------------------------------
def _planner_child(frames: int) -> dict:
    """Runs in a subprocess: build the inputs, reset the RSS high-water mark, plan."""
    import gc

    import pyarrow as pa

    from include.dataset_sync import guards, layout
    from include.dataset_sync.config import DEFAULT_CHUNK_SIZE
    from include.dataset_sync.planner import make_plan
    from include.dataset_sync.steps import chunk_size_for

    rarities = layout.DEFAULT_RARITY_CHOICES
    rng = random.Random(7)
    churn = sample = rng.sample(range(frames), frames // 100)
    moved, new = set(sample[: len(churn) // 2]), set(sample[len(churn) // 2 : 3 * len(churn) // 4])
    dropped = len(churn) - len(moved) - len(new)  # frames that left the sheets, beyond the targets

    def frame_of(i: int) -> tuple[str, str]:
        season, episode = i // 288000 + 1, (i // 28800) % 10 + 1
        return f"S{season:02d}E{episode:02d}", f"TT_S{season:02d}_E{episode:02d}_FRM-{i % 28800:06d}"

    episodes, names, classes, splits, sources, dests = [], [], [], [], [], []
    existing: list[str] = []
    for i in range(frames + dropped):
        episode, frame = frame_of(i)
        rarity = rarities[i % 5]
        split = layout.assign_split("bench", frame)
        key = layout.dest_key(split, rarity, frame)
        if i >= frames:
            existing.append(key)
            continue
        episodes.append(episode)
        names.append(frame)
        classes.append(rarity)
        splits.append(split)
        sources.append(f"media/tuttle_twins/{episode}/default_eng/v1/frames/thumbnails/{frame}.jpg")
        dests.append(key)
        if i in moved:
            existing.append(layout.dest_key(split, rarities[(i + 1) % 5], frame))
        elif i not in new:
            existing.append(key)
    targets = pa.table(
        {
            "episode": episodes,
            "frame": names,
            "rarity": classes,
            "split": splits,
            "source": sources,
            "dest_key": dests,
        }
    )
    del episodes, names, classes, splits, dests
    gc.collect()

    Path("/proc/self/clear_refs").write_text("5")
    rss_before = _status_kb("VmRSS")
    started, cpu_started = time.perf_counter(), time.process_time()
    plan = make_plan(targets, existing, sources, lambda episode: True)
    planned = time.perf_counter()
    holds = guards.find_holds(
        plan.counts,
        plan.deletes,
        manifest_seasons={guards.season_of(e) for e in plan.counts.index},
        listed_episodes=set(plan.counts.index),
        valid_rows={},
        max_episode_delete_fraction=0.2,
    )
    holds += guards.global_holds(
        plan.counts, plan.deletes, holds, existing_objects=plan.existing_objects, max_delete_fraction=0.2
    )
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    deleted = len(plan.deletes)
    delete_size = chunk_size_for(deleted, DEFAULT_CHUNK_SIZE, "delete")
    chunks = [min(delete_size, deleted - start) for start in range(0, deleted, delete_size)]
    return {
        "targets": targets.num_rows,
        "existing": len(existing),
        "seconds": elapsed,
        "guard_seconds": elapsed - (planned - started),
        "cpu_seconds": cpu,
        "load_average": os.getloadavg()[0],
        "episodes": len(plan.counts),
        "held": len(holds),
        "rss_before_mb": rss_before / 1024,
        "peak_rss_mb": _status_kb("VmHWM") / 1024,
        "arrow_peak_mb": pa.default_memory_pool().max_memory() / 2**20,
        "copies": len(plan.copies),
        "deletes": deleted,
        "totals": plan.totals(),
        "delete_requests": sum(math.ceil(c / 1000) for c in chunks),
        # From the scenario, not the plan: each move and new frame is one copy; moved-away and dropped
        # objects are deleted 1000 per request.
        "min_requests": len(moved) + len(new) + math.ceil((len(moved) + dropped) / 1000),
        "full_reload_requests": math.ceil(len(existing) / 1000) + targets.num_rows,
        "expected_changes": {"moved": len(moved), "copied": len(new), "deleted": dropped},
    }


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def bench_planner() -> dict:
    code = (
        "import json, sys; from benchmarks.bench_dataset_sync import _planner_child; "
        f"print('RESULT' + json.dumps(_planner_child({FRAMES})))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    result = json.loads(out.split("RESULT", 1)[1])
    rows_per_s = (result["targets"] + result["existing"]) / result["seconds"]
    print(
        f"Planner with the guards: {result['targets']:,} targets vs {result['existing']:,} existing objects, "
        f"1 % churn, {result['episodes']} episodes"
    )
    print(
        table(
            [
                [
                    "wall time",
                    f"{result['seconds']:.2f} s",
                    f"<= {PLANNER_TARGET_S} s",
                    _ok(result["seconds"] <= PLANNER_TARGET_S),
                ],
                ["  of which the guards", f"{result['guard_seconds']:.3f} s", "", ""],
                [
                    "CPU time (all threads)",
                    f"{result['cpu_seconds']:.2f} s",
                    f"1-min load average {result['load_average']:.1f} on {os.cpu_count()} cores",
                    "",
                ],
                [
                    "held episodes/seasons",
                    result["held"],
                    "0 (churn is spread out)",
                    _ok(result["held"] == 0),
                ],
                ["throughput", f"{rows_per_s:,.0f} rows/s", "(targets + objects) / s", ""],
                [
                    "peak RSS while planning",
                    f"{result['peak_rss_mb']:,.0f} MB",
                    f"<= {PLANNER_TARGET_GB * 1024:,.0f} MB",
                    _ok(result["peak_rss_mb"] <= PLANNER_TARGET_GB * 1024),
                ],
                ["  of which inputs before planning", f"{result['rss_before_mb']:,.0f} MB", "", ""],
                ["  Arrow pool peak", f"{result['arrow_peak_mb']:,.0f} MB", "", ""],
                ["change sets", json.dumps(result["totals"]), json.dumps(result["expected_changes"]), ""],
            ],
            ["figure", "measured", "target / expected", ""],
        )
    )
    requests = result["copies"] + result["delete_requests"]
    print("\nMutation requests of that plan")
    print(
        table(
            [
                [
                    "this plan",
                    f"{requests:,}",
                    f"{result['copies']:,} CopyObject + {result['delete_requests']} DeleteObjects",
                ],
                [
                    "theoretical minimum",
                    f"{result['min_requests']:,}",
                    _ok(requests == result["min_requests"]),
                ],
                [
                    "full reload",
                    f"{result['full_reload_requests']:,}",
                    f"{result['full_reload_requests'] / max(requests, 1):,.0f}x more",
                ],
            ],
            ["", "requests", ""],
        )
    )
    return result


# -- 2b: measured end to end on moto ---------------------------------------------------------
class _Counter:
    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def __call__(self, event_name: str, **kwargs) -> None:
        operation = event_name.rsplit(".", 1)[-1]
        self.counts[operation] = self.counts.get(operation, 0) + 1


def bench_requests_measured(endpoint: str) -> None:
    import boto3
    from botocore.config import Config

    from include.dataset_sync import layout, steps
    from include.dataset_sync.sheet import SHEET_COLUMNS

    frames, bucket = 2000, "bench-requests"
    s3 = boto3.client("s3", endpoint_url=endpoint, config=Config(max_pool_connections=32))
    s3.create_bucket(Bucket=bucket)
    rng = random.Random(3)
    changed = set(rng.sample(range(frames), frames // 20))  # 5 % reclassified
    rows = [",".join(SHEET_COLUMNS)]
    puts = []
    for i in range(frames):
        frame = f"TT_S01_E01_FRM-{i:06d}"
        puts.append((f"tuttle_twins/S01E01/default_eng/v1/frames/thumbnails/{frame}.jpg", b"j"))
        puts.append((layout.dest_key(layout.assign_split("tuttle-twins-v1", frame), "Rare", frame), b"j"))
        rows.append(f",{i},{frame},{'Epic' if i in changed else 'Rare'},,,")
    puts.append(("sheets/S01E01.csv", "\n".join(rows).encode()))
    manifest = {
        "season_code": "S01",
        "episodes": [{"episode_code": "E01", "GOOGLE_SPREADSHEET_URL": f"s3://{bucket}/sheets/S01E01.csv"}],
    }
    puts.append(("tuttle_twins/manifests/S01-episodes.json", json.dumps(manifest).encode()))
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda kv: s3.put_object(Bucket=bucket, Key=kv[0], Body=kv[1]), puts))

    counter = _Counter()
    import botocore.session

    original = botocore.session.Session.create_client

    def counting_client(self, *args, **kwargs):
        client = original(self, *args, **kwargs)
        client.meta.events.register("before-call.s3", counter)
        return client

    botocore.session.Session.create_client = counting_client
    try:
        params = {"bucket": bucket}
        episodes = steps.read_manifests(params, "bench")
        loaded = [steps.load_episode(e, params, "bench") for e in episodes]
        plan = steps.plan_sync(loaded, params, "bench")
        before = dict(counter.counts)
        for chunk in plan["copy_chunks"]:
            steps.copy_chunk(chunk, params)
        for chunk in plan["delete_chunks"]:
            steps.delete_chunk(chunk, params)
    finally:
        botocore.session.Session.create_client = original
    copies = counter.counts.get("CopyObject", 0) - before.get("CopyObject", 0)
    deletes = counter.counts.get("DeleteObjects", 0) - before.get("DeleteObjects", 0)
    minimum = len(changed) + math.ceil(len(changed) / 1000)
    print(f"\nMeasured on moto: {frames:,} frames, {len(changed)} reclassified (moves)")
    print(
        table(
            [
                ["CopyObject", copies, len(changed)],
                ["DeleteObjects", deletes, math.ceil(len(changed) / 1000)],
                ["total", copies + deletes, f"{minimum} {_ok(copies + deletes == minimum)}"],
                ["full reload", f"{frames + math.ceil(frames / 1000):,}", ""],
            ],
            ["requests", "measured", "minimum"],
        )
    )


# -- 3: apply throughput -----------------------------------------------------------------------
def bench_apply(endpoint: str) -> None:
    from include.common import s3
    from include.dataset_sync import s3ops

    bucket = "bench-apply"
    hook = s3.hook("bench_aws", CONCURRENCY)
    client = hook.get_conn()
    client.create_bucket(Bucket=bucket)
    with ThreadPoolExecutor(16) as pool:
        list(
            pool.map(
                lambda i: client.put_object(Bucket=bucket, Key=f"src/{i:05d}.jpg", Body=b"x" * 2048),
                range(COPIES),
            )
        )

    def pairs(run: str, n: int = COPIES) -> list[tuple[str, str]]:
        return [(f"{bucket}/src/{i:05d}.jpg", f"dst/{run}/{i:05d}.jpg") for i in range(n)]

    def latency(**kwargs) -> None:
        time.sleep(LATENCY_S)

    def timed(run: str, concurrency: int, n: int = COPIES) -> float:
        started = time.perf_counter()
        s3ops.copy_objects(client, pairs(run, n), bucket, concurrency=concurrency)
        return n / (time.perf_counter() - started)

    timed("warmup", CONCURRENCY, 64)
    capacity = timed("capacity", CONCURRENCY)  # moto alone, no added latency
    client.meta.events.register("before-send.s3.CopyObject", latency)
    serial_n = COPIES // 8
    serial = timed("serial", 1, serial_n)
    concurrent = timed("concurrent", CONCURRENCY)
    client.meta.events.unregister("before-send.s3.CopyObject", latency)
    per_request = 1 / serial
    ideal = min(CONCURRENCY / per_request, capacity)
    speedup, efficiency = concurrent / serial, concurrent / ideal
    print(f"\nApply: server-side CopyObject against moto, +{LATENCY_S * 1000:.0f} ms per request")
    print(
        table(
            [
                ["moto capacity (32 threads, no added latency)", f"{capacity:,.0f}/s", "", ""],
                [
                    f"serial (1 thread, {serial_n} copies)",
                    f"{serial:,.1f}/s",
                    f"{per_request * 1000:.0f} ms per request",
                    "",
                ],
                [f"concurrent ({CONCURRENCY} threads, {COPIES} copies)", f"{concurrent:,.0f}/s", "", ""],
                [
                    "speedup vs serial",
                    f"{speedup:.1f}x",
                    f">= {SPEEDUP_TARGET:.0f}x",
                    _ok(speedup >= SPEEDUP_TARGET),
                ],
                ["ideal min(32/per-request, capacity)", f"{ideal:,.0f}/s", "", ""],
                [
                    "efficiency vs ideal",
                    f"{efficiency:.2f}",
                    f">= {EFFICIENCY_TARGET}",
                    _ok(efficiency >= EFFICIENCY_TARGET),
                ],
            ],
            ["figure", "measured", "note", ""],
        )
    )


_MOTO_CHILD = """
import logging, time
from moto.server import ThreadedMotoServer
logging.getLogger("werkzeug").setLevel(logging.WARNING)
ThreadedMotoServer(ip_address="127.0.0.1", port={port}, verbose=False).start()
while True:
    time.sleep(3600)
"""


def _ok(passed: bool) -> str:
    return "OK" if passed else "MISSED"


def main() -> None:
    bench_planner()
    from devstack.net import free_port, wait_for_port

    # moto in its own process: in this one it would share the GIL with the 32 copy threads.
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-c", _MOTO_CHILD.format(port=port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for_port(port, timeout=30)
    endpoint = f"http://127.0.0.1:{port}"
    conn = {
        "conn_type": "aws",
        "login": "testing",
        "password": "testing",
        "extra": {"region_name": "us-east-1", "endpoint_url": endpoint},
    }
    # The sync's connection id is fixed (aws_default): point it at this benchmark's moto.
    saved = {
        k: os.environ.get(k) for k in ("AIRFLOW_CONN_BENCH_AWS", "AIRFLOW_CONN_AWS_DEFAULT", "AIRFLOW_HOME")
    }
    os.environ["AIRFLOW_CONN_BENCH_AWS"] = json.dumps(conn)
    os.environ["AIRFLOW_CONN_AWS_DEFAULT"] = json.dumps(conn)
    os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="bench-sync-home-"))
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        os.environ.setdefault(name, value)
    try:
        bench_requests_measured(endpoint)
        bench_apply(endpoint)
    finally:
        server.terminate()
        server.wait(timeout=10)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


if __name__ == "__main__":
    main()
