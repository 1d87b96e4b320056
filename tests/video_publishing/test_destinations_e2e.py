"""End to end on the stand-ins with real ffmpeg: several destinations per conference, Facebook failures and
rate limits, a refused speaker address, and a YouTube quota wait that runs out.

The publish DAG is run with ``dag.test()`` (``run_dag``): deferrals run their trigger in line and a
failed task is retried once after a second (``quick_retries``), as the scheduler would do with the
production delays.
"""

from __future__ import annotations

from tests.video_publishing.conftest import PUBLISH
from tests.video_publishing.test_publish_e2e import _map_labels

SPEAKERS = [
    ("Ada Lovelace", "ada@example.org"),
    ("Bob Refused", "refuse.bob@example.org"),
    ("Alan Turing", "alan@example.org"),
]


def _talk(uuid: str, title: str, speakers: str) -> dict[str, str]:
    return {"UUID": uuid, "TITLE": title, "DESCRIPTION": "A talk.", "SPEAKERS": speakers}


def _starts(store) -> int:
    return len([c for c in store.calls if c["params"].get("upload_phase") == "start" and c["status"] == 200])


def test_youtube_and_facebook_with_failures_rate_limit_and_a_refused_address(
    make_conference, run_dag, task_states, small_facebook_chunks, alerts
):
    """Both destinations published; Facebook first rate-limited (the task defers), then fails mid-upload
    (after two chunks) and is retried by Airflow, which resumes the same Facebook upload; YouTube is
    uploaded once; the sheet has LINK, YOUTUBE_LINK and FACEBOOK_LINK; each reachable speaker gets one
    email listing both links; the refused address is recorded with the server's answer and alerted."""
    uuid = "66666666-aaaa-4bbb-8ccc-000000000001"
    title = "Two places at once"
    conference = make_conference(
        talks=[_talk(uuid, title, "Ada Lovelace; Bob Refused; Alan Turing")],
        speakers=SPEAKERS,
        publisher=["youtube", "facebook"],
        extra_columns=["YOUTUBE_LINK", "FACEBOOK_LINK"],
        youtube={"playlist_id": "PLboth", "privacy_status": "unlisted", "chunk_size_kb": 256},
        facebook={"rate_limit_wait_seconds": 2},
    )
    key = f"room2_{uuid}_000001_000007.mp4"
    conference.upload(key, duration=8.0)
    fb = small_facebook_chunks
    fb.fail_next("start", "rate_limit")  # first try: code 32, the task defers
    fb.fail_next("transfer", "server_error", count=4, after=2)  # then: the third chunk fails for good
    starts_before = _starts(fb)

    run = run_dag(PUBLISH, conf={"bucket": conference.raw_bucket, "key": key})

    assert run.state == "success", task_states(run)
    assert _map_labels(run, "publish_video") == ["youtube", "facebook"]
    # YouTube: exactly one upload although the Facebook task failed and was retried
    [upload] = conference.youtube_uploads(title)
    yt_link = f"https://www.youtube.com/watch?v={upload['id']}"
    # Facebook: one upload session started (after the rate limit), resumed at the stored offset
    assert _starts(fb) == starts_before + 1
    [video] = [v for v in fb.published() if v["title"] == title]
    s3 = conference.stack.boto3_client("s3")
    library = s3.get_object(Bucket=conference.library_bucket, Key=f"{conference.slug}/{uuid}.mp4")[
        "Body"
    ].read()
    assert fb.video_bytes(video["id"]) == library
    assert video["description"] == "A talk.\n\nSpeakers: Ada Lovelace, Bob Refused and Alan Turing."
    fb_link = f"https://www.facebook.com/{video['page_id']}/videos/{video['id']}/"
    transfers = [c for c in fb.calls if c["params"].get("upload_session_id") == video["session_id"]]
    offsets = [int(c["params"]["start_offset"]) for c in transfers if c["status"] == 200 and c["params"].get("upload_phase") == "transfer"]  # fmt: skip
    assert offsets == sorted(set(offsets))  # no chunk sent twice

    [record] = conference.ledger(uuid)
    destinations = record["destinations"]
    assert (destinations["youtube"]["video_id"], destinations["youtube"]["link"]) == (upload["id"], yt_link)
    assert (destinations["facebook"]["video_id"], destinations["facebook"]["link"]) == (video["id"], fb_link)
    assert destinations["facebook"]["facebook_session"] is None
    assert [(w["destination"], w["reason"]) for w in record["quota_waits"]] == [
        ("facebook", "rate limit #32")
    ]

    # the sheet: LINK is the first destination's, then one column per destination
    row = conference.talk(uuid)
    assert (row["STATUS"], row["LINK"], row["YOUTUBE_LINK"], row["FACEBOOK_LINK"]) == (
        "published",
        yt_link,
        yt_link,
        fb_link,
    )
    # one email per reachable speaker, listing both links; the refused one recorded and alerted
    for address in ("ada@example.org", "alan@example.org"):
        [mail] = conference.emails_to(address)
        plain = mail.get_body(("plain",)).get_content()
        assert f"YouTube: {yt_link}" in plain
        assert f"Facebook: {fb_link}" in plain
    assert conference.emails_to("refuse.bob@example.org") == []
    refused = record["emails"]["refuse.bob@example.org"]
    assert refused["state"] == "failed"
    assert refused["smtp"].startswith("550 5.1.1")
    assert [a for a in alerts() if "refuse.bob@example.org" in a and "550" in a]


def test_youtube_quota_wait_that_runs_out_fails_with_the_reason_and_an_alert(
    make_conference, run_dag, task_states, alerts
):
    """quotaExceeded twice with 3 s waits and a cap of 3.6 s: the first wait is taken, the second would end
    after the cap, so publish_video fails (no retry), record_failure writes it down and the alert goes.
    (3 s, not 2: the cap counts from when the first wait is recorded, a ledger write after the error; with
    2 s a slow write made the second wait fit under the cap.)"""
    uuid = "66666666-aaaa-4bbb-8ccc-000000000002"
    conference = make_conference(
        talks=[_talk(uuid, "Quota forever", "Ada Lovelace")],
        speakers=SPEAKERS,
        youtube={"playlist_id": None, "quota_wait_seconds": 3, "max_quota_wait_hours": 0.001},
    )
    key = f"room4_{uuid}_000001_000009.mp4"
    conference.upload(key, duration=10.0)
    youtube = conference.stack.google.youtube
    youtube.fail_next_uploads(2, reason="quotaExceeded")
    inserts_before = len(youtube.calls_to("POST", "/upload/youtube/v3/videos"))

    run = run_dag(PUBLISH, conf={"bucket": conference.raw_bucket, "key": key})

    assert run.state == "failed"
    states = task_states(run)
    assert (states["publish_video[0]"], states["notify_speakers"], states["record_failure"]) == (
        "failed",
        "upstream_failed",
        "success",
    )
    assert conference.youtube_uploads("Quota forever") == []
    assert len(youtube.calls_to("POST", "/upload/youtube/v3/videos")) == inserts_before + 2  # no retry
    [record] = conference.ledger(uuid)
    assert record["status"] == "failed"
    assert "gave up waiting for YouTube (quotaExceeded)" in record["last_error"]
    assert "max_quota_wait_hours" in record["last_error"]
    assert conference.talk(uuid)["STATUS"] == "failed"
    assert [a for a in alerts() if "publish_video" in a and "gave up waiting for YouTube" in a]
    assert conference.emails_to("ada@example.org") == []
