"""Destinations, per-recipient emails, wait caps and on_replace: task bodies called directly against the
stand-ins (no render, no DAG run). What a person checks: videos on YouTube/the Page, mail in the sink,
refusals and alerts, cells in the sheet, what the ledger says."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from airflow.sdk.exceptions import AirflowFailException

from include.video_publishing import publish
from include.video_publishing.ledger import Ledger
from include.video_publishing.operators import note_quota_wait
from tests.video_publishing.test_publish_steps import _job, _rendered

SPEAKERS = [
    ("Ada Lovelace", "ada@example.org"),
    ("Bob Refused", "refuse.bob@example.org"),
    ("Alan Turing", "alan@example.org"),
]


@pytest.fixture
def both(make_conference, small_facebook_chunks):
    return make_conference(
        talks=[{"UUID": "x", "TITLE": "Steps", "SPEAKERS": "Ada Lovelace"}],
        speakers=SPEAKERS,
        publisher=["youtube", "facebook"],
        youtube={"playlist_id": None, "privacy_status": "unlisted", "chunk_size_kb": 256},
        extra_columns=["YOUTUBE_LINK", "FACEBOOK_LINK"],
    )


def _record(job: dict) -> dict:
    return Ledger.for_job(job).read(job["uuid"], job["identity"]) or {}


def test_refused_address_is_recorded_alerted_and_others_emailed(both, alerts):
    conference = both
    uuid = "55555555-aaaa-4bbb-8ccc-000000000001"
    job = _job(conference, uuid, "k.mp4", "e1", speakers=["Ada Lovelace", "Bob Refused", "Alan Turing"])
    results = [
        {"destination": "facebook", "link": "https://www.facebook.com/p/videos/9/", "video_id": "9"},
        {"destination": "youtube", "link": "https://www.youtube.com/watch?v=abc", "video_id": "abc"},
    ]

    done = publish.notify_speakers(job, results)

    # links in the conference's order, the first one is LINK
    assert list(done["links"]) == ["youtube", "facebook"]
    assert done["link"] == "https://www.youtube.com/watch?v=abc"
    for address in ("ada@example.org", "alan@example.org"):
        [mail] = conference.emails_to(address)
        plain = mail.get_body(("plain",)).get_content()
        assert "YouTube: https://www.youtube.com/watch?v=abc" in plain
        assert "Facebook: https://www.facebook.com/p/videos/9/" in plain
    assert conference.emails_to("refuse.bob@example.org") == []
    emails = _record(job)["emails"]
    assert {a: e["state"] for a, e in emails.items()} == {
        "ada@example.org": "sent",
        "alan@example.org": "sent",
        "refuse.bob@example.org": "failed",
    }
    assert emails["refuse.bob@example.org"]["smtp"].startswith("550 5.1.1 Recipient address rejected")
    [alert] = alerts()
    assert "refuse.bob@example.org" in alert
    assert "550" in alert
    assert uuid in alert

    # a retry sends only to addresses not yet sent (the refused one is tried again, the others are not)
    refused_before = len(conference.stack.smtp.refused)
    publish.notify_speakers(job, results)
    for address in ("ada@example.org", "alan@example.org"):
        assert len(conference.emails_to(address)) == 1
    assert len(conference.stack.smtp.refused) == refused_before + 1


def test_recut_sends_one_updated_email_per_speaker(both):
    conference = both
    uuid = "55555555-aaaa-4bbb-8ccc-000000000002"
    previous = {"identity": "old", "links": {"youtube": "https://www.youtube.com/watch?v=old"}}
    job = _job(conference, uuid, "k.mp4", "e2", speakers=["Ada Lovelace"], replaces=previous)
    results = [{"destination": "youtube", "link": "https://www.youtube.com/watch?v=new", "video_id": "new"}]

    publish.notify_speakers(job, results)
    publish.notify_speakers(job, results)

    [mail] = conference.emails_to("ada@example.org")
    assert mail["Subject"] == 'Updated recording of your talk "Steps"'
    plain = mail.get_body(("plain",)).get_content()
    assert 'An updated recording of your talk "Steps" is now online' in plain
    assert "https://www.youtube.com/watch?v=new" in plain
    assert _record(job)["emails"]["ada@example.org"]["kind"] == "updated"


def test_quota_waits_end_after_the_cap(both):
    conference = both
    uuid = "55555555-aaaa-4bbb-8ccc-000000000003"
    job = _job(conference, uuid, "k.mp4", "e3")
    cap = 0.001  # 3.6 s
    note_quota_wait(job, "quotaExceeded", datetime.now(UTC) + timedelta(seconds=2), cap_hours=cap)
    since = _record(job)["destinations"]["youtube"]["waiting_since"]

    with pytest.raises(AirflowFailException, match=r"gave up waiting for YouTube \(quotaExceeded\)") as err:
        note_quota_wait(job, "quotaExceeded", datetime.now(UTC) + timedelta(seconds=30), cap_hours=cap)

    assert "max_quota_wait_hours" in str(err.value)
    record = _record(job)
    assert record["destinations"]["youtube"]["waiting_since"] == since  # the first wait's start is kept
    assert record["last_error"].startswith("publish youtube: gave up waiting")
    assert [w["reason"] for w in record["quota_waits"]] == ["quotaExceeded", "quotaExceeded"]
    # Facebook rate limits share the cap, counted per destination
    note_quota_wait(job, "rate limit #32", datetime.now(UTC) + timedelta(seconds=2), destination="facebook", cap_hours=cap)  # fmt: skip
    with pytest.raises(AirflowFailException, match="gave up waiting for Facebook"):
        note_quota_wait(job, "rate limit #32", datetime.now(UTC) + timedelta(hours=1), destination="facebook", cap_hours=cap)  # fmt: skip


def test_each_destination_published_and_recut_replaces_the_previous_videos(both):
    """YouTube and Facebook each uploaded once; a recut (``replaces`` set by hand) uploads new videos,
    makes the old YouTube video private and hides the old Facebook one, recorded once under retries."""
    conference = both
    stack = conference.stack
    uuid = "55555555-aaaa-4bbb-8ccc-000000000004"
    key, etag = _rendered(conference, uuid)
    first = _job(conference, uuid, key, etag)
    old = {d: publish.publish_video(first, d) for d in ("youtube", "facebook")}
    assert (
        old["facebook"]["link"]
        == f"https://www.facebook.com/{stack.facebook.page_id}/videos/{old['facebook']['video_id']}/"
    )
    fb_video = stack.facebook.store.videos[old["facebook"]["video_id"]]
    assert fb_video["finished"]
    assert fb_video["title"] == "Steps"
    assert fb_video["description"] == "A talk.\n\nSpeakers: Ada Lovelace and Alan Turing."
    record = _record(first)
    assert record["destinations"]["facebook"]["facebook_session"] is None
    assert record["destinations"]["youtube"]["video_id"] == old["youtube"]["video_id"]
    # again: nothing uploaded twice
    starts = len([c for c in stack.facebook.store.calls if c["params"].get("upload_phase") == "start"])
    uploads = len(stack.google.youtube.uploads)
    assert publish.publish_video(first, "facebook") == old["facebook"]
    assert publish.publish_video(first, "youtube") == old["youtube"]
    assert (
        len([c for c in stack.facebook.store.calls if c["params"].get("upload_phase") == "start"]) == starts
    )
    assert len(stack.google.youtube.uploads) == uploads

    replaces = {
        "identity": first["identity"],
        "links": {d: r["link"] for d, r in old.items()},
        "videos": {d: r["video_id"] for d, r in old.items()},
    }
    recut = _job(conference, uuid, key, etag, identity="recut-identity", replaces=replaces)
    puts = len(stack.google.youtube.calls_to("PUT", "/youtube/v3/videos"))
    new = {d: publish.publish_video(recut, d) for d in ("youtube", "facebook")}
    for d in ("youtube", "facebook"):
        assert new[d]["video_id"] != old[d]["video_id"]
        publish.publish_video(recut, d)  # a retry: applied once only

    [yt_old] = [u for u in stack.google.youtube.uploads if u["id"] == old["youtube"]["video_id"]]
    assert yt_old["status"]["privacyStatus"] == "private"
    assert len(stack.google.youtube.calls_to("PUT", "/youtube/v3/videos")) == puts + 1
    assert stack.facebook.store.videos[old["facebook"]["video_id"]]["hidden"]
    assert not stack.facebook.store.videos[new["facebook"]["video_id"]]["hidden"]
    hides = [
        c
        for c in stack.facebook.store.calls
        if c["path"].endswith(old["facebook"]["video_id"]) and c["method"] == "POST"
    ]
    assert len(hides) == 1
    destinations = _record(recut)["destinations"]
    for d in ("youtube", "facebook"):
        replaced = destinations[d]["replaced"]
        assert (replaced["video_id"], replaced["action"]) == (old[d]["video_id"], "private")


def test_record_link_writes_each_destination_column(both):
    conference = both
    uuid = "55555555-aaaa-4bbb-8ccc-000000000005"
    # a sheet row for this talk
    from devstack import demo_talkbot

    s3 = conference.stack.boto3_client("s3")
    rows = demo_talkbot.read_csv(s3, conference.entry["talk_sheet"])
    rows.append([uuid, "Steps", "", "Ada Lovelace", "", "", "", "", "", ""])
    bucket, _, key = conference.entry["talk_sheet"][len("s3://") :].partition("/")
    demo_talkbot.put_csv(s3, bucket, key, rows)
    job = _job(conference, uuid, "k.mp4", "e5")
    links = {
        "youtube": "https://www.youtube.com/watch?v=abc",
        "facebook": "https://www.facebook.com/p/videos/9/",
    }

    publish.record_link(
        {**job, "links": links, "videos": {"youtube": "abc", "facebook": "9"}, "link": links["youtube"]}
    )

    row = conference.talk(uuid)
    assert (row["STATUS"], row["LINK"]) == ("published", links["youtube"])
    assert (row["YOUTUBE_LINK"], row["FACEBOOK_LINK"]) == (links["youtube"], links["facebook"])
    assert json.loads(json.dumps(_record(job)))["status"] == "published"


@pytest.mark.parametrize("action", ["delete", "keep"])
def test_on_replace_delete_and_keep(both, action):
    """``on_replace: delete`` removes the previous videos on both destinations, ``keep`` leaves them; either
    is recorded once."""
    from dataclasses import replace

    from include.video_publishing.config import load_config

    conference = both
    stack = conference.stack
    uuid = f"55555555-aaaa-4bbb-8ccc-00000000001{'0' if action == 'delete' else '1'}"
    key, etag = _rendered(conference, uuid)
    first = _job(conference, uuid, key, etag)
    old = {d: publish.publish_video(first, d)["video_id"] for d in ("youtube", "facebook")}
    recut = _job(conference, uuid, key, etag, identity=f"recut-{action}", replaces={"videos": old})
    settings = load_config().conference(conference.slug)
    configured = replace(settings, on_replace=action)
    deletes = len(stack.google.youtube.calls_to("DELETE", "/youtube/v3/videos"))
    fb_deletes = len([c for c in stack.facebook.store.calls if c["method"] == "DELETE"])

    for _ in range(2):  # a retry changes nothing more
        for d in ("youtube", "facebook"):
            replaced = publish.apply_on_replace(recut, configured, d, "new-id")
            assert (replaced["video_id"], replaced["action"]) == (old[d], action)

    youtube_ids = [u["id"] for u in stack.google.youtube.uploads]
    if action == "delete":
        assert old["youtube"] not in youtube_ids
        assert stack.facebook.store.videos[old["facebook"]]["deleted"]
        assert len(stack.google.youtube.calls_to("DELETE", "/youtube/v3/videos")) == deletes + 1
        assert len([c for c in stack.facebook.store.calls if c["method"] == "DELETE"]) == fb_deletes + 1
    else:
        assert old["youtube"] in youtube_ids
        assert not stack.facebook.store.videos[old["facebook"]]["deleted"]
        assert not stack.facebook.store.videos[old["facebook"]]["hidden"]
        assert len(stack.google.youtube.calls_to("DELETE", "/youtube/v3/videos")) == deletes
    assert _record(recut)["destinations"]["facebook"]["replaced"]["action"] == action


def test_old_records_youtube_field_is_read_as_destinations_youtube(both):
    """A version record written before destinations existed (``youtube`` at the top) is not uploaded again;
    the next write carries it over to ``destinations.youtube``."""
    conference = both
    uuid = "55555555-aaaa-4bbb-8ccc-000000000020"
    job = _job(conference, uuid, "k.mp4", "e20")
    Ledger.for_job(job).update(uuid, job["identity"], lambda r: r.update(youtube={"video_id": "oldvid123"}))
    uploads = len(conference.stack.google.youtube.uploads)

    result = publish.publish_video(job, "youtube")

    assert result == {
        "destination": "youtube",
        "link": "https://www.youtube.com/watch?v=oldvid123",
        "video_id": "oldvid123",
    }
    assert len(conference.stack.google.youtube.uploads) == uploads
    assert _record(job)["destinations"]["youtube"]["video_id"] == "oldvid123"
