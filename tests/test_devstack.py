"""The stand-ins behave like the services the real clients expect (so e2e tests mean something)."""

from __future__ import annotations

import json

import pytest

from devstack.google import parse_a1


@pytest.mark.parametrize(
    ("a1", "expected"),
    [
        ("A:ZZ", (None, 0, 0, None, 701)),
        ("'Talk sheet'!B2:C", ("Talk sheet", 1, 1, None, 2)),
        ("Sheet1", ("Sheet1", 0, 0, None, None)),
        ("'It''s'!1:1", ("It's", 0, 0, 0, None)),
        ("C5", (None, 4, 2, 4, 2)),
    ],
)
def test_parse_a1(a1, expected):
    assert parse_a1(a1) == expected


def test_youtube_resumable_upload_in_chunks(stack, tmp_path):
    """google-api-python-client's resumable upload, chunked, against the stand-in."""
    from google.oauth2.credentials import Credentials
    from googleapiclient.discovery import build_from_document
    from googleapiclient.discovery_cache import get_static_doc
    from googleapiclient.http import MediaFileUpload

    conn = json.loads(stack.env["AIRFLOW_CONN_YOUTUBE_DEFAULT"])
    doc = json.loads(get_static_doc("youtube", "v3"))
    doc["rootUrl"] = conn["extra"]["api_endpoint"]
    creds = Credentials(
        token=None,
        refresh_token=conn["extra"]["refresh_token"],
        client_id=conn["login"],
        client_secret=conn["password"],
        token_uri=conn["extra"]["token_uri"],
    )
    youtube = build_from_document(doc, credentials=creds)
    payload = bytes(range(256)) * 4096  # 1 MiB
    video = tmp_path / "v.mp4"
    video.write_bytes(payload)

    request = youtube.videos().insert(
        part="snippet,status",
        body={"snippet": {"title": "T", "description": "D"}, "status": {"privacyStatus": "unlisted"}},
        media_body=MediaFileUpload(str(video), mimetype="video/mp4", chunksize=256 * 1024, resumable=True),
    )
    response, chunks = None, 0
    while response is None:
        _, response = request.next_chunk()
        chunks += 1

    assert chunks == 4
    stored = next(u for u in stack.google.youtube.uploads if u["id"] == response["id"])
    assert stored["path"].read_bytes() == payload
    assert stored["snippet"]["title"] == "T"

    stack.google.youtube.fail_next_uploads(1, "quotaExceeded")
    from googleapiclient.errors import HttpError

    with pytest.raises(HttpError) as err:
        youtube.videos().insert(
            part="snippet",
            body={"snippet": {"title": "again"}},
            media_body=MediaFileUpload(str(video), resumable=True),
        ).execute()
    assert err.value.resp.status == 403
    assert "quotaExceeded" in err.value.content.decode()


def test_youtube_update_privacy_delete_are_recorded(stack, tmp_path):
    """videos.update (whole snippet, status) and videos.delete on the stand-in, each call recorded."""
    from include.video_publishing import youtube

    client = youtube.build_client("youtube_default")
    video = tmp_path / "v.mp4"
    video.write_bytes(b"x" * 1000)
    metadata = youtube.VideoMetadata(title="Old title", description="D", tags=("a",))
    video_id = youtube.upload_video(
        client, video, metadata, chunk_size=256 * 1024, session_uri=None, on_session=lambda uri: None
    )
    store = stack.google.youtube
    before = len(store.calls_to("PUT", "/youtube/v3/videos"))

    snippet = {"title": "New title", "description": "D2", "tags": ["a", "b"], "categoryId": "28"}
    answer = youtube.update_video(client, video_id, snippet=snippet)
    assert answer["snippet"]["title"] == "New title"
    youtube.set_privacy(client, video_id, "private")
    stored = next(u for u in store.uploads if u["id"] == video_id)
    assert stored["snippet"]["tags"] == ["a", "b"]
    assert stored["status"]["privacyStatus"] == "private"
    puts = store.calls_to("PUT", "/youtube/v3/videos")[before:]
    assert [c["query"]["part"] for c in puts] == ["snippet", "status"]
    assert puts[0]["body"]["snippet"] == snippet

    assert youtube.delete_video(client, video_id) is True
    assert all(u["id"] != video_id for u in store.uploads)
    assert youtube.delete_video(client, video_id) is False  # a retry is a no-op
    with pytest.raises(LookupError):
        youtube.set_privacy(client, video_id, "private")


def test_smtp_sink_keeps_messages(stack):
    from airflow.providers.smtp.hooks.smtp import SmtpHook

    before = len(stack.smtp.messages)
    with SmtpHook(smtp_conn_id="smtp_default") as hook:
        hook.send_email_smtp(to="speaker@example.org", subject="Hello", html_content="<p>Hi</p>")
    received = stack.smtp.messages[before:]
    assert [m["To"] for m in received] == ["speaker@example.org"]
    assert received[0]["Subject"] == "Hello"
