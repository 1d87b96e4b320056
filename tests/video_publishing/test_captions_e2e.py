"""End to end on the stand-ins with real ffmpeg and the local engine: a talk whose audio is real (synthetic)
speech is published to YouTube and Facebook and gets captions and keyword tags beside publishing; a
transcription failure leaves the publication alone, is recorded and alerted, and reconcile fixes it.
"""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import pytest
import webvtt

from include.video_publishing.media import ffmpeg_exe
from tests.video_publishing.conftest import PUBLISH, RECONCILE
from tests.video_publishing.test_transcription import SPEECH, SPOKEN, _words

SPEAKERS = [("Ada Lovelace", "ada@example.org")]
TITLE = "Publishing talks"
DESCRIPTION = "How a small team ships every recording."


@pytest.fixture(scope="module")
def speech_upload(tmp_path_factory) -> Path:
    """A camera-like recording (test pattern, H.264 + AAC stereo 48 kHz) whose audio is the speech."""
    path = tmp_path_factory.mktemp("speech-upload") / "speech_talk.mp4"
    subprocess.run(
        [
            ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", "-y",
            "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25", "-i", str(SPEECH),
            "-map", "0:v", "-map", "1:a", "-shortest", "-c:v", "libx264", "-preset", "ultrafast",
            "-pix_fmt", "yuv420p", "-g", "50", "-c:a", "aac", "-ar", "48000", "-ac", "2", str(path),
        ],
        check=True,
    )  # fmt: skip
    return path


def _conference(make_conference, uuid: str, language: str = "en-US"):
    return make_conference(
        talks=[{"UUID": uuid, "TITLE": TITLE, "DESCRIPTION": DESCRIPTION, "SPEAKERS": "Ada Lovelace"}],
        speakers=SPEAKERS,
        publisher=["youtube", "facebook"],
        extra_columns=["CAPTIONS", "KEYWORDS"],
        youtube={"playlist_id": None, "chunk_size_kb": 256, "tags": ["talkbot"]},
        fade_seconds=0,  # the speech starts at once; no fade may swallow "welcome"
        transcription={"engine": "local", "language": language},
    )


def _upload(conference, speech_upload: Path, uuid: str) -> str:
    key = f"room1_{uuid}_000000_000014.mp4"
    conference.stack.boto3_client("s3").upload_file(str(speech_upload), conference.raw_bucket, key)
    return key


def _assert_captioned(conference, uuid: str) -> dict:
    """Everything a user sees of the captions: library .vtt, YouTube track + tags, Facebook captions,
    sheet cells, ledger."""
    s3 = conference.stack.boto3_client("s3")
    vtt_key = f"{conference.slug}/{uuid}.vtt"
    vtt = s3.get_object(Bucket=conference.library_bucket, Key=vtt_key)["Body"].read().decode()
    document = webvtt.from_buffer(io.StringIO(vtt))
    heard = _words(" ".join(c.text for c in document.captions))
    assert len(heard & _words(SPOKEN)) >= 5, heard

    [record] = conference.ledger(uuid)
    yt_id = record["destinations"]["youtube"]["video_id"]
    fb_id = record["destinations"]["facebook"]["video_id"]
    google = conference.stack.google.youtube
    [track] = [c for c in google.captions if c["snippet"]["videoId"] == yt_id]  # captions.insert, once
    assert track["snippet"]["language"] == "en-US"
    assert webvtt.from_buffer(io.StringIO(track["content"])).captions
    video = next(u for u in google.uploads if u["id"] == yt_id)
    tags = video["snippet"]["tags"]
    assert tags[0] == "talkbot"
    assert _words(" ".join(tags)) & (_words(SPOKEN) - _words(f"{TITLE} {DESCRIPTION}")), tags
    assert video["snippet"]["title"] == TITLE  # videos.update kept the rest of the snippet
    [fb_caption] = conference.stack.facebook.store.videos[fb_id]["captions"]
    assert fb_caption["locale"] == "en_US"
    assert webvtt.from_srt(_srt_file(conference.workdir, fb_caption["srt"])).captions

    row = conference.talk(uuid)
    vtt_url = f"https://{conference.library_bucket}.s3.amazonaws.com/{vtt_key}"
    assert row["CAPTIONS"] == vtt_url
    assert row["KEYWORDS"] == ", ".join(tags)
    captions = record["captions"]
    assert (captions["state"], captions["vtt"], captions["tags"]) == ("done", vtt_url, tags)
    assert captions["destinations"]["youtube"]["caption_id"] == track["id"]
    assert captions["destinations"]["facebook"]["state"] == "done"
    assert record["metadata"]["tags"] == tags
    return record


def _srt_file(folder: Path, text: str) -> str:
    path = Path(folder) / "captions.srt"
    path.write_text(text)
    return str(path)


def test_speech_talk_gets_captions_and_keywords_on_youtube_and_facebook(
    make_conference, run_dag, task_states, speech_upload
):
    uuid = "77777777-aaaa-4bbb-8ccc-000000000001"
    conference = _conference(make_conference, uuid)
    key = _upload(conference, speech_upload, uuid)

    run = run_dag(PUBLISH, conf={"bucket": conference.raw_bucket, "key": key})

    states = task_states(run)
    assert run.state == "success", states
    assert (states["transcribe"], states["record_captions"], states["record_link"]) == (
        "success",
        "success",
        "success",
    )
    assert conference.talk(uuid)["STATUS"] == "published"
    _assert_captioned(conference, uuid)


def test_transcription_failure_keeps_the_publication_then_reconcile_retries_captions(
    make_conference, run_dag, task_states, speech_upload, alerts
):
    """The local engine has no German model: transcribe fails (and is retried), the run still succeeds
    with both videos published; the ledger says captions failed, an alert names the talk. With the
    language fixed, talkbot_reconcile's retry_captions adds the captions."""
    uuid = "77777777-aaaa-4bbb-8ccc-000000000002"
    conference = _conference(make_conference, uuid, language="de-DE")
    key = _upload(conference, speech_upload, uuid)

    run = run_dag(PUBLISH, conf={"bucket": conference.raw_bucket, "key": key})

    states = task_states(run)
    assert run.state == "success", states
    assert (states["transcribe"], states["record_captions"], states["record_failure"]) == (
        "failed",
        "success",
        "skipped",
    )
    row = conference.talk(uuid)
    assert row["STATUS"] == "published"
    assert (row["CAPTIONS"], row["KEYWORDS"]) == ("", "")
    [record] = conference.ledger(uuid)
    assert record["status"] == "published"
    assert record["captions"]["state"] == "failed"
    assert "English only" in record["captions"]["error"]
    assert [a for a in alerts() if uuid in a and "captions failed" in a.lower()]

    conference.entry["transcription"]["language"] = "en-US"
    conference.apply()
    reconcile = run_dag(RECONCILE, conf={"min_age_minutes": 0})

    assert task_states(reconcile)["retry_captions"] == "success"
    record = _assert_captioned(conference, uuid)
    assert record["captions"]["error"] is None
