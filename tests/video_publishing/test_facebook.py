"""Facebook Page publisher against the Graph API stand-in over real HTTP.

What a person would check: one published video on the Page with the right bytes, title and description;
its Page URL; a failed upload resumed without a second video; rate limits raised with a retry time; an
old video hidden or deleted; captions attached.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta

import pytest
import requests

from include.video_publishing import facebook

CHUNK = 64 * 1024


@pytest.fixture
def fb(stack):
    """The stand-in with small chunks (so a test file takes several transfers), failures cleared after."""
    store = stack.facebook.store
    saved = store.chunk_size
    store.chunk_size = CHUNK
    yield stack.facebook
    store.chunk_size = saved
    store._failures.clear()


@pytest.fixture
def client(fb):
    return facebook.GraphClient.from_connection("facebook_default")


@pytest.fixture
def video_file(tmp_path):
    path = tmp_path / "talk.mp4"
    path.write_bytes(os.urandom(CHUNK * 3 + 1234))
    return path


def _calls_since(fb, mark: int, phase: str | None = None) -> list[dict]:
    calls = fb.store.calls[mark:]
    return [c for c in calls if phase is None or c["params"].get("upload_phase") == phase]


def test_upload_publishes_one_video_with_metadata_and_page_link(fb, client, video_file):
    sessions: list[dict] = []
    mark = len(fb.store.calls)
    meta = facebook.VideoMetadata(title="Streaming at scale", description="Speakers: Ada and Grace.")

    video_id = facebook.upload_video(client, video_file, meta, session=None, on_session=sessions.append)

    video = fb.store.videos[video_id]
    assert video["finished"]
    assert video["page_id"] == fb.page_id
    assert (video["title"], video["description"]) == (meta.title, meta.description)
    assert fb.store.video_bytes(video_id) == video_file.read_bytes()
    assert len(_calls_since(fb, mark, "start")) == 1
    assert len(_calls_since(fb, mark, "transfer")) == 4  # 3 full chunks + the tail
    # the session reached the caller before any byte was sent, then after every chunk
    assert sessions[0]["start_offset"] == 0
    assert sessions[-1]["start_offset"] == video_file.stat().st_size
    assert [s["start_offset"] for s in sessions] == sorted(s["start_offset"] for s in sessions)
    assert facebook.video_url(client, video_id) == f"https://www.facebook.com/{fb.page_id}/videos/{video_id}/"


def test_connection_drop_mid_upload_resumes_without_second_video(fb, client, video_file):
    sessions: list[dict] = []

    def remember(state: dict) -> None:
        sessions.append(state)
        if state["start_offset"] == 2 * CHUNK:  # the network goes away before the third chunk
            fb.store.fail_next("transfer", "disconnect")

    meta = facebook.VideoMetadata("Resumed", "")
    published_before = len(fb.store.published())
    with pytest.raises(requests.ConnectionError):  # no chunk retries: the task's retry must resume
        facebook.upload_video(client, video_file, meta, session=None, on_session=remember, chunk_retries=0)
    stored = sessions[-1]
    assert stored["start_offset"] == 2 * CHUNK

    mark = len(fb.store.calls)
    video_id = facebook.upload_video(client, video_file, meta, session=stored, on_session=sessions.append)

    assert video_id == stored["video_id"]
    assert len(fb.store.published()) == published_before + 1
    assert fb.store.video_bytes(video_id) == video_file.read_bytes()
    assert not _calls_since(fb, mark, "start")
    assert int(_calls_since(fb, mark, "transfer")[0]["params"]["start_offset"]) == 2 * CHUNK


def test_lost_answer_is_corrected_from_the_expected_offset(fb, client, video_file):
    """The chunk arrived but the answer did not: the stored offset is stale, Facebook names the right one."""
    sessions: list[dict] = []
    fb.store.fail_next("transfer", "lost_answer")
    with pytest.raises(facebook.GraphError) as lost:
        facebook.upload_video(
            client,
            video_file,
            facebook.VideoMetadata("Stale", ""),
            session=None,
            on_session=sessions.append,
            chunk_retries=0,
        )
    assert lost.value.status == 500
    assert sessions[-1]["start_offset"] == 0  # what the caller knows; Facebook already holds CHUNK bytes

    video_id = facebook.upload_video(
        client,
        video_file,
        facebook.VideoMetadata("Stale", ""),
        session=sessions[-1],
        on_session=sessions.append,
    )
    assert fb.store.video_bytes(video_id) == video_file.read_bytes()  # no byte stored twice


def test_transient_chunk_failures_are_retried_within_the_call(fb, client, video_file):
    fb.store.fail_next("transfer", "disconnect")
    fb.store.fail_next("transfer", "lost_answer")
    mark = len(fb.store.calls)
    video_id = facebook.upload_video(
        client,
        video_file,
        facebook.VideoMetadata("Flaky network", ""),
        session=None,
        on_session=lambda s: None,
        retry_delay=0.01,
    )
    assert fb.store.video_bytes(video_id) == video_file.read_bytes()
    transfers = _calls_since(fb, mark, "transfer")
    assert [c["status"] for c in transfers[:3]] == ["disconnected", 500, 400]  # the 400 names the offset
    assert len(_calls_since(fb, mark, "start")) == 1


def test_retry_after_finish_returns_the_same_video_without_calls_that_change_anything(fb, client, video_file):
    sessions: list[dict] = []
    meta = facebook.VideoMetadata("Finished once", "")
    video_id = facebook.upload_video(client, video_file, meta, session=None, on_session=sessions.append)
    mark = len(fb.store.calls)

    again = facebook.upload_video(client, video_file, meta, session=sessions[-1], on_session=sessions.append)

    assert again == video_id
    assert all(c["method"] == "GET" for c in fb.store.calls[mark:])


@pytest.mark.parametrize(
    ("code", "phase"), [(32, "start"), (4, "transfer"), (17, "finish"), (613, "transfer")]
)
def test_rate_limits_raise_with_the_time_facebook_names_and_resume_after(fb, client, video_file, code, phase):
    sessions: list[dict] = []
    meta = facebook.VideoMetadata(f"Throttled {code}", "")
    fb.store.fail_next(phase, "rate_limit", code=code)
    before = datetime.now(UTC)
    with pytest.raises(facebook.RateLimited) as limited:
        facebook.upload_video(client, video_file, meta, session=None, on_session=sessions.append)
    assert limited.value.code == code
    # the stand-in says estimated_time_to_regain_access = 7 minutes
    assert before + timedelta(minutes=7) <= limited.value.retry_at <= datetime.now(UTC) + timedelta(minutes=7)

    video_id = facebook.upload_video(
        client, video_file, meta, session=sessions[-1] if sessions else None, on_session=sessions.append
    )
    assert fb.store.video_bytes(video_id) == video_file.read_bytes()
    assert sum(1 for v in fb.store.published() if v["title"] == meta.title) == 1


def test_rate_limit_wait_is_the_configured_one_else_facebooks_estimate():
    now = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    assert facebook._retry_at({}, now, 900) == now + timedelta(seconds=900)
    assert facebook._retry_at({}, now, None) == now + timedelta(hours=1)
    usage = {"X-App-Usage": json.dumps({"call_count": 100, "estimated_time_to_regain_access": 12})}
    assert facebook._retry_at(usage, now, None) == now + timedelta(minutes=12)
    assert facebook._retry_at(usage, now, 900) == now + timedelta(seconds=900)


def test_hide_then_delete_an_old_video(fb, client, video_file):
    sessions: list[dict] = []
    video_id = facebook.upload_video(
        client, video_file, facebook.VideoMetadata("Old cut", ""), session=None, on_session=sessions.append
    )
    facebook.hide_video(client, video_id)
    facebook.hide_video(client, video_id)  # a retry changes nothing
    assert client.get(video_id, fields="published")["published"] is False

    facebook.delete_video(client, video_id)
    facebook.delete_video(client, video_id)  # already gone counts as deleted
    assert fb.store.videos[video_id]["deleted"]
    with pytest.raises(facebook.SessionGone):
        facebook.upload_video(
            client,
            video_file,
            facebook.VideoMetadata("Old cut", ""),
            session=sessions[-1],
            on_session=sessions.append,
        )


def test_captions_are_attached_as_subrip_and_replaced_on_retry(fb, client, video_file):
    video_id = facebook.upload_video(
        client, video_file, facebook.VideoMetadata("Captioned", ""), session=None, on_session=lambda s: None
    )
    vtt = "WEBVTT\n\n00:00:00.000 --> 00:00:02.500\nwelcome to the conference\n"
    facebook.upload_captions(client, video_id, vtt, facebook.facebook_locale("en-US"))
    facebook.upload_captions(client, video_id, vtt, facebook.facebook_locale("en-US"))

    captions = fb.store.videos[video_id]["captions"]
    assert [c["locale"] for c in captions] == ["en_US"]
    assert "00:00:00,000 --> 00:00:02,500" in captions[0]["srt"]
    assert "welcome to the conference" in captions[0]["srt"]


def test_a_wrong_token_is_a_graph_error_not_a_rate_limit(fb, video_file):
    creds = facebook.credentials_from_connection("facebook_default")
    bad = facebook.GraphClient(facebook.PageCredentials(creds.page_id, "expired", creds.api_endpoint))
    with pytest.raises(facebook.GraphError) as err:
        facebook.upload_video(
            bad, video_file, facebook.VideoMetadata("x", ""), session=None, on_session=print
        )
    assert err.value.code == 190


def test_connection_without_token_names_the_field(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_FACEBOOK_BROKEN", json.dumps({"conn_type": "generic", "login": "123"}))
    with pytest.raises(ValueError, match="password must be a long-lived Page access token"):
        facebook.credentials_from_connection("facebook_broken")


def test_locales():
    assert facebook.facebook_locale("en-US") == "en_US"
    assert facebook.facebook_locale("de") == "de_DE"
    assert facebook.facebook_locale("pt_br") == "pt_BR"
