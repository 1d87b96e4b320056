"""The captions branch without the stand-ins: the ``transcription`` config block, the sheet's optional
columns, and ``record_captions``'s promises (never raises, records and alerts a failure, a retry does not
send a destination twice, a destination not published yet leaves the captions partial)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowSkipException

from include.video_publishing import captions, talks
from include.video_publishing.config import Conference, ConfigError, TranscriptionSettings, parse_config

BASE = {
    "queue_url": "https://sqs.eu-west-1.amazonaws.com/123/talk-uploads",
    "conferences": {
        "ws26": {
            "raw_bucket": "raw",
            "library_bucket": "lib",
            "library_prefix": "ws26/",
            "talk_sheet": "s3://sheets/talks.csv",
            "speaker_sheet": "s3://sheets/speakers.csv",
            "publisher": ["youtube", "facebook", "library"],
        }
    },
}
UUID = "11111111-2222-4333-8444-555555555555"
TRANSCRIPT = {
    "language": "en-US",
    "engine": "local",
    "duration": 4.0,
    "details": {},
    "words": [
        {"text": w, "start": i * 0.5, "end": i * 0.5 + 0.4, "confidence": None}
        for i, w in enumerate(
            [
                "welcome",
                "to",
                "the",
                "conference",
                "about",
                "video",
                "publishing",
                "with",
                "apache",
                "airflow",
            ]
        )
    ],
}


def _config(transcription: Any) -> dict:
    config = copy.deepcopy(BASE)
    if transcription is not None:
        config["conferences"]["ws26"]["transcription"] = transcription
    return config


# -- config ------------------------------------------------------------------------------------------


def test_transcription_is_off_by_default_and_parsed_when_set():
    assert parse_config(_config(None)).conference("ws26").transcription == TranscriptionSettings()
    assert (
        not parse_config(_config({"engine": "local", "enabled": False}))
        .conference("ws26")
        .transcription.enabled
    )
    conference = parse_config(
        json.dumps(_config({"engine": "aws", "language": "de-DE", "output_bucket": "t", "poll_seconds": 5}))
    ).conference("ws26")
    assert conference.transcription.enabled
    assert conference.transcription.engine_settings() == {
        "engine": "aws",
        "language": "de-DE",
        "output_bucket": "t",
        "poll_seconds": 5,
    }
    assert parse_config(_config({"engine": "local"})).conference("ws26").transcription.language == "en-US"
    assert conference.captions_url(UUID) == f"https://lib.s3.amazonaws.com/ws26/{UUID}.vtt"


@pytest.mark.parametrize(
    ("transcription", "message"),
    [
        ({"language": "en-US"}, "conferences.ws26.transcription.engine: required field is missing"),
        ({"engine": "whisper"}, "conferences.ws26.transcription.engine: must be one of 'local', 'aws'"),
        ({"engine": "local", "language": "english!"}, "conferences.ws26.transcription.language: must be"),
        (
            {"engine": "local", "output_bucket": "x"},
            "transcription.output_bucket: not an option of the 'local'",
        ),
        ({"engine": "aws", "model_dir": "/m"}, "conferences.ws26.transcription.model_dir: not an option"),
        ({"engine": "aws", "poll_seconds": 0}, "conferences.ws26.transcription.poll_seconds: must be > 0"),
        ({"engine": "aws", "poll_seconds": "5"}, "transcription.poll_seconds: must be int or float"),
        ("local", "conferences.ws26.transcription: must be dict"),
    ],
)
def test_bad_transcription_config_names_the_field(transcription, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        parse_config(_config(transcription))


def test_job_name_is_deterministic_and_in_transcribes_alphabet():
    job = {"uuid": UUID, "identity": "raw/talks/a b.mp4@abc"}
    assert captions.job_name(job) == captions.job_name(dict(job))
    assert set(captions.job_name(job)) <= set("abcdefghijklmnopqrstuvwxyz0123456789-._")


# -- sheet ---------------------------------------------------------------------------------------------

CONFERENCE = Conference(
    slug="ws26",
    raw_bucket="raw",
    library_bucket="lib",
    talk_sheet="s3://s/t.csv",
    speaker_sheet="s3://s/s.csv",
)


def test_write_columns_writes_only_columns_the_sheet_has(monkeypatch):
    rows = {"now": [["UUID", "TITLE", "keywords"], ["other", "x", ""], [UUID, "T", ""]]}
    writes: list = []
    monkeypatch.setattr(talks, "read_rows", lambda location: rows["now"])
    monkeypatch.setattr(talks, "update_cells", lambda location, updates: writes.append(updates))

    written = talks.write_columns(CONFERENCE, UUID, {"CAPTIONS": "https://x.vtt", "KEYWORDS": "a, b"})

    assert written == ["KEYWORDS"]
    assert writes == [[(3, "KEYWORDS", "a, b")]]
    rows["now"] = [["UUID", "TITLE"], [UUID, "T"]]
    assert talks.write_columns(CONFERENCE, UUID, {"CAPTIONS": "https://x.vtt"}) == []
    assert len(writes) == 1  # nothing written when the sheet has none of the columns


# -- record_captions -----------------------------------------------------------------------------------


class FakeLedger:
    def __init__(self, record: dict) -> None:
        self.record = record

    def read(self, uuid: str, identity: str) -> dict:
        return copy.deepcopy(self.record)

    def update(self, uuid: str, identity: str, change) -> dict:
        change(self.record)
        return copy.deepcopy(self.record)


@pytest.fixture
def world(monkeypatch):
    """record_captions with its outside world replaced: config, ledger, S3, sheet, destinations, alerts."""
    config = parse_config(_config({"engine": "local"}))
    record = {
        "identity": "id1",
        "status": "published",
        "destinations": {
            "youtube": {"video_id": "yt1", "status": "published"},
            "facebook": {"video_id": None},
            "library": {"link": "https://lib/x.mp4", "status": "published"},
        },
    }
    state: dict[str, Any] = {"ledger": FakeLedger(record), "sent": [], "alerts": [], "puts": [], "cells": []}

    class S3:
        def put_object(self, **kwargs):
            state["puts"].append(kwargs)

    def send(destination, conference, video_id, *, vtt, tags, language):
        state["sent"].append((destination, video_id))
        if state.get("fail"):
            raise RuntimeError(state["fail"])
        return {"state": "done", "video_id": video_id, "caption_id": "cap1"}

    monkeypatch.setattr(captions, "load_config", lambda: config)
    monkeypatch.setattr(captions, "_ledger", lambda job: state["ledger"])
    monkeypatch.setattr(captions.s3, "client", lambda *a, **k: S3())
    monkeypatch.setattr(captions, "_send", send)
    monkeypatch.setattr(talks, "write_columns", lambda c, u, values: state["cells"].append(values))
    monkeypatch.setattr(
        "include.common.alerts.send_alert", lambda subject, body: state["alerts"].append(body) or True
    )
    return state


JOB = {
    "uuid": UUID,
    "identity": "id1",
    "conference": "ws26",
    "library_bucket": "lib",
    "title": "Airflow talk",
}


def test_record_captions_stores_vtt_sends_published_destinations_and_is_partial_until_all_are(world):
    entry = captions.record_captions(JOB, TRANSCRIPT)

    assert entry["state"] == "partial"  # facebook has no video yet
    assert "facebook" in entry["error"]
    assert world["sent"] == [("youtube", "yt1")]
    [put] = world["puts"]
    assert (put["Bucket"], put["Key"]) == ("lib", f"ws26/{UUID}.vtt")
    assert put["Body"].decode().startswith("WEBVTT")
    assert entry["vtt"] == f"https://lib.s3.amazonaws.com/ws26/{UUID}.vtt"
    assert world["cells"][-1] == {"CAPTIONS": entry["vtt"], "KEYWORDS": ", ".join(entry["tags"])}
    assert world["ledger"].record["metadata"]["tags"] == entry["tags"]

    # facebook published later: a retry sends only facebook, never YouTube again
    world["ledger"].record["destinations"]["facebook"] = {"video_id": "fb1", "status": "published"}
    entry = captions.record_captions(JOB, TRANSCRIPT)
    assert entry["state"] == "done"
    assert entry["error"] is None
    assert world["sent"] == [("youtube", "yt1"), ("facebook", "fb1")]
    assert world["alerts"] == []


def test_record_captions_records_and_alerts_failures_without_raising(world):
    world["ledger"].record["captions"] = {"state": "failed", "error": "transcribe: no German model"}
    entry = captions.record_captions(JOB, None)  # transcribe failed: no XCom
    assert (entry["state"], entry["error"]) == ("failed", "transcribe: no German model")
    assert UUID in world["alerts"][-1]

    world["fail"] = "YouTube said no"
    entry = captions.record_captions(JOB, TRANSCRIPT)
    assert entry["state"] == "failed"
    assert "YouTube said no" in entry["error"]
    assert len(world["alerts"]) == 2
    assert world["ledger"].record["status"] == "published"  # the publication is untouched


def test_record_captions_skips_when_transcription_is_off(world, monkeypatch):
    monkeypatch.setattr(captions, "load_config", lambda: parse_config(_config(None)))
    with pytest.raises(AirflowSkipException):
        captions.record_captions(JOB, TRANSCRIPT)
    with pytest.raises(AirflowSkipException):
        captions.transcription_plan(JOB)
    assert world["puts"] == []
    assert world["sent"] == []


def test_captions_branch_never_decides_the_run_state(dagbag):
    """Leaves decide a run's state: record_link must stay a leaf (a publish failure fails the run) and
    the captions branch must hang beside publishing, never in front of it."""
    dag = dagbag.get_dag("talkbot_publish_video")
    leaves = {t.task_id for t in dag.leaves}
    assert {"record_link", "record_captions", "record_failure"} == leaves
    transcribe = dag.get_task("transcribe")
    assert transcribe.pool == "transcribe"
    assert transcribe.upstream_task_ids == {"transcription_plan", "join_chunks"}
    assert not transcribe.get_flat_relative_ids(upstream=False) & {"publish_video", "notify_speakers"}
    record = dag.get_task("record_captions")
    assert record.trigger_rule == "all_done"
    assert record.upstream_task_ids == {"transcribe", "publish_video"}
    reconcile = dagbag.get_dag("talkbot_reconcile")
    assert reconcile.get_task("retry_captions").pool == "transcribe"


def test_transcribe_operator_records_a_failure_but_not_a_deferral(world, monkeypatch):
    """The engine's error is written to the ledger before Airflow retries; a deferral (Amazon Transcribe
    still working) is not a failure."""
    from airflow.sdk.exceptions import TaskDeferred

    from include.video_publishing.transcription.operator import TranscribeOperator

    plan = {
        "settings": {"engine": "local"},
        "bucket": "lib",
        "key": "k",
        "language": "de-DE",
        "job_name": "j",
    }
    operator = captions.TranscribeTalkOperator(task_id="transcribe", plan=plan, job=JOB)

    def defer(self, context):
        raise TaskDeferred(trigger=None, method_name="execute_complete")

    monkeypatch.setattr(TranscribeOperator, "execute", defer)
    with pytest.raises(TaskDeferred):
        operator.execute({})
    assert "captions" not in world["ledger"].record
    assert (operator.language, operator.key) == ("de-DE", "k")

    def broken(self, context):
        raise RuntimeError("no German model")

    monkeypatch.setattr(TranscribeOperator, "execute", broken)
    with pytest.raises(RuntimeError):
        operator.execute({})
    assert world["ledger"].record["captions"]["state"] == "failed"
    assert world["ledger"].record["captions"]["error"] == "transcribe: no German model"
