"""Amazon Transcribe engine against moto's Transcribe over real HTTP.

moto runs the job lifecycle (QUEUED → IN_PROGRESS → COMPLETED, one step per GetTranscriptionJob) but
writes no transcript, so the test puts a result document, in Transcribe's format, exactly where the
finished job says it wrote it (``TranscriptFileUri``), then reads it back through the engine.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import pytest
import webvtt

from include.video_publishing.transcription import captions
from include.video_publishing.transcription.aws import (
    AmazonTranscribeEngine,
    TranscriptionJobTrigger,
    parse_result,
    result_location,
)
from include.video_publishing.transcription.engines import Media, Pending, TranscriptionFailed

SENTENCE = [
    ("Welcome", 0.04, 0.5),
    ("to", 0.5, 0.6),
    ("the", 0.6, 0.7),
    ("conference", 0.7, 1.4),
    (".", None, None),
]


def result_document(job_name: str) -> dict:
    """What Transcribe writes: the transcript text and timed items (punctuation without times)."""
    items = []
    for word, start, end in SENTENCE:
        if start is None:
            items.append({"type": "punctuation", "alternatives": [{"confidence": "0.0", "content": word}]})
        else:
            items.append(
                {
                    "type": "pronunciation",
                    "start_time": f"{start:.3f}",
                    "end_time": f"{end:.3f}",
                    "alternatives": [{"confidence": "0.98", "content": word}],
                }
            )
    return {
        "jobName": job_name,
        "accountId": "123456789012",
        "status": "COMPLETED",
        "results": {"transcripts": [{"transcript": "Welcome to the conference."}], "items": items},
    }


def first_event(trigger: TranscriptionJobTrigger) -> dict:
    async def run() -> dict:
        async for event in trigger.run():
            return event.payload
        raise AssertionError("the trigger ended without an event")

    return asyncio.run(run())


@pytest.fixture
def library(stack, unique_name):
    s3 = stack.boto3_client("s3")
    bucket = f"{unique_name}-library"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="ws26/talk.mp4", Body=b"not really a video; moto never reads it")
    return bucket


def test_job_lifecycle_trigger_and_result(stack, library, unique_name):
    engine = AmazonTranscribeEngine(poll_seconds=0.05)
    job_name = f"talkbot-{unique_name}"

    pending = engine.submit(Media(library, "ws26/talk.mp4"), "en-US", job_name)
    again = engine.submit(Media(library, "ws26/talk.mp4"), "en-US", job_name)  # a retried task: same job

    assert isinstance(pending, Pending)
    transcribe = stack.boto3_client("transcribe")
    jobs = transcribe.list_transcription_jobs(JobNameContains=job_name)["TranscriptionJobSummaries"]
    assert [j["TranscriptionJobName"] for j in jobs] == [job_name]
    assert again.job_name == job_name

    event = first_event(pending.trigger)
    assert event["status"] == "completed"
    assert event["job_name"] == job_name

    job = transcribe.get_transcription_job(TranscriptionJobName=job_name)["TranscriptionJob"]
    assert job["Media"]["MediaFileUri"] == f"s3://{library}/ws26/talk.mp4"
    bucket, key = result_location(job["Transcript"]["TranscriptFileUri"])
    assert (bucket, key) == (library, f"_talkbot/transcripts/{job_name}.json")
    stack.boto3_client("s3").put_object(Bucket=bucket, Key=key, Body=json.dumps(result_document(job_name)))

    transcript = engine.collect(event)

    assert transcript.text == "Welcome to the conference."
    assert transcript.language == "en-US"
    assert transcript.words[-1].start == 0.7
    assert transcript.words[-1].end == 1.4
    vtt = captions.to_webvtt(transcript)
    assert webvtt.from_string(vtt).captions[0].text == "Welcome to the conference."


def test_language_identification_per_talk(stack, library, unique_name):
    engine = AmazonTranscribeEngine(poll_seconds=0.05)
    pending = engine.submit(Media(library, "ws26/talk.mp4"), "auto", f"auto-{unique_name}")
    event = first_event(pending.trigger)
    assert event["status"] == "completed"
    assert event["language"] == "en-US"  # moto identifies the first option, en-US by default


def test_failed_or_timed_out_jobs_are_failures_with_the_reason():
    engine = AmazonTranscribeEngine()
    with pytest.raises(TranscriptionFailed, match="unsupported media"):
        engine.collect({"status": "failed", "job_name": "j", "failure_reason": "unsupported media"})
    with pytest.raises(TranscriptionFailed, match="after 60 s"):
        engine.collect({"status": "timeout", "job_name": "j", "failure_reason": "still QUEUED after 60 s"})


def test_timeout_event_when_the_job_outlives_the_wait(stack, library, unique_name):
    engine = AmazonTranscribeEngine(poll_seconds=0.05)
    pending = engine.submit(Media(library, "ws26/talk.mp4"), "en-US", f"slow-{unique_name}")
    trigger = TranscriptionJobTrigger(
        pending.job_name, poll_seconds=0.05, timeout_seconds=10, started_at=0.0
    )  # started long ago: the first poll already finds the deadline passed
    event = first_event(trigger)
    assert event["status"] == "timeout"


def test_trigger_is_rebuilt_from_its_serialized_form_in_a_fresh_interpreter():
    """What the triggerer does: import the classpath from ``include/`` and construct it from kwargs."""
    classpath, kwargs = TranscriptionJobTrigger("talkbot-x", poll_seconds=5, timeout_seconds=60).serialize()
    code = (
        "import importlib, json, sys\n"
        "module, _, name = sys.argv[1].rpartition('.')\n"
        "trigger = getattr(importlib.import_module(module), name)(**json.loads(sys.argv[2]))\n"
        "print(trigger.serialize()[1]['job_name'])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, classpath, json.dumps(kwargs)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == "talkbot-x"
    assert classpath == "include.video_publishing.transcription.aws.TranscriptionJobTrigger"


def test_result_locations_and_bad_job_names():
    assert result_location("https://s3.us-east-1.amazonaws.com/lib/_t/a%20b.json") == ("lib", "_t/a b.json")
    assert result_location("https://lib.s3.eu-west-1.amazonaws.com/x.json") == ("lib", "x.json")
    assert result_location("s3://lib/x.json") == ("lib", "x.json")
    with pytest.raises(ValueError, match="job_name"):
        AmazonTranscribeEngine().submit(Media("b", "k"), "en-US", "has spaces")
    assert parse_result({"results": {"items": []}}, "en-US").words == ()


def test_operator_defers_on_the_job_and_returns_the_transcript(stack, library, unique_name):
    """What Airflow does with the task: ``execute`` defers (``TaskDeferred``) → the triggerer rebuilds the
    trigger from its serialized form and runs it → the task resumes in the named method with the event."""
    from airflow.sdk.exceptions import TaskDeferred

    from include.video_publishing.transcription.operator import TranscribeOperator

    job_name = f"op-{unique_name}"
    stack.boto3_client("s3").put_object(
        Bucket=library,
        Key=f"_talkbot/transcripts/{job_name}.json",
        Body=json.dumps(result_document(job_name)),
    )
    operator = TranscribeOperator(
        task_id="transcribe_talk",
        settings={"engine": "aws", "poll_seconds": 0.05},
        bucket=library,
        key="ws26/talk.mp4",
        language="en-US",
        job_name=job_name,
    )
    with pytest.raises(TaskDeferred) as deferred:
        operator.execute(context={})
    classpath, kwargs = deferred.value.trigger.serialize()
    assert classpath == "include.video_publishing.transcription.aws.TranscriptionJobTrigger"
    event = first_event(TranscriptionJobTrigger(**kwargs))

    result = getattr(operator, deferred.value.method_name)(context={}, event=event)

    assert " ".join(w["text"] for w in result["words"]) == "Welcome to the conference."
    assert result["engine"] == "aws"


def test_operator_with_the_local_engine_returns_without_deferring(stack, library):
    """No speech in this object: the local engine's clear failure, raised in the worker (no deferral)."""
    from include.video_publishing.transcription.operator import TranscribeOperator

    operator = TranscribeOperator(
        task_id="transcribe_talk",
        settings={"engine": "local"},
        bucket=library,
        key="ws26/talk.mp4",
        language="en-US",
        job_name="unused",
    )
    with pytest.raises(TranscriptionFailed, match=r"cannot read talk\.mp4"):
        operator.execute(context={})
