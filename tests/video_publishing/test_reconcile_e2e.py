"""End to end on the stand-ins: a talk published by ``talkbot_publish_video`` (real ffmpeg), then the sheet
edited and ``talkbot_reconcile`` run with ``dag.test()`` (``run_dag``) — what a person sees on YouTube, the
Page, the sheet and in the mail sink after each run."""

from __future__ import annotations

from devstack import demo_talkbot
from tests.video_publishing.conftest import PUBLISH, RECONCILE

SPEAKERS = [("Ada Lovelace", "ada@example.org")]
TAGS = ["pycon", "talks"]


def _edit(conference, uuid: str, **cells: str) -> None:
    s3 = conference.stack.boto3_client("s3")
    rows = demo_talkbot.read_csv(s3, conference.entry["talk_sheet"])
    header = rows[0]
    for row in rows[1:]:
        if row[0] == uuid:
            for name, value in cells.items():
                row[header.index(name)] = value
    bucket, _, key = conference.entry["talk_sheet"][len("s3://") :].partition("/")
    demo_talkbot.put_csv(s3, bucket, key, rows)


def test_reconcile_follows_the_sheet_after_publishing(
    make_conference, run_dag, task_states, small_facebook_chunks
):
    """Title edit → new title on YouTube (tags kept) and the Page, no upload, no email; a second run calls
    nothing; EXCLUDE → private/hidden, STATUS excluded, library copy kept; a talk without a recording →
    STATUS ``not uploaded``."""
    uuid = "88888888-aaaa-4bbb-8ccc-000000000001"
    missing = "88888888-aaaa-4bbb-8ccc-000000000002"
    conference = make_conference(
        talks=[
            {"UUID": uuid, "TITLE": "First title", "DESCRIPTION": "A talk.", "SPEAKERS": "Ada Lovelace"},
            {"UUID": missing, "TITLE": "Never recorded", "SPEAKERS": "Ada Lovelace"},
        ],
        speakers=SPEAKERS,
        publisher=["youtube", "facebook"],
        youtube={"playlist_id": None, "privacy_status": "unlisted", "chunk_size_kb": 256, "tags": TAGS},
    )
    stack = conference.stack
    youtube, facebook = stack.google.youtube, stack.facebook.store
    key = f"room3_{uuid}_000001_000008.mp4"
    conference.upload(key, duration=9.0)
    published = run_dag(PUBLISH, conf={"bucket": conference.raw_bucket, "key": key})
    assert published.state == "success", task_states(published)
    [upload] = conference.youtube_uploads("First title")
    [record] = conference.ledger(uuid)
    fb_id = record["destinations"]["facebook"]["video_id"]
    uploads, fb_starts = (
        len(youtube.uploads),
        len([c for c in facebook.calls if c["params"].get("upload_phase") == "start"]),
    )
    mails = len(conference.emails_to("ada@example.org"))

    _edit(conference, uuid, TITLE="Second title")
    run = run_dag(RECONCILE)

    assert run.state == "success", task_states(run)
    assert task_states(run)["sync_talk_sheets"] == "success"
    [video] = [u for u in youtube.uploads if u["id"] == upload["id"]]
    assert video["snippet"]["title"] == "Second title"
    assert video["snippet"]["tags"] == TAGS
    assert video["snippet"]["description"] == "A talk.\n\nSpeakers: Ada Lovelace."
    assert facebook.videos[fb_id]["title"] == "Second title"
    assert len(youtube.uploads) == uploads  # nothing re-uploaded
    assert len([c for c in facebook.calls if c["params"].get("upload_phase") == "start"]) == fb_starts
    assert len(conference.emails_to("ada@example.org")) == mails  # nobody emailed
    assert conference.talk(missing)["STATUS"] == "not uploaded"
    assert conference.talk(uuid)["STATUS"] == "published"

    # again, sheet unchanged: no videos.update
    puts = len(youtube.calls_to("PUT", "/youtube/v3/videos"))
    again = run_dag(RECONCILE)
    assert again.state == "success", task_states(again)
    assert len(youtube.calls_to("PUT", "/youtube/v3/videos")) == puts

    _edit(conference, uuid, EXCLUDE="yes")
    excluded = run_dag(RECONCILE)

    assert excluded.state == "success", task_states(excluded)
    [video] = [u for u in youtube.uploads if u["id"] == upload["id"]]
    assert video["status"]["privacyStatus"] == "private"
    assert facebook.videos[fb_id]["hidden"]
    assert conference.talk(uuid)["STATUS"] == "excluded"
    assert conference.ledger(uuid)[0]["status"] == "excluded"
    s3 = stack.boto3_client("s3")
    assert s3.head_object(Bucket=conference.library_bucket, Key=f"{conference.slug}/{uuid}.mp4")
    assert len(conference.emails_to("ada@example.org")) == mails
