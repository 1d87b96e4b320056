"""Recuts and the status lifecycle: task bodies called directly against the stand-ins (no render, no DAG
run). What a person checks: STATUS/LINK in the sheet, what the ledger's version and talk records say,
the job a recut run carries."""

from __future__ import annotations

import time

import pytest
from airflow.sdk.exceptions import AirflowSkipException

from include.video_publishing import publish
from include.video_publishing.ledger import Ledger

SPEAKERS = [("Ada Lovelace", "ada@example.org")]


def _uuid(n: int) -> str:
    return f"77777777-aaaa-4bbb-8ccc-{n:012d}"


@pytest.fixture
def conference(make_conference):
    return make_conference(
        talks=[
            {"UUID": _uuid(n), "TITLE": f"Recut {n}", "DESCRIPTION": "A talk.", "SPEAKERS": "Ada Lovelace"}
            for n in range(1, 7)
        ],
        speakers=SPEAKERS,
        publisher=["youtube", "facebook"],
        extra_columns=["YOUTUBE_LINK", "FACEBOOK_LINK"],
    )


def _upload(conference, uuid: str, start: str) -> str:
    """A recording of ``uuid`` under a key of its own (a recut is a new object with the same uuid)."""
    key = f"room1_{uuid}_{start}_000004.mp4"
    conference.upload(key, duration=5.0)
    time.sleep(1.1)  # LastModified has a one-second resolution: the next upload is newer
    return key


def _inspect(conference, key: str) -> dict:
    return publish.inspect_upload(conference.raw_bucket, key)


def _record(job: dict) -> dict:
    return Ledger.for_job(job).read(job["uuid"], job["identity"]) or {}


def _talk(job: dict) -> dict:
    return Ledger.for_job(job).read_talk(job["uuid"])


def _published(job: dict, video: str) -> dict:
    """What the publish steps leave behind for ``job``: both destinations up, the link recorded."""
    links = {
        "youtube": f"https://www.youtube.com/watch?v={video}",
        "facebook": f"https://www.facebook.com/p/videos/fb{video}/",
    }
    publish.update_destination(job, "youtube", video_id=video, link=links["youtube"])
    publish.update_destination(job, "facebook", video_id=f"fb{video}", link=links["facebook"])
    done = {**job, "links": links, "link": links["youtube"]}
    publish.record_link(done)
    return done


def test_versions_are_ordered_by_last_modified_then_sequencer():
    talk: dict = {}
    publish.note_version(talk, {"identity": "b", "last_modified": "2026-05-01T10:00:01+00:00"})
    publish.note_version(talk, {"identity": "a", "last_modified": "2026-05-01T10:00:00+00:00"})
    assert talk["current"] == "b"
    # same second: the sequencer decides, shorter sequencers padded (0A < 0A1)
    publish.note_version(
        talk, {"identity": "c", "last_modified": "2026-05-01T10:00:01+00:00", "sequencer": "0A"}
    )
    publish.note_version(
        talk, {"identity": "d", "last_modified": "2026-05-01T10:00:01+00:00", "sequencer": "0A1"}
    )
    assert [v["identity"] for v in talk["versions"]] == ["a", "b", "c", "d"]
    assert talk["current"] == "d"
    # a duplicate delivery of an older version changes nothing
    publish.note_version(talk, {"identity": "a", "last_modified": "2026-05-01T10:00:00+00:00"})
    assert (len(talk["versions"]), talk["current"]) == (4, "d")


def test_lifecycle_moves_forward_only(conference):
    uuid = _uuid(1)
    job = _inspect(conference, _upload(conference, uuid, "000001"))
    assert conference.talk(uuid)["STATUS"] == "uploaded"
    assert _record(job)["status"] == "uploaded"
    publish._advance(job, publish.load_config().conference(job["conference"]), "processed")
    again = _inspect(conference, job["key"])  # a re-run of inspect never moves the talk back
    assert "replaces" not in again
    assert (conference.talk(uuid)["STATUS"], _record(job)["status"]) == ("processed", "processed")
    assert [h["status"] for h in _record(job)["history"]] == ["uploaded", "processed"]


def test_older_version_is_superseded_without_touching_the_newer_one(conference):
    uuid = _uuid(2)
    old_key = _upload(conference, uuid, "000001")
    new_key = _upload(conference, uuid, "000002")
    new = _inspect(conference, new_key)
    talk = _talk(new)
    assert talk["current"] == new["identity"]
    assert [v["key"] for v in talk["versions"]] == [new_key]

    with pytest.raises(AirflowSkipException, match="newer version"):
        _inspect(conference, old_key)

    talk = _talk(new)
    assert [v["key"] for v in talk["versions"]] == [old_key, new_key]
    assert talk["current"] == new["identity"]
    [old_record] = [r for r in conference.ledger(uuid) if r["key"] == old_key]
    assert old_record["status"] == "superseded"
    assert conference.talk(uuid)["STATUS"] == "uploaded"  # the newer version's STATUS
    # a duplicate delivery of the superseded version: skipped again, nothing changes
    with pytest.raises(AirflowSkipException, match="superseded and a newer one exists"):
        _inspect(conference, old_key)


def test_a_newer_version_arriving_mid_run_stops_the_older_run(conference):
    uuid = _uuid(3)
    old = _inspect(conference, _upload(conference, uuid, "000001"))
    new = _inspect(conference, _upload(conference, uuid, "000002"))
    s3 = conference.stack.boto3_client("s3")

    for step in (publish.render_video, publish.record_link):
        with pytest.raises(AirflowSkipException, match="superseded"):
            step(old)
    with pytest.raises(AirflowSkipException):
        publish.publish_video(old, "youtube")
    assert s3.list_objects_v2(Bucket=conference.library_bucket).get("KeyCount", 0) == 0
    assert conference.youtube_uploads("Recut 3") == []
    assert _record(old)["status"] == "superseded"
    assert _record(old)["superseded_by"] == new["identity"]
    assert (_record(new)["status"], conference.talk(uuid)["STATUS"]) == ("uploaded", "uploaded")


def test_recut_of_a_published_talk_carries_replaces_and_record_link_keeps_history(conference):
    uuid = _uuid(4)
    first = _published(_inspect(conference, _upload(conference, uuid, "000001")), "v1")
    row = conference.talk(uuid)
    assert (row["STATUS"], row["LINK"]) == ("published", "https://www.youtube.com/watch?v=v1")
    assert _talk(first)["published"]["destinations"]["facebook"] == {
        "video_id": "fbv1",
        "link": "https://www.facebook.com/p/videos/fbv1/",
    }

    recut = _inspect(conference, _upload(conference, uuid, "000002"))

    assert recut["replaces"] == {
        "identity": first["identity"],
        "videos": {"youtube": "v1", "facebook": "fbv1"},
    }
    # while the recut is processed STATUS follows it and LINK keeps the published link
    row = conference.talk(uuid)
    assert (row["STATUS"], row["LINK"]) == ("uploaded", "https://www.youtube.com/watch?v=v1")
    # the first version's run, delivered again: it is finished and older, so it does nothing
    with pytest.raises(AirflowSkipException, match="published and a newer one exists"):
        _inspect(conference, first["key"])
    assert _record(first)["status"] == "published"

    _published(recut, "v2")
    talk = _talk(recut)
    assert talk["published"]["identity"] == recut["identity"]
    assert [p["identity"] for p in talk["previous"]] == [first["identity"]]
    row = conference.talk(uuid)
    assert (row["STATUS"], row["LINK"], row["FACEBOOK_LINK"]) == (
        "published",
        "https://www.youtube.com/watch?v=v2",
        "https://www.facebook.com/p/videos/fbv2/",
    )
    publish.record_link({**recut, "links": {"youtube": row["LINK"]}, "link": row["LINK"]})  # a retry
    assert len(_talk(recut)["previous"]) == 1


def test_failed_never_over_published(conference):
    uuid = _uuid(5)
    first = _published(_inspect(conference, _upload(conference, uuid, "000001")), "v1")

    publish.record_failure(first)  # a late failure of a finished version
    assert (_record(first)["status"], conference.talk(uuid)["STATUS"]) == ("published", "published")

    recut = _inspect(conference, _upload(conference, uuid, "000002"))
    publish.record_failure(recut)  # the recut fails: the published version stays what the sheet shows
    assert _record(recut)["status"] == "failed"
    row = conference.talk(uuid)
    assert (row["STATUS"], row["LINK"]) == ("published", "https://www.youtube.com/watch?v=v1")
    assert _talk(recut)["published"]["identity"] == first["identity"]


def test_failed_never_over_a_newer_versions_status(conference):
    uuid = _uuid(6)
    old = _inspect(conference, _upload(conference, uuid, "000001"))
    _inspect(conference, _upload(conference, uuid, "000002"))

    publish.record_failure(old)

    assert _record(old)["status"] == "failed"
    assert conference.talk(uuid)["STATUS"] == "uploaded"


def test_published_version_from_old_records_without_a_talk_record(conference):
    """Talks published before talk records existed: the newest published version record is the one a
    recut replaces."""
    uuid = _uuid(1)
    job = _inspect(conference, _upload(conference, uuid, "000003"))
    ledger = Ledger.for_job(job)
    ledger.update(
        uuid,
        "legacy-identity",
        lambda r: r.update(status="published", youtube={"video_id": "old-yt", "link": "https://y/old"}),
    )
    assert publish.replaces(job, {}) == {"identity": "legacy-identity", "videos": {"youtube": "old-yt"}}
    assert publish.replaces(job, {"published": {"identity": job["identity"]}}) is None


def test_another_versions_library_copy_is_never_sent(conference):
    """The library copy carries the identity of the version it was rendered from: a run whose version is
    not the one in the library never uploads it as its own."""
    uuid = _uuid(2)
    job = _inspect(conference, _upload(conference, uuid, "000001"))
    s3 = conference.stack.boto3_client("s3")
    s3.put_object(
        Bucket=conference.library_bucket,
        Key=job["library_key"],
        Body=b"not this version",
        Metadata={publish.IDENTITY_METADATA: "some-other-version"},
    )

    with pytest.raises(RuntimeError, match="is the render of some-other-version"):
        publish.publish_video(job, "youtube")

    assert conference.youtube_uploads("Recut 2") == []
    assert "publish youtube: RuntimeError" in _record(job)["last_error"]
