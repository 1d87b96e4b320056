"""Publish task bodies called directly against the stand-ins (no render, no DAG run): fast checks of
what each step writes, sends and logs."""

from __future__ import annotations

import logging

import pytest

from include.video_publishing import publish
from include.video_publishing.ledger import Ledger
from include.video_publishing.naming import object_identity, publish_run_id

SPEAKERS = [("Ada Lovelace", "ada@example.org"), ("Alan Turing", "alan@example.org")]


def _job(conference, uuid: str, key: str, etag: str, **more) -> dict:
    """The job ``inspect_upload`` would return for this upload (a rendered copy already in the library)."""
    config = conference.entry
    return {
        "conference": conference.slug,
        "bucket": conference.raw_bucket,
        "key": key,
        "etag": etag,
        "version_id": "",
        "uuid": uuid,
        "start": 1.0,
        "end": 9.0,
        "identity": object_identity(conference.raw_bucket, key, etag),
        "run_id": publish_run_id(uuid, conference.raw_bucket, key, etag),
        "library_bucket": conference.library_bucket,
        "library_key": f"{config['library_prefix']}{uuid}.mp4",
        "ledger": f"s3://{conference.ledger_bucket}/talkbot/",
        "title": "Steps",
        "description": "A talk.",
        "speakers": ["Ada Lovelace", "Alan Turing"],
        **more,
    }


def _rendered(conference, uuid: str) -> tuple[str, str]:
    """Upload a recording and put a copy where the render would have stored it; (key, etag)."""
    key = f"room9_{uuid}_000001_000009.mp4"
    etag = conference.upload(key, duration=4.0)
    s3 = conference.stack.boto3_client("s3")
    s3.copy_object(
        Bucket=conference.library_bucket,
        Key=f"{conference.slug}/{uuid}.mp4",
        CopySource={"Bucket": conference.raw_bucket, "Key": key},
    )
    return key, etag


@pytest.fixture
def youtube_conference(make_conference):
    return make_conference(
        talks=[{"UUID": "x", "TITLE": "Steps", "SPEAKERS": "Ada Lovelace"}],
        speakers=SPEAKERS,
        youtube={"playlist_id": None, "privacy_status": "unlisted", "chunk_size_kb": 256},
    )


def test_no_upload_session_uri_in_the_logs(youtube_conference, caplog):
    """A stored session is a bearer credential: neither a changed library copy nor an expired session
    may print it."""
    conference = youtube_conference
    uuid = "44444444-aaaa-4bbb-8ccc-000000000001"
    key, etag = _rendered(conference, uuid)
    job = _job(conference, uuid, key, etag)
    stale = "http://127.0.0.1:1/upload/youtube/v3/videos?uploadType=resumable&upload_id=secret0session"
    Ledger.for_job(job).update(
        uuid,
        job["identity"],
        lambda r: r.update(youtube={"upload_session": stale, "upload_source_etag": '"other bytes"'}),
    )
    with caplog.at_level(logging.INFO):
        published = publish.publish_video(job, "youtube")
    assert "starting a new one" in caplog.text
    assert "secret0session" not in caplog.text
    assert published["video_id"] in [u["id"] for u in conference.stack.google.youtube.uploads]

    # an expired session for the same bytes: YouTube answers 404, the retry starts a new session
    job2 = _job(conference, uuid, key, etag, identity="second-identity")
    source_etag = conference.stack.boto3_client("s3").head_object(
        Bucket=conference.library_bucket, Key=job["library_key"]
    )["ETag"]
    root = conference.stack.google.root_url.rstrip("/")
    gone = f"{root}/upload/youtube/v3/videos?uploadType=resumable&upload_id=secret1gone"
    Ledger.for_job(job2).update(
        uuid,
        job2["identity"],
        lambda r: r.update(youtube={"upload_session": gone, "upload_source_etag": source_etag}),
    )
    caplog.clear()
    with caplog.at_level(logging.INFO):
        publish.publish_video(job2, "youtube")
    assert "resumable session expired (HTTP 404)" in caplog.text
    sessions = list(conference.stack.google.youtube.sessions)
    for secret in ("secret0session", "secret1gone", *sessions):
        assert secret not in caplog.text
