"""End to end on the stand-ins: S3 upload → SQS → listener → publish run → library, YouTube, email, sheet.

Real moto S3/SQS over HTTP, the Google Sheets and YouTube stand-ins over HTTP, the aiosmtpd sink, real
ffmpeg. ``dag.test()`` cannot execute the queued run a TriggerDagRunOperator creates, so the tests assert
that run (deterministic id, conf) and then execute the publish DAG with that same conf.
"""

from __future__ import annotations

from include.video_publishing.media import audio_rms_db, frame_luma, probe
from include.video_publishing.naming import publish_run_id
from tests.video_publishing.conftest import LISTENER, PUBLISH

UUID = "0b6c3e1a-7d7e-4b8a-9d2f-1c2b3a4d5e6f"
TITLE = 'Exactly once: "ledgers" & <queues>'
SPEAKERS = [("Ada Lovelace", "ada@example.org"), ("Alan Turing", "alan@example.org"), ("Grace Hopper", "")]


def test_upload_to_published_exactly_once(make_conference, run_dag, clear_and_retry, dag_runs, task_states):
    conference = make_conference(
        talks=[
            {
                "UUID": UUID,
                "TITLE": TITLE,
                "DESCRIPTION": "Why at-least-once delivery needs idempotent tasks.",
                "SPEAKERS": "Ada Lovelace, Alan Turing; Grace Hopper",
                "NOTES": "keep me",
            },
            {"UUID": "other-talk", "TITLE": "Another", "SPEAKERS": "Ada Lovelace", "STATUS": "untouched"},
        ],
        speakers=SPEAKERS,
        google=True,
    )
    key = f"day1/main hall_{UUID}_000002_000014.mp4"  # a 12 s cut of a 20 s recording
    etag = conference.upload(key)
    expected_run_id = publish_run_id(UUID, conference.raw_bucket, key, etag)

    # --- listener: S3 notification → SQS → one queued publish run, messages deleted afterwards
    listener = run_dag(LISTENER)
    assert listener.state == "success", task_states(listener)
    runs = dag_runs(PUBLISH)
    assert expected_run_id in runs
    conf = runs[expected_run_id][1]
    # plus S3's event sequencer when the notification has one (the stand-in's has none)
    assert {k: v for k, v in conf.items() if k != "sequencer"} == {
        "bucket": conference.raw_bucket,
        "key": key,
        "etag": etag,
        "version_id": "",
    }
    assert conference.queue_depth() == 0
    assert _map_labels(listener, "trigger_publish") == [key]

    # --- publish: the queued run's conf, executed
    publish = run_dag(PUBLISH, conf=runs[expected_run_id][1])
    assert publish.state == "success", task_states(publish)

    # library object: right duration, dark first/last frames, quiet audio ends, bright loud middle
    s3 = conference.stack.boto3_client("s3")
    library_key = f"{conference.slug}/{UUID}.mp4"
    video = conference.workdir / "library.mp4"
    s3.download_file(conference.library_bucket, library_key, str(video))
    info = probe(video)
    assert abs(info.duration - 12.0) <= 0.1
    assert frame_luma(video, 0.0) < 20
    assert frame_luma(video, info.duration - 0.05) < 20
    assert frame_luma(video, 6.0) > 60
    assert audio_rms_db(video, 0.0, 0.2) < audio_rms_db(video, 5.0, 1.0) - 20
    assert audio_rms_db(video, info.duration - 0.2, 0.2) < audio_rms_db(video, 5.0, 1.0) - 20

    # YouTube: one upload with speakers in the description, then the playlist insert
    [upload] = conference.youtube_uploads(TITLE.replace("<", "‹").replace(">", "›"))
    assert upload["snippet"]["description"] == (
        "Why at-least-once delivery needs idempotent tasks.\n\n"
        "Speakers: Ada Lovelace, Alan Turing and Grace Hopper."
    )
    assert upload["status"]["privacyStatus"] == "unlisted"
    assert (
        upload["size"] == s3.head_object(Bucket=conference.library_bucket, Key=library_key)["ContentLength"]
    )
    playlist = [
        p
        for p in conference.stack.google.youtube.playlist_items
        if p["snippet"]["resourceId"]["videoId"] == upload["id"]
    ]
    assert [p["snippet"]["playlistId"] for p in playlist] == ["PLtalkbotdemo"]
    link = f"https://www.youtube.com/watch?v={upload['id']}"

    # emails: one per speaker with an address, with the link; the speaker without one is recorded
    for address in ("ada@example.org", "alan@example.org"):
        [mail] = conference.emails_to(address)
        assert link in mail.get_body(("plain",)).get_content()
        assert "&lt;queues&gt;" in mail.get_body(("html",)).get_content()
    [record] = conference.ledger(UUID)
    assert record["missing_emails"] == ["Grace Hopper"]
    assert {a: e["state"] for a, e in record["emails"].items()} == {
        "ada@example.org": "sent",
        "alan@example.org": "sent",
    }
    assert record["status"] == "published"
    assert record["link"] == link
    assert record["destinations"]["youtube"]["video_id"] == upload["id"]
    assert record["run_id"] == expected_run_id

    # sheet: LINK and STATUS written, extra columns and other rows untouched
    row = conference.talk(UUID)
    assert (row["STATUS"], row["LINK"], row["NOTES"]) == ("published", link, "keep me")
    assert conference.talk("other-talk")["STATUS"] == "untouched"

    # --- duplicate delivery: the same event again → the listener skips the existing run
    sqs = conference.stack.boto3_client("sqs")
    sqs.send_message(QueueUrl=conference.queue_url, MessageBody=_event(conference.raw_bucket, key, etag))
    again = run_dag(LISTENER)
    assert again.state == "success"
    assert list(dag_runs(PUBLISH)).count(expected_run_id) == 1
    assert [s for t, s in task_states(again).items() if t.startswith("trigger_publish")] == ["skipped"]
    assert conference.queue_depth() == 0

    # --- a second execution of the publish DAG for the same object version, and a clear-and-retry of
    # every task of the first run (same logical date → same run, all tasks cleared and re-run)
    second = run_dag(PUBLISH, conf=runs[expected_run_id][1])
    assert second.state == "success", task_states(second)
    retried = clear_and_retry(publish, runs[expected_run_id][1])
    assert retried.run_id == publish.run_id
    assert retried.state == "success", task_states(retried)
    assert len(conference.youtube_uploads(upload["snippet"]["title"])) == 1
    assert (
        len(
            [
                p
                for p in conference.stack.google.youtube.playlist_items
                if p["snippet"]["resourceId"]["videoId"] == upload["id"]
            ]
        )
        == 1
    )
    for address in ("ada@example.org", "alan@example.org"):
        assert len(conference.emails_to(address)) == 1
    assert conference.talk(UUID)["STATUS"] == "published"


def _event(bucket: str, key: str, etag: str) -> str:
    import json
    from urllib.parse import quote_plus

    record = {
        "eventSource": "aws:s3",
        "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": bucket}, "object": {"key": quote_plus(key), "eTag": etag, "size": 1}},
    }
    return json.dumps({"Records": [record]})


def _map_labels(dag_run, task_id: str) -> list[str]:
    """The labels the UI shows for a mapped task's instances (``map_index_template``)."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        tis = session.query(TaskInstance).filter(
            TaskInstance.dag_id == dag_run.dag_id,
            TaskInstance.run_id == dag_run.run_id,
            TaskInstance.task_id == task_id,
        )
        return [ti.rendered_map_index for ti in tis]
