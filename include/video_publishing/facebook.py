"""Facebook Page videos through the Graph API: resumable upload, link, hide/delete, captions.

Connection ``facebook_default`` (type generic): ``login`` = the Page id, ``password`` = a long-lived Page
access token (``python -m include.video_publishing.credentials facebook`` prints one), extra
``graph_version`` (default ``DEFAULT_GRAPH_VERSION``) and, for the local stand-in only, ``api_endpoint``
(default ``https://graph.facebook.com``; the old ``graph-video`` host is deprecated for uploads).

Never uploading twice: the resumable upload has three phases on ``POST /{page-id}/videos`` —
``start`` (file size → ``video_id``, ``upload_session_id`` and the first byte range Facebook wants),
``transfer`` (one chunk per request at the offsets Facebook names; it answers with the next range) and
``finish`` (title and description; the video is published). The session is handed to ``on_session``
(the caller stores it in the ledger) right after ``start``, before any byte is sent, and again after every
chunk with the next offset. A retry given the stored session first asks Facebook for the video's
``status``: a video whose upload phase is already complete is only finished (``finish`` again) or
returned, a partial one resumes at the offset Facebook reports, a video Facebook no longer knows raises
``SessionGone`` (the caller starts over; the unfinished video was never published). A wrong offset is
corrected from the error Facebook returns (subcode 1363037 carries the expected range).

Rate limits: error codes 4 (application), 17 (user), 32 (Page) and 613 (calls per hour) raise
``RateLimited`` with the moment to try again: Facebook's ``estimated_time_to_regain_access`` (minutes,
in the ``X-Business-Use-Case-Usage``/``X-App-Usage`` headers) when given, else the configured wait, else
one hour. The caller defers on it like ``youtube.QuotaExhausted``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests

log = logging.getLogger(__name__)

CONN_ID = "facebook_default"
DEFAULT_API_ENDPOINT = "https://graph.facebook.com"
DEFAULT_GRAPH_VERSION = "v21.0"
RATE_LIMIT_CODES = frozenset({4, 17, 32, 613})
WRONG_OFFSET_SUBCODE = 1363037
DEFAULT_RATE_LIMIT_WAIT = timedelta(hours=1)
TIMEOUT = (10, 300)  # connect, read (a chunk of several MB on a slow link)
USAGE_HEADERS = ("X-Business-Use-Case-Usage", "X-Page-Usage", "X-App-Usage")


class GraphError(Exception):
    """A Graph API error answer (``error.code``, ``error.error_subcode``, ``error.error_data``)."""

    def __init__(self, status: int, error: dict[str, Any]) -> None:
        self.status = status
        self.code = int(error.get("code") or 0)
        self.subcode = int(error.get("error_subcode") or 0)
        self.error_data = error.get("error_data") or {}
        self.message = str(error.get("message") or "unknown Graph API error")
        super().__init__(f"Graph API {status} (#{self.code}/{self.subcode}): {self.message}")


class RateLimited(Exception):
    """Facebook throttled the app, user or Page; try again at ``retry_at`` (UTC)."""

    def __init__(self, code: int, message: str, retry_at: datetime) -> None:
        super().__init__(
            f"Facebook rate limit (#{code}) {message}; next attempt at {retry_at.isoformat(timespec='seconds')}"
        )
        self.reason = f"rate limit #{code}"
        self.code = code
        self.retry_at = retry_at


class SessionGone(Exception):
    """A stored upload session's video no longer exists on Facebook's side."""


@dataclass(frozen=True)
class PageCredentials:
    """What ``facebook_default`` holds."""

    page_id: str
    access_token: str
    api_endpoint: str = DEFAULT_API_ENDPOINT
    graph_version: str = DEFAULT_GRAPH_VERSION


@dataclass(frozen=True)
class VideoMetadata:
    """What the Page shows for the video."""

    title: str
    description: str


@dataclass(frozen=True)
class UploadSession:
    """A resumable upload in progress: stored in the ledger after ``start`` and after every chunk."""

    video_id: str
    upload_session_id: str
    file_size: int
    start_offset: int
    end_offset: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> UploadSession:
        return cls(
            video_id=str(data["video_id"]),
            upload_session_id=str(data["upload_session_id"]),
            file_size=int(data["file_size"]),
            start_offset=int(data["start_offset"]),
            end_offset=int(data["end_offset"]),
        )


def credentials_from_connection(conn_id: str = CONN_ID) -> PageCredentials:
    """The Page id and token of the Airflow connection, with a clear error naming what is missing."""
    from airflow.sdk.bases.hook import BaseHook

    conn = BaseHook.get_connection(conn_id)
    extra = conn.extra_dejson
    if not conn.login:
        raise ValueError(f"connection {conn_id!r}: login must be the Facebook Page id")
    if not conn.password:
        raise ValueError(f"connection {conn_id!r}: password must be a long-lived Page access token")
    return PageCredentials(
        page_id=str(conn.login),
        access_token=conn.password,
        api_endpoint=(extra.get("api_endpoint") or DEFAULT_API_ENDPOINT).rstrip("/"),
        graph_version=extra.get("graph_version") or DEFAULT_GRAPH_VERSION,
    )


class GraphClient:
    """A thin Graph API client for one Page token (``requests`` session, JSON answers, typed errors)."""

    def __init__(self, credentials: PageCredentials, *, rate_limit_wait_seconds: int | None = None) -> None:
        self.credentials = credentials
        self.rate_limit_wait_seconds = rate_limit_wait_seconds
        self.session = requests.Session()

    @classmethod
    def from_connection(
        cls, conn_id: str = CONN_ID, *, rate_limit_wait_seconds: int | None = None
    ) -> GraphClient:
        return cls(credentials_from_connection(conn_id), rate_limit_wait_seconds=rate_limit_wait_seconds)

    @property
    def page_id(self) -> str:
        return self.credentials.page_id

    def url(self, path: str) -> str:
        return f"{self.credentials.api_endpoint}/{self.credentials.graph_version}/{path.lstrip('/')}"

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        data: dict[str, Any] | None = None,
        files: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """One Graph API call with the Page token; raises ``RateLimited`` or ``GraphError`` on error."""
        if method in ("GET", "DELETE"):
            params = {**(params or {}), "access_token": self.credentials.access_token}
        else:
            data = {**(data or {}), "access_token": self.credentials.access_token}
        response = self.session.request(
            method, self.url(path), params=params, data=data, files=files, timeout=TIMEOUT
        )
        try:
            payload = response.json()
        except ValueError:
            payload = {}
        if response.ok and "error" not in payload:
            return payload
        error = payload.get("error") if isinstance(payload, dict) else None
        graph_error = GraphError(response.status_code, error or {"message": response.text[:200]})
        if graph_error.code in RATE_LIMIT_CODES:
            retry_at = _retry_at(response.headers, datetime.now(UTC), self.rate_limit_wait_seconds)
            raise RateLimited(graph_error.code, graph_error.message, retry_at) from graph_error
        raise graph_error

    def get(self, path: str, **params: Any) -> dict[str, Any]:
        return self.request("GET", path, params=params)

    def post(self, path: str, files: dict[str, Any] | None = None, **data: Any) -> dict[str, Any]:
        return self.request("POST", path, data=data, files=files)


def _retry_at(headers: Any, now: datetime, wait_seconds: int | None) -> datetime:
    """When to try again: the configured wait when set (as ``youtube.next_attempt``), else when Facebook
    says access returns (largest ``estimated_time_to_regain_access``, in minutes), else one hour."""
    if wait_seconds:
        return now + timedelta(seconds=wait_seconds)
    minutes = 0
    for name in USAGE_HEADERS:
        raw = headers.get(name)
        if not raw:
            continue
        try:
            usage = json.loads(raw)
        except ValueError:
            continue
        if name == "X-Business-Use-Case-Usage" and isinstance(usage, dict):
            entries = [e for group in usage.values() if isinstance(group, list) for e in group]
        else:
            entries = [usage]
        for entry in entries:
            if isinstance(entry, dict):
                minutes = max(minutes, int(entry.get("estimated_time_to_regain_access") or 0))
    return now + (timedelta(minutes=minutes) if minutes else DEFAULT_RATE_LIMIT_WAIT)


def upload_video(
    client: GraphClient,
    path: Path,
    metadata: VideoMetadata,
    *,
    session: dict[str, Any] | None,
    on_session: Callable[[dict[str, Any]], None],
    progress: Callable[[int, int], None] | None = None,
    chunk_retries: int = 3,
    retry_delay: float = 2.0,
) -> str:
    """Upload ``path`` to the Page (resuming ``session`` when given) and return the published video's id.

    ``on_session`` receives ``UploadSession.to_dict()`` after ``start`` and after every chunk; store it and
    pass it back as ``session`` on a retry. A chunk that fails transiently (connection lost, timeout, 5xx)
    is sent again up to ``chunk_retries`` times, ``retry_delay`` doubling each time, before the error
    reaches the caller. Raises ``SessionGone`` when the stored video no longer exists, ``RateLimited`` when
    Facebook throttles, ``GraphError`` or ``requests.RequestException`` otherwise.
    """
    size = path.stat().st_size
    if session:
        state = UploadSession.from_dict(session)
        if state.file_size != size:
            raise SessionGone(
                f"stored session {state.upload_session_id} was opened for {state.file_size} bytes, "
                f"the file has {size}"
            )
        status = video_status(client, state.video_id)
        if status.get("publishing_phase") == "complete":
            log.info("Facebook video %s was already finished; not uploading again", state.video_id)
            return state.video_id
        if status.get("uploading_phase") == "complete":
            state = UploadSession(state.video_id, state.upload_session_id, size, size, size)
        log.info("resuming Facebook upload %s at byte %d of %d", state.video_id, state.start_offset, size)
    else:
        answer = client.post(f"{client.page_id}/videos", upload_phase="start", file_size=str(size))
        state = UploadSession(
            video_id=str(answer["video_id"]),
            upload_session_id=str(answer["upload_session_id"]),
            file_size=size,
            start_offset=int(answer["start_offset"]),
            end_offset=int(answer["end_offset"]),
        )
        on_session(state.to_dict())
    next_report = 0.0
    with path.open("rb") as source:
        while state.start_offset < state.end_offset:
            state = _transfer_retrying(client, source, state, chunk_retries, retry_delay)
            on_session(state.to_dict())
            if progress:
                progress(state.start_offset, size)
            elif state.start_offset / size >= next_report:
                log.info("Facebook upload %s: %d of %d bytes", state.video_id, state.start_offset, size)
                next_report += 0.1
    client.post(
        f"{client.page_id}/videos",
        upload_phase="finish",
        upload_session_id=state.upload_session_id,
        title=metadata.title,
        description=metadata.description,
    )
    return state.video_id


def _transfer_retrying(
    client: GraphClient, source: Any, state: UploadSession, retries: int, delay: float
) -> UploadSession:
    """``_transfer`` again after a transient failure; a chunk that did arrive is then corrected by the
    offset Facebook expects, so nothing is stored twice."""
    attempt = 0
    while True:
        try:
            return _transfer(client, source, state)
        except (requests.ConnectionError, requests.Timeout, GraphError) as err:
            transient = not isinstance(err, GraphError) or err.status >= 500
            if not transient or attempt >= retries:
                raise
            wait = delay * 2**attempt
            log.warning(
                "Facebook chunk at byte %d failed (%s); again in %.0f s", state.start_offset, err, wait
            )
            time.sleep(wait)
            attempt += 1


def _transfer(client: GraphClient, source: Any, state: UploadSession) -> UploadSession:
    """Send the chunk Facebook asked for; returns the session with the next range it asks for."""
    source.seek(state.start_offset)
    chunk = source.read(state.end_offset - state.start_offset)
    try:
        answer = client.post(
            f"{client.page_id}/videos",
            files={"video_file_chunk": ("chunk", chunk, "application/octet-stream")},
            upload_phase="transfer",
            upload_session_id=state.upload_session_id,
            start_offset=str(state.start_offset),
        )
    except GraphError as err:
        expected = err.error_data
        if err.subcode != WRONG_OFFSET_SUBCODE or "start_offset" not in expected:
            raise
        log.warning(
            "Facebook expects bytes %s-%s; continuing there", expected["start_offset"], expected["end_offset"]
        )
        answer = expected
    return UploadSession(
        state.video_id,
        state.upload_session_id,
        state.file_size,
        int(answer["start_offset"]),
        int(answer["end_offset"]),
    )


def video_status(client: GraphClient, video_id: str) -> dict[str, str]:
    """``{"video_status", "uploading_phase", "processing_phase", "publishing_phase"}`` of a video.

    Raises ``SessionGone`` when Facebook does not know the video (deleted, or an upload that expired).
    """
    try:
        answer = client.get(video_id, fields="status")
    except GraphError as err:
        if err.code == 100 or err.status == 404:
            raise SessionGone(f"Facebook video {video_id} is gone: {err.message}") from err
        raise
    status = answer.get("status") or {}
    return {
        "video_status": str(status.get("video_status", "")),
        **{
            phase: str((status.get(phase) or {}).get("status", ""))
            for phase in ("uploading_phase", "processing_phase", "publishing_phase")
        },
    }


def video_url(client: GraphClient, video_id: str) -> str:
    """The Page's URL of the video (Graph API ``permalink_url``, relative to facebook.com)."""
    permalink = client.get(video_id, fields="permalink_url").get("permalink_url") or ""
    if permalink.startswith("http"):
        return permalink
    if permalink:
        return f"https://www.facebook.com{permalink}"
    return f"https://www.facebook.com/{client.page_id}/videos/{video_id}/"


def hide_video(client: GraphClient, video_id: str) -> None:
    """Take a video off the Page without deleting it (``expire_now``); idempotent: hiding twice is fine."""
    client.post(video_id, expire_now="true")


def delete_video(client: GraphClient, video_id: str) -> None:
    """Delete a video; a video that is already gone counts as deleted (so a retry converges)."""
    try:
        client.request("DELETE", video_id)
    except GraphError as err:
        if err.code != 100 and err.status != 404:
            raise
        log.info("Facebook video %s was already deleted", video_id)


def upload_captions(client: GraphClient, video_id: str, vtt_text: str, locale: str = "en_US") -> None:
    """Attach captions to a video. Facebook takes SubRip files named ``<name>.<locale>.srt``; uploading the
    same locale again replaces the previous file, so a retry converges."""
    from include.video_publishing.transcription.captions import vtt_to_srt

    srt = vtt_to_srt(vtt_text)
    client.post(
        f"{video_id}/captions",
        files={"captions_file": (f"captions.{locale}.srt", srt.encode("utf-8"), "application/x-subrip")},
        default_locale=locale,
    )


def facebook_locale(language: str) -> str:
    """Facebook's locale for a BCP 47 language code: ``en-US`` → ``en_US``, ``de`` → ``de_DE``."""
    lang, _, region = language.replace("_", "-").partition("-")
    return f"{lang.lower()}_{(region or lang).upper()}"


def update_video(
    client: GraphClient, video_id: str, *, title: str | None = None, description: str | None = None
) -> None:
    """Change a Page video's title and/or description (``POST /<video-id>``); setting the same values
    again is harmless, so a retry converges."""
    fields = {k: v for k, v in (("title", title), ("description", description)) if v is not None}
    if not fields:
        raise ValueError("facebook.update_video needs a title or a description")
    client.post(video_id, **fields)
    log.info("updated %s of Facebook video %s", ", ".join(fields), video_id)
