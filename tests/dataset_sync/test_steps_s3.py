"""The task functions against moto without the scheduler: crash mid-apply, retries, request counts."""

from __future__ import annotations

from include.dataset_sync import layout, s3ops, steps
from tests.dataset_sync.conftest import expected_key, sheet_row


def pipeline(params: dict, run_id: str) -> dict:
    """read_manifests → load_episode × n → plan_sync, as the DAG chains them."""
    episodes = steps.read_manifests(params, run_id)
    loaded = [steps.load_episode(e, params, run_id) for e in episodes]
    return steps.plan_sync(loaded, params, run_id)


def test_crash_mid_apply_and_repeated_tasks_converge(season, s3_calls):
    season.put_frames("S01E01", range(1, 41))
    season.put_csv_sheet("S01E01", [sheet_row("S01E01", n, unsup="Epic") for n in range(1, 41)])
    season.put_manifest()
    params = season.conf(chunk_size=15)
    want = {expected_key("S01E01", n, "Epic") for n in range(1, 41)}

    first = pipeline(params, "run-1")
    assert len(first["copy_chunks"]) == 3  # 40 copies in chunks of 15
    # The worker dies after the first chunk and a half.
    steps.copy_chunk(first["copy_chunks"][0], params)
    pairs = s3ops.get_json(season.s3, season.bucket, first["copy_chunks"][1])[:7]
    s3ops.copy_objects(season.s3, [tuple(p) for p in pairs], season.bucket, concurrency=4)
    assert len(season.snapshot()) == 22

    # The next run copies only what is missing; running each apply task twice changes nothing.
    s3_calls.clear()
    second = pipeline(params, "run-2")
    assert second["copies"] == 18
    for chunk in second["copy_chunks"]:
        steps.copy_chunk(chunk, params)
        steps.copy_chunk(chunk, params)
    assert set(season.snapshot()) == want
    assert s3_calls.count("CopyObject", season.bucket) == 36
    steps.write_report([{"episode": "S01E01", "status": "ok"}], params, "run-2")

    # Reclassify everything: 40 moves, the old objects go in DeleteObjects batches of 1000.
    season.put_csv_sheet("S01E01", [sheet_row("S01E01", n, unsup="Rare") for n in range(1, 41)])
    params = season.conf(chunk_size=15, allow_mass_delete=True)
    third = pipeline(params, "run-3")
    for chunk in third["copy_chunks"]:
        steps.copy_chunk(chunk, params)
    s3_calls.clear()
    for chunk in third["delete_chunks"]:
        steps.delete_chunk(chunk, params)
        steps.delete_chunk(chunk, params)  # a retry of a delete chunk is harmless
    assert set(season.snapshot()) == {expected_key("S01E01", n, "Rare") for n in range(1, 41)}
    assert s3_calls.count("DeleteObjects", season.bucket) == 2 * len(third["delete_chunks"])
    final = pipeline(params, "run-4")
    assert (final["copy_chunks"], final["delete_chunks"], final["copies"], final["deletes"]) == ([], [], 0, 0)


def test_deletes_are_batched_by_1000_and_sources_listed_once_per_prefix(season, s3_calls):
    keys = [layout.dest_key("train", "Common", f"TT_S05_E01_FRM-{n:05d}") for n in range(1203)]
    for key in keys:
        season.put_dest(key, b"")
    season.put_frames("S01E01", range(1, 4))
    other_prefix = "media2/frames/"
    rows = [sheet_row("S01E01", n, unsup="Rare") for n in range(1, 4)]
    rows.append(sheet_row("S01E01", 9, unsup="Rare", base=f"s3://{season.bucket}/{other_prefix}"))
    season.put_csv_sheet("S01E01", rows)
    season.put_manifest()
    params = season.conf(allow_mass_delete=True)

    s3_calls.clear()
    plan = pipeline(params, "run-1")
    assert s3_calls.count("HeadObject", season.bucket) == 0
    assert s3_calls.count("ListObjectsV2", season.bucket, "tuttle_twins/S01E01/") == 1
    assert s3_calls.count("ListObjectsV2", season.bucket, other_prefix) == 1
    summary = s3ops.get_json(season.s3, season.bucket, "tuttle_twins/sync_runs/run-1/plan.json")
    assert summary["totals"]["missing"] == 1  # frame 9 has no jpg under its S3_BASE_URI
    assert summary["deletes"] == 1203

    s3_calls.clear()
    for chunk in plan["delete_chunks"]:
        steps.delete_chunk(chunk, params)
    assert s3_calls.count("DeleteObjects", season.bucket) == 2  # ceil(1203 / 1000)
    assert not set(keys) & set(season.snapshot())


def test_throttled_s3_is_retried_to_the_same_result(season, stack, monkeypatch):
    import json

    from devstack.faultproxy import FaultProxy

    season.put_frames("S01E01", range(1, 31))
    season.put_csv_sheet("S01E01", [sheet_row("S01E01", n, unsup="Common") for n in range(1, 31)])
    season.put_manifest()
    stale = [expected_key("S01E01", n, "Rare") for n in range(1, 11)]
    for key in stale:
        season.put_dest(key)
    with FaultProxy(stack.aws_endpoint, failure_rate=0.2, seed=3, only_prefix=f"/{season.bucket}") as proxy:
        conn = {
            "conn_type": "aws",
            "login": "testing",
            "password": "testing",
            "extra": {"region_name": "us-east-1", "endpoint_url": proxy.endpoint},
        }
        # Connection ids are not Params: the fault proxy takes the place of aws_default itself.
        monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps(conn))
        params = season.conf(allow_mass_delete=True, copy_concurrency=8)
        plan = pipeline(params, "run-1")
        for chunk in plan["copy_chunks"]:
            steps.copy_chunk(chunk, params)
        for chunk in plan["delete_chunks"]:
            steps.delete_chunk(chunk, params)
    assert proxy.failures >= 5  # SlowDown answers really happened, and were retried
    assert set(season.snapshot()) == {expected_key("S01E01", n, "Common") for n in range(1, 31)}
