"""End to end on the stand-ins with real ffmpeg: a recut of a published talk replaces it once, and an older
version's run arriving after the newer one was published changes nothing.

A recut is a new object with the same uuid (here a new key with other start/end times). The publish DAG
is run with ``dag.test()`` (``run_dag``), as in ``test_publish_e2e``.
"""

from __future__ import annotations

import time

from include.video_publishing.media import probe
from tests.video_publishing.conftest import PUBLISH

SPEAKERS = [("Ada Lovelace", "ada@example.org"), ("Alan Turing", "alan@example.org")]


def _conference(make_conference, uuid: str, title: str):
    return make_conference(
        talks=[
            {"UUID": uuid, "TITLE": title, "DESCRIPTION": "A talk.", "SPEAKERS": "Ada Lovelace; Alan Turing"}
        ],
        speakers=SPEAKERS,
        publisher=["youtube", "facebook"],
        extra_columns=["YOUTUBE_LINK", "FACEBOOK_LINK"],
        youtube={"playlist_id": None, "privacy_status": "unlisted", "chunk_size_kb": 256},
    )


def _library(conference, uuid: str, name: str):
    """(path of a download of the library copy, its ETag)."""
    s3 = conference.stack.boto3_client("s3")
    key = f"{conference.slug}/{uuid}.mp4"
    path = conference.workdir / name
    s3.download_file(conference.library_bucket, key, str(path))
    return path, s3.head_object(Bucket=conference.library_bucket, Key=key)["ETag"]


def _youtube_puts(youtube, video_id: str) -> list[dict]:
    return [
        c for c in youtube.calls_to("PUT", "/youtube/v3/videos") if (c["body"] or {}).get("id") == video_id
    ]


def test_recut_of_a_published_talk_replaces_it_once(make_conference, run_dag, task_states):
    uuid = "88888888-aaaa-4bbb-8ccc-000000000001"
    title = "Cut twice"
    conference = _conference(make_conference, uuid, title)
    youtube, fb = conference.stack.google.youtube, conference.stack.facebook.store
    first_key = f"room1_{uuid}_000001_000011.mp4"  # a 10 s cut
    conference.upload(first_key, duration=12.0)
    first = run_dag(PUBLISH, conf={"bucket": conference.raw_bucket, "key": first_key})
    assert first.state == "success", task_states(first)
    [old_yt] = conference.youtube_uploads(title)
    [old_fb] = [v for v in fb.published() if v["title"] == title]
    for address in ("ada@example.org", "alan@example.org"):
        assert len(conference.emails_to(address)) == 1

    recut_key = f"room1_{uuid}_000001_000008.mp4"  # the corrected cut: 7 s
    conference.upload(recut_key, duration=9.0)
    recut = run_dag(PUBLISH, conf={"bucket": conference.raw_bucket, "key": recut_key})
    assert recut.state == "success", task_states(recut)

    # a second video on each destination; the first YouTube video private, the first Facebook one hidden
    uploads = conference.youtube_uploads(title)
    assert len(uploads) == 2
    new_yt = next(u for u in uploads if u["id"] != old_yt["id"])
    [put] = _youtube_puts(youtube, old_yt["id"])
    assert put["body"]["status"]["privacyStatus"] == "private"
    assert next(u for u in uploads if u["id"] == old_yt["id"])["status"]["privacyStatus"] == "private"
    assert _youtube_puts(youtube, new_yt["id"]) == []
    videos = [v for v in fb.published() if v["title"] == title]
    assert len(videos) == 2
    new_fb = next(v for v in videos if v["id"] != old_fb["id"])
    assert fb.videos[old_fb["id"]]["hidden"]
    assert not fb.videos[new_fb["id"]]["hidden"]

    # the sheet: every link is the recut's, STATUS published
    yt_link = f"https://www.youtube.com/watch?v={new_yt['id']}"
    fb_link = f"https://www.facebook.com/{new_fb['page_id']}/videos/{new_fb['id']}/"
    row = conference.talk(uuid)
    assert (row["STATUS"], row["LINK"], row["YOUTUBE_LINK"], row["FACEBOOK_LINK"]) == (
        "published",
        yt_link,
        yt_link,
        fb_link,
    )
    # exactly one "updated recording" email per speaker, with the new links
    for address in ("ada@example.org", "alan@example.org"):
        published, updated = conference.emails_to(address)
        assert "Updated" not in published["Subject"]
        assert updated["Subject"] == f'Updated recording of your talk "{title}"'
        plain = updated.get_body(("plain",)).get_content()
        assert f"YouTube: {yt_link}" in plain
        assert f"Facebook: {fb_link}" in plain
    # the library object is the new cut, the same bytes went to YouTube and Facebook
    path, _ = _library(conference, uuid, "recut.mp4")
    assert abs(probe(path).duration - 7.0) <= 0.1
    assert fb.video_bytes(new_fb["id"]) == path.read_bytes()
    assert new_yt["size"] == path.stat().st_size
    # the ledger: both versions, the talk record says which one is online and which one was
    records = {r["key"]: r for r in conference.ledger(uuid)}
    assert (records[first_key]["status"], records[recut_key]["status"]) == ("published", "published")
    replaced = records[recut_key]["destinations"]
    assert (replaced["youtube"]["replaced"]["video_id"], replaced["youtube"]["replaced"]["action"]) == (
        old_yt["id"],
        "private",
    )
    assert replaced["facebook"]["replaced"]["video_id"] == old_fb["id"]
    talk = conference.talk_record(uuid)
    assert talk["current"] == records[recut_key]["identity"]
    assert talk["published"]["destinations"]["youtube"]["video_id"] == new_yt["id"]
    assert [p["destinations"]["youtube"]["video_id"] for p in talk["previous"]] == [old_yt["id"]]
    assert [h["status"] for h in records[recut_key]["history"]] == [
        "uploaded",
        "processing",
        "processed",
        "published",
    ]

    # duplicate deliveries of both versions: no upload, no update, no email, nothing written
    youtube_calls, fb_calls, mails, row = (
        len(youtube.calls),
        len(fb.calls),
        len(conference.stack.smtp.messages),
        conference.talk(uuid),
    )
    for key in (recut_key, first_key):
        again = run_dag(PUBLISH, conf={"bucket": conference.raw_bucket, "key": key})
        assert again.state == "success", task_states(again)
    assert (len(youtube.calls), len(fb.calls), len(conference.stack.smtp.messages)) == (
        youtube_calls,
        fb_calls,
        mails,
    )
    assert conference.talk(uuid) == row
    assert {r["key"]: r["status"] for r in conference.ledger(uuid)} == {
        first_key: "published",
        recut_key: "published",
    }


def test_an_older_version_after_the_newer_one_was_published_changes_nothing(
    make_conference, run_dag, task_states
):
    uuid = "88888888-aaaa-4bbb-8ccc-000000000002"
    title = "Late arrival"
    conference = _conference(make_conference, uuid, title)
    youtube, fb, smtp = (
        conference.stack.google.youtube,
        conference.stack.facebook.store,
        conference.stack.smtp,
    )
    old_key = f"room1_{uuid}_000001_000008.mp4"
    conference.upload(old_key, duration=9.0)
    time.sleep(1.1)  # LastModified has a one-second resolution: the next upload is the newer version
    new_key = f"room1_{uuid}_000001_000011.mp4"
    conference.upload(new_key, duration=12.0)
    newer = run_dag(PUBLISH, conf={"bucket": conference.raw_bucket, "key": new_key})
    assert newer.state == "success", task_states(newer)
    row = conference.talk(uuid)
    assert row["STATUS"] == "published"
    _, library_etag = _library(conference, uuid, "newer.mp4")
    youtube_calls, fb_calls, mails = len(youtube.calls), len(fb.calls), len(smtp.messages)

    late = run_dag(PUBLISH, conf={"bucket": conference.raw_bucket, "key": old_key})

    assert late.state == "success", task_states(late)
    states = task_states(late)
    assert states["inspect_upload"] == "skipped"
    assert states["record_failure"] == "skipped"
    assert len(youtube.calls) == youtube_calls  # no upload, no update
    assert len(fb.calls) == fb_calls
    assert len(smtp.messages) == mails
    assert conference.talk(uuid) == row
    path, etag = _library(conference, uuid, "after.mp4")
    assert etag == library_etag
    assert abs(probe(path).duration - 10.0) <= 0.1
    records = {r["key"]: r for r in conference.ledger(uuid)}
    assert (records[new_key]["status"], records[old_key]["status"]) == ("published", "superseded")
    assert conference.talk_record(uuid)["published"]["identity"] == records[new_key]["identity"]
