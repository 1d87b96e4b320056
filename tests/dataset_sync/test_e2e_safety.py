"""End to end: what the sync must not do — delete what it cannot vouch for, or too much at once."""

from __future__ import annotations

import json

import pytest

from include.dataset_sync import layout
from tests.dataset_sync.conftest import HEADER, expected_key, sheet_row

pytestmark = pytest.mark.e2e
DAG_ID = "tuttle_twins_dataset_sync"


def synced(season, episode: str, numbers, rarity: str = "Rare") -> list[str]:
    """Sources, a sheet and the dataset objects of an episode that is already in sync."""
    season.put_frames(episode, numbers)
    keys = [expected_key(episode, n, rarity) for n in numbers]
    for key in keys:
        season.put_dest(key)
    return keys


def test_broken_sheet_and_manifest_protect_their_objects_and_alert(
    season, run_dag, s3_calls, stack, monkeypatch
):
    sns, sqs = stack.boto3_client("sns"), stack.boto3_client("sqs")
    topic = sns.create_topic(Name=f"{season.name}-alerts")["TopicArn"]
    queue = sqs.create_queue(QueueName=f"{season.name}-alerts")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    monkeypatch.setenv("AIRFLOW_VAR_ALERTS_SNS_TOPIC_ARN", topic)

    e01 = synced(season, "S01E01", range(1, 11))
    season.put_frames("S01E01", [11])
    season.put_csv_sheet("S01E01", [sheet_row("S01E01", n, unsup="Rare") for n in [*range(2, 11), 11]])
    e02 = synced(season, "S01E02", range(1, 6))
    e02_stale = expected_key("S01E02", 9, "Common")  # would be deleted if E02's sheet were readable
    season.put_dest(e02_stale)
    no_supervised = [c for c in HEADER if c != "SUPERVISED CLASSIFICATION"]
    season.put_csv_sheet(
        "S01E02", [["", "1", "TT_S01_E02_FRM-00-00-00-01", "Rare", "", ""]], header=no_supervised
    )
    season.put_manifest()
    s02 = synced(season, "S02E01", range(1, 4))
    season.s3.put_object(Bucket=season.bucket, Key="tuttle_twins/manifests/S02-episodes.json", Body=b"{oops")
    before = season.snapshot()

    run = run_dag(DAG_ID, conf=season.conf())

    assert run.state == "failed"
    after = season.snapshot()
    # E01 was synced: the dropped row's object is gone, the new row's object is there.
    assert e01[0] not in after
    assert expected_key("S01E01", 11, "Rare") in after
    # Nothing of the unreadable sheet's episode or the unreadable manifest's season was touched.
    for key in [*e02, e02_stale, *s02]:
        assert after[key] == before[key]
    assert s3_calls.count("DeleteObjects", season.bucket) == 1
    report = season.run_json(run, "report.json")
    assert report["episodes"]["S01E02"]["status"] == "FAILED"
    errors = " ".join(f["error"] for f in report["failures"])
    assert "SUPERVISED CLASSIFICATION" in errors
    assert "S02-episodes.json" in errors
    # The failure reached operations: a message on the queue subscribed to the alert topic.
    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=2).get(
        "Messages", []
    )
    bodies = [json.loads(m["Body"]) for m in messages]
    assert any(DAG_ID in b["Message"] and run.run_id in b["Message"] for b in bodies), bodies


def test_guard_in_a_dry_run_and_allow_mass_delete(season, run_dag, s3_calls):
    """The per-episode guard reports in a dry run without waiting; allow_mass_delete applies held changes.

    (A real run that holds something waits for a person: tests/dataset_sync/test_e2e_approval.py.)
    """
    keys = synced(season, "S01E01", range(1, 11))
    season.put_csv_sheet("S01E01", [sheet_row("S01E01", n, unsup="Rare") for n in range(1, 11)])
    season.put_manifest()
    # Someone truncates the sheet to its first 4 rows: 6 of 10 objects (60 %) would go.
    season.put_csv_sheet("S01E01", [sheet_row("S01E01", n, unsup="rare") for n in range(1, 5)])
    before = season.snapshot()

    s3_calls.clear()
    run = run_dag(DAG_ID, conf=season.conf(dry_run=True))
    assert run.state == "success"
    assert season.snapshot() == before
    assert s3_calls.mutations(season.bucket, layout.ML_PREFIX) == 0
    plan = season.run_json(run, "plan.json")
    [hold] = plan["held"]
    assert (hold["episode"], hold["deletes"], hold["existing"]) == ("S01E01", 6, 10)
    assert "deletes 6 of its 10 objects" in hold["reason"]
    assert "max_episode_delete_fraction=0.2" in hold["reason"]
    assert hold["examples"][0] in keys[4:]
    assert season.run_json(run, "report.json")["held"][0]["outcome"] == "dry run"
    held_csv = season.body(f"tuttle_twins/sync_runs/{run.run_id}/held_plan.csv").decode().splitlines()
    assert sorted(line.split(",")[5] for line in held_csv[1:]) == sorted(keys[4:])

    run = run_dag(DAG_ID, conf=season.conf(allow_mass_delete=True))
    assert run.state == "success"
    assert set(season.snapshot()) == set(keys[:4])
    assert season.run_json(run, "report.json")["held"][0]["outcome"] == "applied (allow_mass_delete)"


def test_tabs_links_foreign_buckets_and_a_listing_error(season, run_dag, stack, monkeypatch):
    """The seed's link form with a gid on the second tab; a gid naming no tab; a source outside the
    allowed buckets; one episode whose sources cannot be listed. Nothing is lost, the rest syncs."""
    from devstack.faultproxy import FaultProxy

    # E01: the frames sit on the spreadsheet's second tab, linked in the seed's own form.
    sheet_id = f"{season.name}-tabs"
    season.google.put_sheet(sheet_id, [HEADER, sheet_row("S01E01", 99, unsup="Epic")], tab="Notes")
    season.google.put_sheet(
        sheet_id, [HEADER, *[sheet_row("S01E01", n, unsup="Epic") for n in range(1, 6)]], tab="Frames"
    )
    gid = season.google.sheet_tabs(sheet_id)[1]["sheetId"]
    season.sheets["S01E01"] = f"https://docs.google.com/google_spreadsheets/d/{sheet_id}/edit#gid={gid}"
    season.put_frames("S01E01", range(1, 6))
    # E02: a gid that names no tab of its spreadsheet.
    e02 = synced(season, "S01E02", range(1, 4))
    season.google.put_sheet(
        f"{season.name}-e02", [HEADER, *[sheet_row("S01E02", n, unsup="Rare") for n in range(1, 4)]]
    )
    season.sheets["S01E02"] = f"https://docs.google.com/spreadsheets/d/{season.name}-e02/edit#gid=4242"
    # E03: two rows copy from a bucket that is not allowed; their existing objects must stay.
    e03 = synced(season, "S01E03", range(1, 5))
    foreign = "s3://someone-elses-bucket/frames/"
    season.put_csv_sheet(
        "S01E03",
        [sheet_row("S01E03", n, unsup="Rare", base=foreign if n <= 2 else "") for n in range(1, 5)],
    )
    # E04: sources in an allowed archive bucket whose listing fails (every request answered 503).
    broken = f"{season.name}-x-archive"
    season.s3.create_bucket(Bucket=broken)
    e04 = synced(season, "S01E04", range(1, 4))
    season.put_csv_sheet(
        "S01E04", [sheet_row("S01E04", n, unsup="Common", base=f"s3://{broken}/frames/") for n in range(1, 4)]
    )
    season.put_manifest()
    before = season.snapshot()

    with FaultProxy(stack.aws_endpoint, failure_rate=1.0, only_prefix=f"/{broken}") as proxy:
        conn = {
            "conn_type": "aws",
            "login": "testing",
            "password": "testing",
            "extra": {"region_name": "us-east-1", "endpoint_url": proxy.endpoint},
        }
        monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps(conn))
        run = run_dag(DAG_ID, conf=season.conf(source_buckets=[broken]))

    assert run.state == "failed"  # E02's gid and E04's listing are errors; everything else synced
    after = season.snapshot()
    # E01 was read from the tab its gid names (frames 1-5 Epic), not the first tab (frame 99).
    assert {expected_key("S01E01", n, "Epic") for n in range(1, 6)} <= set(after)
    assert expected_key("S01E01", 99, "Epic") not in after
    # E02, E03's foreign rows, E04: every object as it was.
    for key in [*e02, *e03, *e04]:
        assert after[key] == before[key]
    report = season.run_json(run, "report.json")
    errors = {f["episode"]: f["error"] for f in report["failures"]}
    assert "gid=4242 names no tab" in errors["S01E02"]
    assert f"listing s3://{broken}/frames/ failed" in errors["S01E04"]
    invalid = report["invalid_rows"]["S01E03"]
    assert invalid["reasons"] == {"source bucket not allowed": 2}
    assert invalid["examples"][0]["value"] == foreign
    assert report["episodes"]["S01E03"]["kept_invalid"] == 2
    assert proxy.failures > 0
