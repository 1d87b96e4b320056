"""End to end on the stand-ins, the other paths: library publisher, excluded talks, bad names and bad
cuts, YouTube quota waits, a crash mid-upload, and the reconcile DAG picking up a lost message.

Talk sheets here are CSV files in (moto) S3; the main test uses the Google Sheets stand-in.
"""

from __future__ import annotations

import json

import pytest

from devstack.net import free_port
from include.video_publishing.media import probe
from include.video_publishing.naming import publish_run_id
from tests.video_publishing.conftest import LISTENER, PUBLISH, RECONCILE

SPEAKERS = [("Ada Lovelace", "ada@example.org"), ("Alan Turing", "alan@example.org")]
PUBLISHED = "11111111-aaaa-4bbb-8ccc-000000000001"
EXCLUDED = "11111111-aaaa-4bbb-8ccc-000000000002"
TOO_LONG = "11111111-aaaa-4bbb-8ccc-000000000003"


def _talk(uuid: str, title: str, **more: str) -> dict[str, str]:
    return {"UUID": uuid, "TITLE": title, "DESCRIPTION": "A talk.", "SPEAKERS": "Ada Lovelace", **more}


def test_library_publisher_excluded_and_bad_input(make_conference, run_dag, dag_runs, task_states):
    conference = make_conference(
        talks=[
            _talk(PUBLISHED, "Library only"),
            _talk(EXCLUDED, "Not for publishing", EXCLUDE="yes"),
            _talk(TOO_LONG, "Cut beyond the end"),
        ],
        speakers=SPEAKERS,
        publisher="library",
        branding=True,
    )
    s3 = conference.stack.boto3_client("s3")
    good = f"room2_{PUBLISHED}_000001_000009.mp4"
    excluded = f"room2_{EXCLUDED}_000001_000009.mp4"
    too_long = f"room2_{TOO_LONG}_000005_000100.mp4"  # ends at 60 s; the recording lasts 20 s
    unknown = "room2_99999999-0000-4000-8000-000000000000_000001_000009.mp4"
    bad_name = "room2_keynote_final.mp4"
    for key in (good, excluded, too_long, unknown, bad_name):
        conference.upload(key)
    s3.put_object(Bucket=conference.raw_bucket, Key="notes.txt", Body=b"not a video")

    # listener: four conforming uploads triggered, the bad name recorded, the text file ignored
    listener = run_dag(LISTENER)
    assert listener.state == "success", task_states(listener)
    triggered = {
        conf["key"]
        for run_id, (_, conf) in dag_runs(PUBLISH).items()
        if conf.get("bucket") == conference.raw_bucket
    }
    assert triggered == {good, excluded, too_long, unknown}
    assert conference.queue_depth() == 0
    [note] = conference.rejected()
    assert note["key"] == bad_name
    assert "expected <anything>_<uuid>_<HHMMSS>_<HHMMSS>.mp4" in note["reason"]

    # library publisher, triggered by hand without an ETag: link is the library URL; the 2 s sting from
    # the config is prepended to the 8 s cut
    run = run_dag(PUBLISH, conf={"bucket": conference.raw_bucket, "key": good})
    assert run.state == "success", task_states(run)
    video = conference.workdir / "branded.mp4"
    s3.download_file(conference.library_bucket, f"{conference.slug}/{PUBLISHED}.mp4", str(video))
    assert abs(probe(video).duration - 10.0) <= 0.1
    link = f"https://{conference.library_bucket}.s3.amazonaws.com/{conference.slug}/{PUBLISHED}.mp4"
    row = conference.talk(PUBLISHED)
    assert (row["STATUS"], row["LINK"]) == ("published", link)
    [mail] = conference.emails_to("ada@example.org")
    assert link in mail.get_body(("plain",)).get_content()
    # nothing of the ledger (speaker addresses, sessions) in the library bucket, which is linked publicly
    assert "Contents" not in s3.list_objects_v2(Bucket=conference.library_bucket, Prefix="_talkbot/")
    assert conference.stack.google.youtube.uploads == [] or all(
        u["snippet"]["title"] != "Library only" for u in conference.stack.google.youtube.uploads
    )

    # excluded: run ends with everything skipped, STATUS=excluded, nothing rendered or sent
    run = run_dag(PUBLISH, conf={"bucket": conference.raw_bucket, "key": excluded})
    assert run.state == "success"
    assert set(task_states(run).values()) == {"skipped"}
    assert conference.talk(EXCLUDED)["STATUS"] == "excluded"
    assert conference.ledger(EXCLUDED)[0]["status"] == "excluded"
    assert "Contents" not in s3.list_objects_v2(
        Bucket=conference.library_bucket, Prefix=f"{conference.slug}/{EXCLUDED}"
    )

    # a cut beyond the end of the recording: failed without retries, reason in ledger, STATUS=failed
    run = run_dag(PUBLISH, conf={"bucket": conference.raw_bucket, "key": too_long})
    assert run.state == "failed"
    states = task_states(run)
    assert states["render_video"] == "failed"
    assert states["record_failure"] == "success"
    assert states["record_link"] == "upstream_failed"
    [record] = conference.ledger(TOO_LONG)
    assert record["status"] == "failed"
    assert record["last_error"] == "render: end 60.000 s is beyond the end of the recording (20.000 s)"
    assert conference.talk(TOO_LONG)["STATUS"] == "failed"

    # unknown uuid and a bad name triggered by hand: inspect fails with the reason, nothing else runs
    run = run_dag(PUBLISH, conf={"bucket": conference.raw_bucket, "key": unknown})
    assert run.state == "failed"
    assert task_states(run)["inspect_upload"] == "failed"
    [record] = conference.ledger("99999999-0000-4000-8000-000000000000")
    assert "is not in the talk sheet" in record["last_error"]
    run = run_dag(PUBLISH, conf={"bucket": conference.raw_bucket, "key": bad_name})
    assert run.state == "failed"
    assert task_states(run)["inspect_upload"] == "failed"
    # only the one published talk was emailed
    assert len(conference.emails_to("ada@example.org")) == 1


def test_quota_wait_then_mail_outage_then_clear_and_retry(
    make_conference, run_dag, clear_and_retry, task_states, monkeypatch
):
    """YouTube answers quotaExceeded once (the publish task defers, then uploads); the SMTP server is down
    (notify fails, the talk is recorded failed); once it is back, a clear-and-retry of the whole run sends
    each email once, uploads nothing again and ends published."""
    uuid = "22222222-aaaa-4bbb-8ccc-000000000001"
    conference = make_conference(
        talks=[_talk(uuid, "Quota day", SPEAKERS="Ada Lovelace; Alan Turing")],
        speakers=SPEAKERS,
        youtube={"playlist_id": "PLquota", "privacy_status": "private", "quota_wait_seconds": 2},
    )
    key = f"room3_{uuid}_000001_000009.mp4"
    conference.upload(key)
    conference.stack.google.youtube.fail_next_uploads(1, reason="quotaExceeded")
    smtp_down = {
        "conn_type": "smtp",
        "host": "127.0.0.1",
        "port": free_port(),
        "extra": {"disable_ssl": True, "disable_tls": True},
    }
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", json.dumps(smtp_down))
    conf = {"bucket": conference.raw_bucket, "key": key}

    first = run_dag(PUBLISH, conf=conf)

    assert first.state == "failed"
    states = task_states(first)
    assert (states["publish_video[0]"], states["notify_speakers"]) == ("success", "failed")
    [upload] = conference.youtube_uploads("Quota day")
    assert upload["status"]["privacyStatus"] == "private"
    [record] = conference.ledger(uuid)
    assert [w["reason"] for w in record["quota_waits"]] == ["quotaExceeded"]
    assert record["destinations"]["youtube"]["video_id"] == upload["id"]
    assert record["status"] == "failed"
    assert record["last_error"].startswith("notify: ")
    assert record.get("emails", {}) == {}
    assert conference.talk(uuid)["STATUS"] == "failed"

    monkeypatch.undo()  # the mail server is reachable again
    retried = clear_and_retry(first, conf)

    assert retried.run_id == first.run_id
    assert retried.state == "success", task_states(retried)
    assert len(conference.youtube_uploads("Quota day")) == 1
    for address in ("ada@example.org", "alan@example.org"):
        [mail] = conference.emails_to(address)
        assert f"https://www.youtube.com/watch?v={upload['id']}" in mail.get_body(("plain",)).get_content()
    row = conference.talk(uuid)
    assert (row["STATUS"], row["LINK"]) == ("published", f"https://www.youtube.com/watch?v={upload['id']}")


class Crash(Exception):
    """A worker dying in the middle of an upload."""


@pytest.mark.usefixtures("stack")
def test_youtube_upload_resumes_after_a_crash_and_never_duplicates(tmp_path, stack):
    from devstack.media import make_talk_video
    from include.video_publishing import youtube

    path = make_talk_video(tmp_path / "talk.mp4", duration=8.0, size="320x180")
    size = path.stat().st_size
    assert size > 2 * 256 * 1024, "the file must span several chunks"
    client = youtube.build_client("youtube_default")
    metadata = youtube.VideoMetadata(title="Crash test", description="d")
    sessions: list[str] = []

    def crash_after_first_chunk(done: int, total: int) -> None:
        raise Crash(f"died at {done}/{total}")

    with pytest.raises(Crash):
        youtube.upload_video(
            client, path, metadata, chunk_size=256 * 1024, session_uri=None,
            on_session=sessions.append, progress=crash_after_first_chunk,
        )  # fmt: skip
    assert len(sessions) == 1  # stored before any byte was sent
    assert [u for u in stack.google.youtube.uploads if u["snippet"]["title"] == "Crash test"] == []

    video_id = youtube.upload_video(
        client, path, metadata, chunk_size=256 * 1024, session_uri=sessions[0], on_session=sessions.append
    )
    [upload] = [u for u in stack.google.youtube.uploads if u["snippet"]["title"] == "Crash test"]
    assert upload["id"] == video_id
    assert upload["path"].read_bytes() == path.read_bytes()

    # a crash after the last chunk, before the id was recorded: the retry gets the same video back
    again = youtube.upload_video(
        client, path, metadata, chunk_size=256 * 1024, session_uri=sessions[0], on_session=sessions.append
    )
    assert again == video_id
    assert len([u for u in stack.google.youtube.uploads if u["snippet"]["title"] == "Crash test"]) == 1
    assert len(sessions) == 1


def test_reconcile_triggers_uploads_whose_message_was_lost(make_conference, run_dag, dag_runs, task_states):
    done, lost = "33333333-aaaa-4bbb-8ccc-000000000001", "33333333-aaaa-4bbb-8ccc-000000000002"
    conference = make_conference(
        talks=[_talk(done, "Already out"), _talk(lost, "Lost message")],
        speakers=SPEAKERS,
        publisher="library",
    )
    done_key, lost_key = f"room4_{done}_000001_000009.mp4", f"room4_{lost}_000001_000009.mp4"
    conference.upload(done_key)
    assert run_dag(PUBLISH, conf={"bucket": conference.raw_bucket, "key": done_key}).state == "success"
    lost_etag = conference.upload(lost_key)
    conference.upload("room4_not-a-talk.mp4")
    conference.stack.boto3_client("sqs").purge_queue(QueueUrl=conference.queue_url)  # the messages are lost
    expected = publish_run_id(lost, conference.raw_bucket, lost_key, lost_etag)

    dry = run_dag(RECONCILE, conf={"dry_run": True, "min_age_minutes": 0})
    assert dry.state == "success", task_states(dry)
    assert expected not in dag_runs(PUBLISH)

    run = run_dag(RECONCILE, conf={"dry_run": False, "min_age_minutes": 0})
    assert run.state == "success", task_states(run)
    mine = {
        rid: conf
        for rid, (_, conf) in dag_runs(PUBLISH).items()
        if conf.get("bucket") == conference.raw_bucket
    }
    reconciled = {rid for rid in mine if rid.startswith("talk__")}
    assert reconciled == {expected}
    assert mine[expected]["key"] == lost_key

    # a second reconcile finds the run already there and skips it
    again = run_dag(RECONCILE, conf={"dry_run": False, "min_age_minutes": 0})
    assert again.state == "success"
    assert [s for t, s in task_states(again).items() if t.startswith("trigger_publish")] == ["skipped"]


def test_listener_batch_without_videos_is_recorded_and_deleted(
    make_conference, run_dag, dag_runs, task_states
):
    conference = make_conference(talks=[], speakers=SPEAKERS, publisher="library")
    s3, sqs = conference.stack.boto3_client("s3"), conference.stack.boto3_client("sqs")
    s3.put_object(Bucket=conference.raw_bucket, Key="slides/deck.pdf", Body=b"%PDF")
    sqs.send_message(QueueUrl=conference.queue_url, MessageBody="{not json")
    before = set(dag_runs(PUBLISH))

    run = run_dag(LISTENER)

    assert run.state == "success", task_states(run)
    states = task_states(run)
    assert states["trigger_publish"] == "skipped"  # nothing to map over
    assert states["delete_messages"] == "success"
    assert conference.queue_depth() == 0  # the test event, the PDF upload and the malformed message
    assert set(dag_runs(PUBLISH)) == before
