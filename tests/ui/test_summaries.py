"""The summaries the views read: kept by the ledger and the sync report, idempotent, healed by a rebuild."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

from include.ui_views import datasets, summaries, talks
from include.video_publishing.config import parse_config
from include.video_publishing.ledger import Ledger
from tests.ui import seed

VENDOR = Path(__file__).resolve().parents[2] / "plugins" / "media_views" / "static" / "vendor"


def _summary(s3, bucket: str, slug: str) -> tuple[bytes, dict]:
    body = s3.get_object(Bucket=bucket, Key=f"_talkbot/summaries/{slug}.json")["Body"].read()
    return body, json.loads(body)


def test_ledger_writes_keep_the_conference_summary(stack, s3, unique_name):
    s3.create_bucket(Bucket=unique_name)
    ledger = Ledger(unique_name, client=s3)

    def processing(record):
        record.update(conference="c1", status="processing", youtube={"upload_session": "https://u/secret"})

    stored = ledger.update("talk-1", "id1", processing)
    body, summary = _summary(s3, unique_name, "c1")
    entry = summary["records"]["id1"]
    assert entry["status"] == "processing"
    assert entry["youtube"] == {}  # the upload session URI is never copied where the UI reads
    assert entry["history"] == stored["history"]

    summaries.note_ledger_record(ledger, stored)  # a retried or duplicated call changes nothing
    assert _summary(s3, unique_name, "c1")[0] == body

    older = {**stored, "status": "uploaded", "updated_at": "2000-01-01T00:00:00+00:00"}
    summaries.note_ledger_record(ledger, older)  # a slow writer cannot put an older state back
    assert _summary(s3, unique_name, "c1")[1]["records"]["id1"]["status"] == "processing"

    ledger.update("talk-2", "id2", lambda r: r.update(conference="c2", status="failed"))
    assert set(_summary(s3, unique_name, "c1")[1]["records"]) == {"id1"}
    assert set(_summary(s3, unique_name, "c2")[1]["records"]) == {"id2"}


def test_a_missing_talk_summary_is_rebuilt_from_the_ledger(stack, s3, tmp_path, unique_name):
    seeded = seed.seed_talks(stack, tmp_path, unique_name)
    bucket, key = seeded.ledger.bucket, f"{seeded.ledger.prefix}summaries/{unique_name}.json"
    before = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    assert len(before["records"]) == 4  # kept by Ledger.update in the private location
    s3.delete_object(Bucket=bucket, Key=key)

    config = parse_config(seeded.config)
    view = talks.conference_view(s3, summaries.SummaryCache(), talks.SheetCache(), config, unique_name)

    after = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    assert after["records"] == {  # the rebuild also reads the record still in the old location
        **before["records"],
        **{i: r for i, r in after["records"].items() if r["status"] == "superseded"},
    }
    assert len(after["records"]) == 5
    assert {row.uuid: row.status for row in view.rows} == seeded.statuses
    published = next(r for r in view.rows if r.uuid == seeded.published_uuid)
    assert [v["status"] for v in published.versions] == ["published", "superseded"]
    assert [s for s, _ in published.reached] == ["uploaded", "processing", "processed", "published"]


def test_sync_report_keeps_the_dataset_summary(stack, s3, unique_name):
    """Through the real ``write_report``: with no plan it writes the report (and the summary) and fails."""
    from airflow.sdk.exceptions import AirflowFailException

    from include.dataset_sync import steps

    s3.create_bucket(Bucket=unique_name)
    for key in seed.dataset_keys({"S01E01": 20, "S02E01": 10}):
        s3.put_object(Bucket=unique_name, Key=key, Body=b"jpg")
    with pytest.raises(AirflowFailException, match="no plan"):
        steps.write_report([], {"bucket": unique_name}, "manual__one")
    body = s3.get_object(Bucket=unique_name, Key=summaries.DATASET_SUMMARY_KEY)["Body"].read()
    summary = json.loads(body)
    assert [r["run_id"] for r in summary["runs"]] == ["manual__one"]
    assert datasets.run_outcome(summary["runs"][0]) == "problems"
    rows = datasets.composition_rows(summary)
    assert datasets.composition_totals(rows) == {
        "frames": 30,
        "per_split": {"train": 21, "validation": 6, "test": 3},
        "episodes": 2,
        "seasons": 2,
    }

    report = json.loads(s3.get_object(Bucket=unique_name, Key="tuttle_twins/sync_runs/manual__one/report.json")["Body"].read())  # fmt: skip
    summaries.note_sync_report(s3, unique_name, report)  # replayed: still one entry for the run
    assert [r["run_id"] for r in json.loads(s3.get_object(Bucket=unique_name, Key=summaries.DATASET_SUMMARY_KEY)["Body"].read())["runs"]] == ["manual__one"]  # fmt: skip

    s3.delete_object(Bucket=unique_name, Key=summaries.DATASET_SUMMARY_KEY)
    healed = datasets.dataset_summary(s3, summaries.SummaryCache(), unique_name)
    assert [r["run_id"] for r in healed["runs"]] == ["manual__one"]
    assert healed["composition"] == summary["composition"]


def test_held_and_invalid_rows_are_counted_per_episode():
    report = seed.sync_report(
        "r1",
        {"S01E01": {"copied": 5, "invalid": 1}, "S01E02": {"deleted": 2}},
        held=[
            {
                "episode": None,
                "season": "S01",
                "reason": "manifest unreadable",
                "deletes": 7,
                "existing": 90,
                "outcome": "not asked",
            }
        ],
        invalid_rows={"S01E01": {"count": 2, "reasons": {"no class": 2}, "examples": []}},
    )
    entry = summaries.run_entry(report, "2026-11-23T00:00:00+00:00")
    assert entry["episodes"] == {
        "S01E01": {"copied": 5, "invalid": 2, "held": 7},
        "S01E02": {"deleted": 2, "held": 7},
    }
    assert entry["held"] == [
        {
            "target": "S01",
            "reason": "manifest unreadable",
            "deletes": 7,
            "existing": 90,
            "outcome": "not asked",
        }
    ]


def test_vendored_chart_libraries_match_their_recorded_versions():
    recorded = dict(re.findall(r"\| `([\w.-]+\.js)` \|[^|]+\|[^|]+\| `([0-9a-f]{64})` \|", (VENDOR / "VERSIONS.md").read_text()))  # fmt: skip
    assert set(recorded) == {"vega.min.js", "vega-lite.min.js", "vega-embed.min.js"}
    for name, digest in recorded.items():
        assert hashlib.sha256((VENDOR / name).read_bytes()).hexdigest() == digest, name
    import altair

    assert altair.VEGALITE_VERSION in (VENDOR / "VERSIONS.md").read_text()


def test_a_conference_without_uploads_gets_an_empty_summary_once(stack, s3, unique_name):
    s3.create_bucket(Bucket=unique_name)
    assert summaries.rebuild_talk_summaries(Ledger(unique_name, client=s3), ensure=["new"]) == {"new": 0}
    _, summary = _summary(s3, unique_name, "new")
    assert summary["records"] == {}
    cache = summaries.SummaryCache()
    assert cache.read(s3, unique_name, "_talkbot/summaries/new.json") == summary
    assert cache.read(s3, unique_name, "_talkbot/summaries/new.json") is cache.read(s3, unique_name, "_talkbot/summaries/new.json")  # fmt: skip
