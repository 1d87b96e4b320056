"""YouTube Data API v3: resumable upload and playlist insert with a channel owner's OAuth credentials.

Connection ``youtube_default`` (type generic): ``login`` = OAuth client id, ``password`` = client secret,
extra ``{"refresh_token": "...", "token_uri": "https://oauth2.googleapis.com/token"}`` — a refresh token
of the channel owner with the ``youtube.upload`` and ``youtube`` scopes. An optional extra
``api_endpoint`` points the client at another root URL (the local stand-in); without it Google's
endpoints are used.

Never uploading twice: the resumable session is opened explicitly and its URI handed to ``on_session``
(the caller stores it in the ledger) *before any byte is sent*. A retry that finds a stored session asks
YouTube how far it got: a finished session answers with the video (no second upload), a partial one
resumes where it stopped. Only if the session has expired (YouTube keeps them about a week) does a retry
start a new one. The one window left: the worker dies after YouTube accepted the last byte and before the
video id reached the ledger, *and* the retry comes after the session expired — then a second video is
possible. (A crash before the session URI is stored leaves an empty session that never becomes a video.)

Quota: ``quotaExceeded`` (daily project quota, reset at midnight Pacific time) and ``uploadLimitExceeded``
(per-channel upload cap) raise QuotaExhausted with the moment to try again.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

log = logging.getLogger(__name__)

SCOPES = ["https://www.googleapis.com/auth/youtube.upload", "https://www.googleapis.com/auth/youtube"]
QUOTA_REASONS = frozenset({"quotaExceeded", "uploadLimitExceeded", "dailyLimitExceeded"})
DEFAULT_TOKEN_URI = "https://oauth2.googleapis.com/token"  # noqa: S105 (a URL, not a secret)


class QuotaExhausted(Exception):
    """YouTube refused for quota reasons; try again at ``retry_at`` (UTC)."""

    def __init__(self, reason: str, retry_at: datetime) -> None:
        super().__init__(f"YouTube {reason}; next attempt at {retry_at.isoformat(timespec='seconds')}")
        self.reason = reason
        self.retry_at = retry_at


class SessionGone(Exception):
    """A stored resumable session no longer exists on YouTube's side."""


@dataclass(frozen=True)
class VideoMetadata:
    """What YouTube shows for the video."""

    title: str
    description: str
    tags: tuple[str, ...] = ()
    category_id: str = "28"
    privacy_status: str = "unlisted"

    def body(self) -> dict[str, Any]:
        return {
            "snippet": {
                "title": self.title,
                "description": self.description,
                "tags": list(self.tags),
                "categoryId": self.category_id,
            },
            "status": {"privacyStatus": self.privacy_status, "selfDeclaredMadeForKids": False},
        }


def watch_url(video_id: str) -> str:
    return f"https://www.youtube.com/watch?v={video_id}"


def build_client(conn_id: str = "youtube_default") -> Any:
    """A YouTube v3 client authorised with the connection's OAuth user credentials."""
    from airflow.sdk.bases.hook import BaseHook
    from google.oauth2.credentials import Credentials
    from googleapiclient.discovery import build, build_from_document
    from googleapiclient.discovery_cache import get_static_doc

    conn = BaseHook.get_connection(conn_id)
    extra = conn.extra_dejson
    if not (conn.login and conn.password and extra.get("refresh_token")):
        raise ValueError(
            f"connection {conn_id!r} needs login (client id), password (client secret) "
            "and extra refresh_token"
        )
    credentials = Credentials(
        token=None,
        refresh_token=extra["refresh_token"],
        client_id=conn.login,
        client_secret=conn.password,
        token_uri=extra.get("token_uri") or DEFAULT_TOKEN_URI,
        scopes=SCOPES,
    )
    endpoint = extra.get("api_endpoint")
    if not endpoint:
        return build("youtube", "v3", credentials=credentials, static_discovery=True, cache_discovery=False)
    # client_options.api_endpoint keeps https:// for media uploads; rewrite the discovery document instead.
    document = json.loads(get_static_doc("youtube", "v3"))
    document["rootUrl"] = endpoint.rstrip("/") + "/"
    document["mtlsRootUrl"] = document["rootUrl"]
    return build_from_document(document, credentials=credentials)


def upload_video(
    client: Any,
    path: Path,
    metadata: VideoMetadata,
    *,
    chunk_size: int,
    session_uri: str | None,
    on_session: Callable[[str], None],
    quota_wait_seconds: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> str:
    """Upload ``path`` (resuming ``session_uri`` when given) and return the new video's id."""
    from googleapiclient.errors import HttpError
    from googleapiclient.http import MediaFileUpload

    media = MediaFileUpload(str(path), mimetype="video/mp4", chunksize=chunk_size, resumable=True)
    request = client.videos().insert(
        part="snippet,status", body=metadata.body(), media_body=media, notifySubscribers=False
    )
    try:
        if session_uri:
            request.resumable_uri = session_uri
            # Ask the server how much it holds before sending anything (the library's own recovery path).
            request._in_error_state = True
        else:
            request.resumable_uri = _open_session(request)
            on_session(request.resumable_uri)
        response = None
        while response is None:
            status, response = request.next_chunk(num_retries=3)
            if status and progress:
                progress(status.resumable_progress, status.total_size)
    except HttpError as err:
        if session_uri and err.resp.status in (404, 410):
            # the message leaves out the session URI (it authorises uploads into the channel)
            raise SessionGone(f"resumable session expired (HTTP {err.resp.status})") from err
        quota = _quota_error(err, quota_wait_seconds)
        if quota:
            raise quota from err
        raise
    if progress:
        progress(media.size(), media.size())
    return response["id"]


def _open_session(request: Any) -> str:
    """Start the resumable upload (metadata only, no video bytes) and return its session URI."""
    from googleapiclient.errors import HttpError

    headers = dict(request.headers)
    headers["X-Upload-Content-Type"] = request.resumable.mimetype()
    headers["X-Upload-Content-Length"] = str(request.resumable.size())
    headers["content-length"] = str(request.body_size)
    resp, content = request.http.request(
        request.uri, method=request.method, body=request.body, headers=headers
    )
    if resp.status == 200 and "location" in resp:
        return resp["location"]
    raise HttpError(resp, content, uri=request.uri)


def add_to_playlist(
    client: Any, playlist_id: str, video_id: str, quota_wait_seconds: int | None = None
) -> str:
    """Append the video to the playlist; returns the playlist item id."""
    from googleapiclient.errors import HttpError

    body = {
        "snippet": {"playlistId": playlist_id, "resourceId": {"kind": "youtube#video", "videoId": video_id}}
    }
    try:
        return client.playlistItems().insert(part="snippet", body=body).execute(num_retries=3)["id"]
    except HttpError as err:
        quota = _quota_error(err, quota_wait_seconds)
        if quota:
            raise quota from err
        raise


def update_video(
    client: Any,
    video_id: str,
    *,
    snippet: dict[str, Any] | None = None,
    status: dict[str, Any] | None = None,
    quota_wait_seconds: int | None = None,
) -> dict[str, Any]:
    """``videos.update`` of the parts given; returns the video as YouTube now has it.

    An update replaces every mutable field of each part it sends: send the whole snippet (title,
    description, tags, categoryId) and the whole status (privacyStatus, selfDeclaredMadeForKids), never a
    single field. Raises ``QuotaExhausted`` on quota errors and ``LookupError`` when the video is gone.
    """
    from googleapiclient.errors import HttpError

    body: dict[str, Any] = {"id": video_id}
    parts = []
    if snippet is not None:
        body["snippet"], parts = snippet, [*parts, "snippet"]
    if status is not None:
        body["status"], parts = status, [*parts, "status"]
    if not parts:
        raise ValueError("update_video needs a snippet or a status")
    try:
        return client.videos().update(part=",".join(parts), body=body).execute(num_retries=3)
    except HttpError as err:
        if err.resp.status == 404:
            raise LookupError(f"YouTube video {video_id} not found") from err
        quota = _quota_error(err, quota_wait_seconds)
        if quota:
            raise quota from err
        raise


def set_privacy(client: Any, video_id: str, privacy: str, quota_wait_seconds: int | None = None) -> None:
    """Set the video's privacy (``private``/``unlisted``/``public``), keeping the rest of its status."""
    update_video(
        client,
        video_id,
        status={"privacyStatus": privacy, "selfDeclaredMadeForKids": False},
        quota_wait_seconds=quota_wait_seconds,
    )


def delete_video(client: Any, video_id: str, quota_wait_seconds: int | None = None) -> bool:
    """Delete the video; False when it was already gone (so a retry is a no-op)."""
    from googleapiclient.errors import HttpError

    try:
        client.videos().delete(id=video_id).execute(num_retries=3)
    except HttpError as err:
        if err.resp.status == 404:
            return False
        quota = _quota_error(err, quota_wait_seconds)
        if quota:
            raise quota from err
        raise
    return True


def error_reason(err: Any) -> str:
    """The machine-readable reason of a Google API error (``quotaExceeded``…), or ''."""
    try:
        error = json.loads(err.content)["error"]
    except (ValueError, KeyError, TypeError):
        return ""
    for item in error.get("errors", []) + error.get("details", []):
        if isinstance(item, dict) and item.get("reason"):
            return item["reason"]
    return ""


def _quota_error(err: Any, quota_wait_seconds: int | None) -> QuotaExhausted | None:
    reason = error_reason(err)
    if err.resp.status not in (403, 429) or reason not in QUOTA_REASONS:
        return None
    return QuotaExhausted(reason, next_attempt(reason, datetime.now(UTC), quota_wait_seconds))


def next_attempt(reason: str, now: datetime, wait_seconds: int | None = None) -> datetime:
    """When to try again: the configured wait, else 5 min past the next Pacific midnight (daily quota)
    or one hour (per-channel upload cap, a rolling window)."""
    if wait_seconds:
        return now + timedelta(seconds=wait_seconds)
    if reason == "uploadLimitExceeded":
        return now + timedelta(hours=1)
    pacific = now.astimezone(ZoneInfo("America/Los_Angeles"))
    midnight = (pacific + timedelta(days=1)).replace(hour=0, minute=5, second=0, microsecond=0)
    return midnight.astimezone(UTC)


SNIPPET_FIELDS = ("title", "description", "tags", "categoryId", "defaultLanguage")


def update_snippet(
    client: Any, video_id: str, *, quota_wait_seconds: int | None = None, **fields: Any
) -> dict[str, Any] | None:
    """Replace some snippet fields (``title=…``, ``description=…``, ``tags=[…]``) and keep the others.

    ``videos.update`` replaces every mutable field of the snippet, so the video's current snippet is read
    first and sent whole (title, description, tags, categoryId, defaultLanguage) with the given fields
    replaced. Returns the updated snippet, or None when the video already shows these values (then no
    update is sent: an unchanged sheet costs one cheap read, not an update). ``LookupError`` when the
    video is gone; ``QuotaExhausted`` on quota errors.
    """
    from googleapiclient.errors import HttpError

    unknown = set(fields) - set(SNIPPET_FIELDS)
    if unknown:
        raise ValueError(f"update_snippet: not snippet fields: {', '.join(sorted(unknown))}")
    try:
        answer = client.videos().list(part="snippet", id=video_id).execute(num_retries=3)
    except HttpError as err:
        quota = _quota_error(err, quota_wait_seconds)
        if quota:
            raise quota from err
        raise
    items = answer.get("items", [])
    if not items:
        raise LookupError(f"YouTube video {video_id} not found")
    current = items[0].get("snippet") or {}
    if all(current.get(name) == value for name, value in fields.items()):
        log.info("YouTube video %s already shows %s; not updated", video_id, ", ".join(fields))
        return None
    snippet = {k: v for k, v in current.items() if k in SNIPPET_FIELDS}
    snippet.update(fields)
    updated = update_video(client, video_id, snippet=snippet, quota_wait_seconds=quota_wait_seconds)
    log.info("updated %s of YouTube video %s", ", ".join(fields), video_id)
    return updated.get("snippet", snippet)
