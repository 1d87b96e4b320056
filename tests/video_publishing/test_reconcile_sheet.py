"""``sync_talk_sheets`` called directly against the stand-ins (S3 on moto, YouTube, the Graph API): what a
person checks after editing the talk sheet — the title on YouTube and the Page, tags kept, videos private
or hidden after EXCLUDE, STATUS cells, and which API calls were (not) made."""

from __future__ import annotations

import pytest

from devstack import demo_talkbot
from include.video_publishing import publish, reconcile
from include.video_publishing.ledger import Ledger
from tests.video_publishing.test_publish_steps import _job, _rendered

SPEAKERS = [("Ada Lovelace", "ada@example.org"), ("Alan Turing", "alan@example.org")]
TAGS = ["pycon", "talks"]


def _row(uuid: str, title: str = "Steps", **cells: str) -> dict[str, str]:
    return {
        "UUID": uuid,
        "TITLE": title,
        "DESCRIPTION": "A talk.",
        "SPEAKERS": "Ada Lovelace; Alan Turing",
        **cells,
    }


@pytest.fixture
def both(make_conference, small_facebook_chunks):
    def _make(rows: list[dict[str, str]]):
        return make_conference(
            talks=rows,
            speakers=SPEAKERS,
            publisher=["youtube", "facebook"],
            youtube={"playlist_id": None, "privacy_status": "unlisted", "chunk_size_kb": 256, "tags": TAGS},
        )

    return _make


def _edit(conference, uuid: str, **cells: str) -> None:
    """Change cells of one talk's row, as a person editing the sheet would."""
    s3 = conference.stack.boto3_client("s3")
    rows = demo_talkbot.read_csv(s3, conference.entry["talk_sheet"])
    header = rows[0]
    for row in rows[1:]:
        if row[0] == uuid:
            for name, value in cells.items():
                row[header.index(name)] = value
    bucket, _, key = conference.entry["talk_sheet"][len("s3://") :].partition("/")
    demo_talkbot.put_csv(s3, bucket, key, rows)


def _publish(conference, uuid: str) -> tuple[dict, dict[str, str]]:
    """Publish a rendered talk on YouTube and Facebook and record it (no DAG, no email)."""
    key, etag = _rendered(conference, uuid)
    job = _job(conference, uuid, key, etag)
    results = [publish.publish_video(job, d) for d in ("youtube", "facebook")]
    done = publish.with_links(job, publish.load_config().conference(conference.slug), results)
    publish.record_link(done)
    return job, done["videos"]


def _record(job: dict) -> dict:
    return Ledger.for_job(job).read(job["uuid"], job["identity"]) or {}


def _youtube(conference, video_id: str) -> dict:
    [upload] = [u for u in conference.stack.google.youtube.uploads if u["id"] == video_id]
    return upload


def _api_calls(stack) -> tuple[int, int]:
    """How many YouTube and Graph API calls the stand-ins have seen so far."""
    return len(stack.google.youtube.calls), len(stack.facebook.store.calls)


def test_edited_title_updates_both_destinations_once(both):
    uuid = "77777777-aaaa-4bbb-8ccc-000000000001"
    conference = both([_row(uuid)])
    stack = conference.stack
    job, videos = _publish(conference, uuid)
    uploads, mails = len(stack.google.youtube.uploads), len(stack.smtp.messages)
    assert _youtube(conference, videos["youtube"])["snippet"]["tags"] == TAGS

    # an unchanged sheet: no API call at all
    before = _api_calls(stack)
    assert reconcile.sync_talk_sheets(dry_run=False)["unchanged"] == 1
    assert _api_calls(stack) == before

    _edit(conference, uuid, TITLE="Steps, revised", DESCRIPTION="A better talk.", SPEAKERS="Ada Lovelace")
    counts = reconcile.sync_talk_sheets(dry_run=False)

    assert counts["updated"] == 1
    snippet = _youtube(conference, videos["youtube"])["snippet"]
    assert snippet["title"] == "Steps, revised"
    assert snippet["description"] == "A better talk.\n\nSpeakers: Ada Lovelace."
    assert (snippet["tags"], snippet["categoryId"]) == (TAGS, "28")  # the whole snippet was sent again
    fb_video = stack.facebook.store.videos[videos["facebook"]]
    assert (fb_video["title"], fb_video["description"]) == (
        "Steps, revised",
        "A better talk.\n\nSpeakers: Ada Lovelace.",
    )
    metadata = _record(job)["metadata"]
    assert (metadata["title"], metadata["description"], metadata["speakers"]) == (
        "Steps, revised",
        "A better talk.",
        ["Ada Lovelace"],
    )
    assert len(stack.google.youtube.uploads) == uploads  # nothing re-uploaded
    assert len(stack.smtp.messages) == mails  # nobody emailed
    assert conference.talk(uuid)["STATUS"] == "published"

    # again: the ledger knows what was sent, so nothing is called
    puts = len(stack.google.youtube.calls_to("PUT", "/youtube/v3/videos"))
    before = _api_calls(stack)
    assert reconcile.sync_talk_sheets(dry_run=False)["updated"] == 0
    assert _api_calls(stack) == before
    assert len(stack.google.youtube.calls_to("PUT", "/youtube/v3/videos")) == puts


def test_dry_run_changes_nothing(both):
    uuid = "77777777-aaaa-4bbb-8ccc-000000000002"
    missing = "77777777-aaaa-4bbb-8ccc-000000000003"
    conference = both([_row(uuid), _row(missing, "Never recorded")])
    stack = conference.stack
    _, videos = _publish(conference, uuid)
    _edit(conference, uuid, TITLE="Changed", EXCLUDE="")
    before = _api_calls(stack)

    counts = reconcile.sync_talk_sheets(dry_run=True)

    assert (counts["updated"], counts["not uploaded"]) == (1, 1)
    assert _api_calls(stack) == before
    assert _youtube(conference, videos["youtube"])["snippet"]["title"] == "Steps"
    assert conference.talk(missing)["STATUS"] == ""


def test_exclude_after_publishing_hides_the_videos_once(both):
    uuid = "77777777-aaaa-4bbb-8ccc-000000000004"
    conference = both([_row(uuid)])
    stack = conference.stack
    job, videos = _publish(conference, uuid)
    _edit(conference, uuid, EXCLUDE="yes", TITLE="Also retitled")  # exclusion wins: no title update

    assert reconcile.sync_talk_sheets(dry_run=False)["excluded"] == 1

    video = _youtube(conference, videos["youtube"])
    assert video["status"]["privacyStatus"] == "private"
    assert video["snippet"]["title"] == "Steps"
    assert stack.facebook.store.videos[videos["facebook"]]["hidden"]
    assert conference.talk(uuid)["STATUS"] == "excluded"
    record = _record(job)
    assert record["status"] == "excluded"
    assert {d: s["excluded"]["action"] for d, s in record["destinations"].items() if "excluded" in s} == {
        "youtube": "private",
        "facebook": "hidden",
    }
    s3 = stack.boto3_client("s3")
    assert s3.head_object(Bucket=conference.library_bucket, Key=job["library_key"])  # library copy stays

    before = _api_calls(stack)
    counts = reconcile.sync_talk_sheets(dry_run=False)
    assert (counts["excluded"], counts["updated"]) == (0, 0)
    assert _api_calls(stack) == before


def test_not_uploaded_only_over_an_empty_status(both):
    missing = "77777777-aaaa-4bbb-8ccc-000000000005"
    recorded = "77777777-aaaa-4bbb-8ccc-000000000006"
    failed = "77777777-aaaa-4bbb-8ccc-000000000007"
    conference = both([_row(missing), _row(recorded), _row(failed, STATUS="failed")])
    conference.upload(f"room1_{recorded}_000001_000005.mp4", duration=2.0)
    conference.upload("room1_not-a-conforming-name.mp4", duration=1.0)

    counts = reconcile.sync_talk_sheets(dry_run=False)

    assert counts["not uploaded"] == 1
    assert conference.talk(missing)["STATUS"] == "not uploaded"
    assert conference.talk(recorded)["STATUS"] == ""  # its recording is there: the listener's
    assert conference.talk(failed)["STATUS"] == "failed"
    # a second run writes nothing new
    assert reconcile.sync_talk_sheets(dry_run=False)["not uploaded"] == 0


def test_one_failing_talk_does_not_stop_the_others(both):
    broken = "77777777-aaaa-4bbb-8ccc-000000000008"
    missing = "77777777-aaaa-4bbb-8ccc-000000000009"
    good = "77777777-aaaa-4bbb-8ccc-00000000000a"
    conference = both([_row(broken), _row(missing), _row(good)])
    _, videos = _publish(conference, good)
    # a published record whose YouTube video no longer exists: its update fails
    ledger = Ledger.at(f"s3://{conference.ledger_bucket}/talkbot/", conference.library_bucket)

    def published(record: dict) -> None:
        record.update(status="published", metadata={"title": "Old", "description": "", "speakers": []})
        record["destinations"] = {"youtube": {"video_id": "gone-video", "link": "x"}}

    ledger.update(broken, "some-identity", published)
    _edit(conference, good, TITLE="Good, retitled")

    with pytest.raises(reconcile.SheetSyncFailed) as failure:
        reconcile.sync_talk_sheets(dry_run=False)

    assert broken in str(failure.value)
    assert good not in str(failure.value)
    assert missing not in str(failure.value)
    assert conference.talk(missing)["STATUS"] == "not uploaded"
    assert _youtube(conference, videos["youtube"])["snippet"]["title"] == "Good, retitled"


def test_update_snippet_makes_no_call_when_nothing_changes(both):
    from include.video_publishing import youtube

    uuid = "77777777-aaaa-4bbb-8ccc-00000000000b"
    conference = both([_row(uuid)])
    _, videos = _publish(conference, uuid)
    client = youtube.build_client("youtube_default")
    puts = len(conference.stack.google.youtube.calls_to("PUT", "/youtube/v3/videos"))

    assert youtube.update_snippet(client, videos["youtube"], title="Steps") is None
    assert len(conference.stack.google.youtube.calls_to("PUT", "/youtube/v3/videos")) == puts
    snippet = youtube.update_snippet(client, videos["youtube"], description="New words")
    assert snippet["description"] == "New words"
    assert snippet["tags"] == TAGS
    with pytest.raises(ValueError, match="privacyStatus"):
        youtube.update_snippet(client, videos["youtube"], privacyStatus="public")


def test_record_without_metadata_is_checked_once_then_recorded(both):
    """A talk published before ``metadata`` was recorded: the first reconcile compares with what YouTube
    shows (no update when equal) and records the sheet's values; the next one calls nothing."""
    uuid = "77777777-aaaa-4bbb-8ccc-00000000000c"
    conference = both([_row(uuid)])
    stack = conference.stack
    job, _ = _publish(conference, uuid)
    Ledger.for_job(job).update(uuid, job["identity"], lambda record: record.pop("metadata", None))
    puts = len(stack.google.youtube.calls_to("PUT", "/youtube/v3/videos"))

    assert reconcile.sync_talk_sheets(dry_run=False)["updated"] == 1

    assert len(stack.google.youtube.calls_to("PUT", "/youtube/v3/videos")) == puts  # YouTube already had it
    assert _record(job)["metadata"]["title"] == "Steps"
    before = _api_calls(stack)
    assert reconcile.sync_talk_sheets(dry_run=False)["unchanged"] == 1
    assert _api_calls(stack) == before
