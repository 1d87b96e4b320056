"""Task bodies of ``talkbot_publish_video``: one function per task, named after its task id.

One run publishes one object version, every step idempotent through the ledger (see ``ledger``):

``inspect_upload`` → ``render_video`` → ``list_destinations`` → ``publish_video`` (one per destination)
→ ``notify_speakers`` → ``record_link``, plus ``record_failure`` when any of them finally failed. Between
tasks only a small JSON *job* travels (XCom); the video itself travels through S3, so any task may run on
any worker. ``publish_video`` runs inside ``operators.PublishVideoOperator``, which owns the (capped) waits
for YouTube's quota and Facebook's rate limits.

Per destination the version record holds ``destinations.<d>`` = ``{"video_id", "link", "status",
"upload_session" | "facebook_session", "playlist_item_id", "waiting_since", "replaced"}``; records written
before destinations existed have ``youtube`` instead, read (and carried over on the next write) as
``destinations.youtube``. Emails: ``emails.<address>`` = ``{"name", "state", "smtp", "at", "kind"}``.

Lifecycle (``STATUS`` in the talk sheet and ``status`` in the version record):

============  ==========================================================================================
uploaded      ``inspect_upload`` found the object and the talk (the run started)
processing    ``render_video`` started
processed     the library copy of this version is stored (``render_video`` or ``join_chunks``)
published     ``record_link`` wrote the link(s)
excluded      the talk sheet's EXCLUDE is set
superseded    a newer version of the talk exists; this run stopped (ledger only, never over a newer STATUS)
failed        a task finally failed (``record_failure``; never over ``published``)
============  ==========================================================================================

Status only moves forward for one version, so re-running an early task of a finished run never makes a
published talk look unfinished; only the talk's *current* version (``ledger.read_talk(uuid)["current"]``:
newest S3 ``LastModified``, then the event sequencer) writes the sheet.

Recuts: a newer version of a talk whose earlier version is published carries ``job["replaces"]`` =
``{"identity", "videos": {destination: video_id}}``; it is published as the replacement (new videos, the
previous ones get ``on_replace``, "updated recording" emails) and ``record_link`` moves the talk record's
``published`` entry into ``previous``. LINK keeps the published link until then. A run for an older
version stops as ``superseded`` (``ensure_current``) before every step with a side effect, so it never
overwrites the library object, the sheet or the ledger entry of a newer one.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC
from pathlib import Path
from typing import Any

from include.common import s3
from include.common.tasks import current_run_id, fail, skip
from include.video_publishing import talks
from include.video_publishing.config import Conference, load_config
from include.video_publishing.ledger import FINISHED, Ledger, destination_states, now
from include.video_publishing.naming import (
    TalkNameError,
    normalise_etag,
    object_identity,
    parse_talk_key,
    publish_run_id,
)

log = logging.getLogger(__name__)

SMTP_CONN_ID = "smtp_default"
YOUTUBE_CONN_ID = "youtube_default"
FACEBOOK_CONN_ID = "facebook_default"
STATUS_RANK = {"uploaded": 1, "processing": 2, "processed": 3, "published": 4}
STATUSES = ("not uploaded", *STATUS_RANK, "excluded", "superseded", "failed")
IDENTITY_METADATA = "talkbot-identity"


def _job_ledger(job: dict[str, Any]) -> Ledger:
    return Ledger.for_job(job)


def _ledger_update(job: dict[str, Any], **fields: Any) -> dict[str, Any]:
    def change(record: dict[str, Any]) -> None:
        record.update(fields)

    return _job_ledger(job).update(job["uuid"], job["identity"], change)


def _advance(job: dict[str, Any], conference: Conference, status: str, link: str | None = None) -> None:
    """Move STATUS forward in ledger and sheet; never back (a re-run of an early task is a no-op).

    The sheet is written only while this version is the talk's current one: an older version's run never
    writes over the STATUS of a newer one.
    """
    moved = {}

    def change(record: dict[str, Any]) -> None:
        moved["yes"] = STATUS_RANK[status] >= STATUS_RANK.get(record.get("status"), 0)
        if moved["yes"]:
            record["status"] = status
            record["last_error"] = None
            if link:
                record["link"] = link

    _job_ledger(job).update(job["uuid"], job["identity"], change)
    if moved["yes"] and is_current(job):
        talks.write_status(conference, job["uuid"], status, link)


def version_order(version: dict[str, Any]) -> tuple[str, str]:
    """Sort key of a talk version: S3 ``LastModified`` (ISO, UTC), then the event sequencer.

    Sequencers are hex strings of varying length; S3 says to pad the shorter one with zeros before a
    lexicographic comparison, done here by right-padding to a fixed width.
    """
    sequencer = (version.get("sequencer") or "").upper()
    return version.get("last_modified") or "", sequencer.ljust(64, "0") if sequencer else ""


def note_version(talk: dict[str, Any], version: dict[str, Any]) -> None:
    """Add (or refresh) ``version`` in the talk record's ``versions`` and set ``current`` = the newest.

    A ledger change: it only sets fields, so it may run twice on a write conflict.
    """
    versions = [v for v in talk.get("versions") or [] if v.get("identity") != version["identity"]]
    versions.append({k: v for k, v in version.items() if v not in (None, "") or k == "identity"})
    versions.sort(key=version_order)
    talk["versions"] = versions
    talk["current"] = versions[-1]["identity"]


def is_current(job: dict[str, Any], talk: dict[str, Any] | None = None) -> bool:
    """True when ``job``'s version is its talk's current one (or the talk record predates versions)."""
    if talk is None:
        talk = _job_ledger(job).read_talk(job["uuid"])
    current = talk.get("current")
    return not current or current == job["identity"]


def ensure_current(job: dict[str, Any]) -> None:
    """Skip the rest of the run when a newer version of the talk arrived since this run started.

    Called before every step with a side effect a newer version could be hurt by (library copy, uploads,
    emails, the sheet). The version record says ``superseded`` unless it was already published (a
    finished run stays what it was); nothing else is written.
    """
    talk = _job_ledger(job).read_talk(job["uuid"])
    if is_current(job, talk):
        return

    def change(record: dict[str, Any]) -> None:
        if record.get("status") != "published":
            record["status"] = "superseded"
        record["superseded_by"] = talk["current"]

    _job_ledger(job).update(job["uuid"], job["identity"], change)
    skip(f"talk {job['uuid']}: a newer version ({talk['current']}) arrived; this run stops as superseded")


def replaces(job: dict[str, Any], talk: dict[str, Any]) -> dict[str, Any] | None:
    """``{"identity", "videos": {destination: video_id}}`` of the talk's published version when it is
    another (older) version than ``job``'s; None for a first publication or a re-run of the published one.

    Without a talk record entry (talks published before talk records existed) the newest version record
    with status ``published`` is the published version.
    """
    published = talk.get("published")
    if not published:
        done = [r for r in _job_ledger(job).versions(job["uuid"]) if r.get("status") == "published"]
        if not done:
            return None
        newest = done[-1]
        published = {
            "identity": newest.get("identity"),
            "destinations": {
                d: {"video_id": s.get("video_id"), "link": s.get("link")}
                for d, s in destination_states(newest).items()
            },
        }
    if not published.get("identity") or published["identity"] == job["identity"]:
        return None
    videos = {
        d: state["video_id"]
        for d, state in (published.get("destinations") or {}).items()
        if isinstance(state, dict) and state.get("video_id")
    }
    return {"identity": published["identity"], "videos": videos}


@contextmanager
def _noting_errors(job: dict[str, Any], step: str) -> Iterator[None]:
    """Write any error of ``step`` to the ledger's ``last_error`` before letting it propagate."""
    from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

    try:
        yield
    except (AirflowSkipException, AirflowFailException):
        raise  # recorded by the step itself, with a better message
    except Exception as err:
        try:
            _ledger_update(job, last_error=f"{step}: {type(err).__name__}: {err}", last_error_at=now())
        except Exception:
            log.exception("could not record the error in the ledger")
        raise


def inspect_upload(
    bucket: str,
    key: str,
    etag: str | None = None,
    version_id: str | None = None,
    sequencer: str | None = None,
) -> dict:
    """Check the object and look the talk up; returns the *job* every later task works from.

    Bad input (no conference, bad name, unknown talk) fails without retries and is recorded; an
    excluded talk is recorded and skips the rest of the run; an object replaced since the event is
    recorded as superseded and skipped (the new upload has its own event), one deleted since is skipped.

    The version is added to the talk record (``versions``, ``current``). An older version than the
    current one stops as ``superseded`` (no sheet write) unless it is a finished record (a duplicate
    delivery: skipped as is). A newer version of a published talk carries ``job["replaces"]``.
    ``STATUS=uploaded``. Idempotent: reads, plus ledger/sheet writes of the same values.
    """
    from botocore.exceptions import ClientError

    bucket, key = (bucket or "").strip(), (key or "").strip()
    if not bucket or not key:
        fail("Params bucket and key are required")
    config = load_config()
    conference = config.conference_for(bucket, key)
    if conference is None:
        fail(
            f"s3://{bucket}/{key}: no conference in talkbot_config has raw_bucket {bucket!r} with that prefix"
        )
    try:
        talk_file = parse_talk_key(key)
    except TalkNameError as err:
        fail(f"s3://{bucket}/{key}: {err}")
    head_args = {"Bucket": bucket, "Key": key, **({"VersionId": version_id} if version_id else {})}
    try:
        head = s3.client().head_object(**head_args)
    except ClientError as err:
        if s3.is_missing(err):
            where = f"s3://{bucket}/{key}{f' version {version_id}' if version_id else ''}"
            if etag or version_id:  # announced by an event, deleted since: nothing left to publish
                skip(f"{where} was deleted after its upload event; nothing to publish")
            fail(f"{where} does not exist")
        raise
    actual = normalise_etag(head["ETag"])
    etag = normalise_etag(etag) or actual
    job = {
        "conference": conference.slug,
        "bucket": bucket,
        "key": key,
        "etag": etag,
        "version_id": version_id or head.get("VersionId") or "",
        "size": head.get("ContentLength"),
        "uuid": talk_file.uuid,
        "start": talk_file.start,
        "end": talk_file.end,
        "identity": object_identity(bucket, key, etag),
        "run_id": publish_run_id(talk_file.uuid, bucket, key, etag),
        "library_bucket": conference.library_bucket,
        "library_key": conference.library_key(talk_file.uuid),
        "ledger": config.ledger,
    }
    run_id = current_run_id()

    def register(record: dict[str, Any]) -> None:
        for name in ("conference", "bucket", "key", "etag", "version_id", "run_id", "library_key"):
            record[name] = job[name]
        if run_id and run_id not in record.setdefault("run_ids", []):
            record["run_ids"].append(run_id)

    record = _job_ledger(job).update(job["uuid"], job["identity"], register)
    if actual != etag and not version_id:
        if record.get("status") != "published":  # a finished version stays what it was
            _ledger_update(
                job, status="superseded", last_error=f"object now has ETag {actual}, event said {etag}"
            )
        skip(
            f"s3://{bucket}/{key} was replaced since this event (ETag {etag} → {actual}); its own run handles it"
        )
    try:
        talk = talks.find_talk(conference, talk_file.uuid)
    except talks.TalkLookupError as err:
        _ledger_update(job, status="failed", last_error=f"inspect: {err}", last_error_at=now())
        fail(str(err))
    job.update(title=talk.title, description=talk.description, speakers=list(talk.speakers))
    _track_version(job, record, head, sequencer)
    if talk.excluded:
        if record.get("status") != "published":
            _ledger_update(job, status="excluded")
            talks.write_status(conference, talk.uuid, "excluded")
        skip(f"talk {talk.uuid} ({talk.title!r}) is marked EXCLUDE in the talk sheet")
    _advance(job, conference, "uploaded")
    log.info(
        "talk %s %r by %s: s3://%s/%s [%s–%s s], ledger status %s",
        talk.uuid, talk.title, ", ".join(talk.speakers) or "nobody", bucket, key,
        job["start"], job["end"], record.get("status") or "new",
    )  # fmt: skip
    return job


def _track_version(
    job: dict[str, Any], record: dict[str, Any], head: dict[str, Any], sequencer: str | None
) -> None:
    """Add this version to the talk record; skip an older one (superseded), mark a recut (``replaces``)."""
    last_modified = head.get("LastModified")
    version = {
        "identity": job["identity"],
        "key": job["key"],
        "etag": job["etag"],
        "version_id": job["version_id"],
        "last_modified": last_modified.astimezone(UTC).isoformat() if last_modified else None,
        "sequencer": sequencer or None,
    }
    talk_record = _job_ledger(job).update_talk(job["uuid"], lambda t: note_version(t, version))
    if not is_current(job, talk_record):
        if record.get("status") in FINISHED:
            skip(
                f"talk {job['uuid']}: this version is {record['status']} and a newer one exists; nothing to do"
            )
        ensure_current(job)  # records superseded and skips
    replaced = replaces(job, talk_record)
    if replaced:
        job["replaces"] = replaced
        log.info("talk %s: a recut of published version %s (%s)", job["uuid"], replaced["identity"],
                 ", ".join(f"{d} {v}" for d, v in replaced["videos"].items()) or "no videos")  # fmt: skip


@contextmanager
def _scratch(uuid: str) -> Iterator[Path]:
    """A private scratch folder named from the talk uuid (never the raw key), removed afterwards."""
    with tempfile.TemporaryDirectory(prefix=f"talkbot-{uuid}-") as folder:
        yield Path(folder)


def library_copy_is_current(client: Any, job: dict[str, Any]) -> bool:
    """True when the library already holds the render of exactly this object version."""
    from botocore.exceptions import ClientError

    try:
        head = client.head_object(Bucket=job["library_bucket"], Key=job["library_key"])
    except ClientError:
        return False
    return head.get("Metadata", {}).get(IDENTITY_METADATA) == job["identity"]


def render_video(job: dict[str, Any]) -> dict[str, Any]:
    """Cut, fade and encode the talk into ``s3://<library_bucket>/<library_prefix><uuid>.mp4``.

    Idempotent: the library object carries the source's identity in its metadata; a retry that finds it
    skips the render. A start/end the recording cannot satisfy fails without retries.
    """
    from include.video_publishing import talk_render

    conference = load_config().conference(job["conference"])
    ensure_current(job)
    client = s3.client()
    if library_copy_is_current(client, job):
        log.info("s3://%s/%s already holds this version's render", job["library_bucket"], job["library_key"])
        _advance(job, conference, "processed")
        return job
    _advance(job, conference, "processing")
    with _noting_errors(job, "render"), _scratch(job["uuid"]) as scratch:
        try:
            result = talk_render.render_upload(client, job, conference, scratch)
        except ValueError as err:
            _ledger_update(job, status="failed", last_error=f"render: {err}", last_error_at=now())
            fail(f"talk {job['uuid']}: {err}")
        _ledger_update(job, render=result.ledger())
        log.info("render path %s: %s", result.path, result.reason)
        if result.output is None:  # chunked: the mapped render_chunk tasks render, join_chunks stores
            return {**job, "render_chunks": result.chunks}
        store_render(client, job, result.output)
    log.info("rendered %.1f s in %.1f s → s3://%s/%s", result.duration, result.seconds,
             job["library_bucket"], job["library_key"])  # fmt: skip
    _advance(job, conference, "processed")
    return {**job, "duration": result.duration}


def store_render(client: Any, job: dict[str, Any], output: Path) -> None:
    """Upload a verified render as the library copy, tagged with the source's identity.

    Only while this version is still the talk's current one: a late older run never overwrites the
    library copy of a newer cut (``ensure_current`` skips it as superseded).
    """
    ensure_current(job)
    s3.upload(
        client, output, job["library_bucket"], job["library_key"], content_type="video/mp4",
        metadata={IDENTITY_METADATA: job["identity"], "talkbot-uuid": job["uuid"]},
    )  # fmt: skip


def join_chunks(job: dict[str, Any], chunks: list[dict] | None) -> dict[str, Any]:
    """Join a chunked render's chunks into the library copy; pass ``job`` through for other paths.

    Idempotent: a library copy of this version is kept; the chunk parts are deleted only after the
    joined copy is stored.
    """
    from include.video_publishing import talk_render

    if not job.get("render_chunks"):
        return job
    conference = load_config().conference(job["conference"])
    client = s3.client()
    with _noting_errors(job, "render"), _scratch(job["uuid"]) as scratch:
        if not library_copy_is_current(client, job):
            result = talk_render.join_chunk_uploads(job, conference, list(chunks or []), scratch)
            store_render(client, job, result.output)
            job = {**job, "duration": result.duration}
        talk_render.delete_chunks(job, conference)
    _advance(job, conference, "processed")
    return job


def destination_state(record: dict[str, Any] | None, destination: str) -> dict[str, Any]:
    """``destinations.<destination>`` of a version record (old records' ``youtube`` field included)."""
    return destination_states(record).get(destination) or {}


def update_destination(
    job: dict[str, Any], destination: str, change: Any = None, **fields: Any
) -> dict[str, Any]:
    """Set ``fields`` of ``destinations.<destination>`` in the version record (and apply ``change`` to it);
    an old record's ``youtube`` field is carried over first. Returns the destination's stored state."""

    def apply(record: dict[str, Any]) -> None:
        destinations = record.setdefault("destinations", {})
        if destination not in destinations and destination == "youtube" and record.get("youtube"):
            destinations["youtube"] = dict(record["youtube"])
        state = destinations.setdefault(destination, {})
        state.update(fields)
        if change:
            change(record, state)

    return destination_state(_job_ledger(job).update(job["uuid"], job["identity"], apply), destination)


def list_destinations(job: dict[str, Any]) -> list[str]:
    """The conference's destinations, in order (what ``publish_video`` is mapped over)."""
    return list(load_config().conference(job["conference"]).publishers)


def publish_video(job: dict[str, Any], destination: str) -> dict[str, Any]:
    """Put the rendered talk on one destination; returns ``{"destination", "link", "video_id"}``.

    ``library``: the link is the library object's URL. ``youtube``: a resumable upload, then the playlist
    insert. ``facebook``: the Graph API's resumable upload to the Page. Never uploads one object version
    twice to a destination: the ledger's ``destinations.<d>`` holds the upload session (stored before any
    byte is sent, for Facebook again after every chunk with the next offset) and then the video id; a
    retry resumes or reuses them. Each destination is its own mapped task, so one failing never repeats
    another. Raises ``youtube.QuotaExhausted`` / ``facebook.RateLimited`` for the operator to defer.
    After a recut (``job["replaces"]``) the previous video on this destination gets ``on_replace``.
    """
    conference = load_config().conference(job["conference"])
    ensure_current(job)
    with _noting_errors(job, f"publish {destination}"):
        if destination == "library":
            link, video_id = conference.library_url(job["uuid"]), None
            update_destination(job, "library", link=link)
        elif destination == "youtube":
            video_id, link = _publish_youtube(job, conference)
        elif destination == "facebook":
            video_id, link = _publish_facebook(job, conference)
        else:
            fail(f"conference {conference.slug}: unknown destination {destination!r}")
        apply_on_replace(job, conference, destination, video_id)
        update_destination(job, destination, status="published", waiting_since=None)  # waits end here
    log.info("talk %s on %s: %s", job["uuid"], destination, link)
    return {"destination": destination, "link": link, "video_id": video_id}


def _metadata_texts(job: dict[str, Any]) -> tuple[str, str]:
    from include.video_publishing.text import youtube_description, youtube_title

    return youtube_title(job["title"]), youtube_description(job["description"], job["speakers"])


def _publish_youtube(job: dict[str, Any], conference: Conference) -> tuple[str, str]:
    from include.video_publishing import youtube

    state = destination_state(_job_ledger(job).read(job["uuid"], job["identity"]), "youtube")
    settings = conference.youtube
    client = None
    video_id = state.get("video_id")
    if video_id:
        log.info("talk %s is already YouTube video %s; not uploading again", job["uuid"], video_id)
    else:
        client = youtube.build_client(YOUTUBE_CONN_ID)
        title, description = _metadata_texts(job)
        metadata = youtube.VideoMetadata(
            title=title,
            description=description,
            tags=settings.tags,
            category_id=settings.category_id,
            privacy_status=settings.privacy_status,
        )
        video_id = _upload_once(client, job, metadata, state, settings)
        update_destination(job, "youtube", video_id=video_id, upload_session=None)
    if settings.playlist_id and not state.get("playlist_item_id"):
        client = client or youtube.build_client(YOUTUBE_CONN_ID)
        item = youtube.add_to_playlist(client, settings.playlist_id, video_id, settings.quota_wait_seconds)
        update_destination(job, "youtube", playlist_item_id=item, playlist_id=settings.playlist_id)
        log.info("added %s to playlist %s", video_id, settings.playlist_id)
    link = youtube.watch_url(video_id)
    update_destination(job, "youtube", link=link)
    return video_id, link


@contextmanager
def _library_copy(
    job: dict[str, Any], state: dict[str, Any], session_field: str
) -> Iterator[tuple[Path, Any, str]]:
    """Download the library copy to scratch; yields (path, the stored session or None, the copy's ETag).

    The copy must be this version's render (its identity metadata), or one without it (older renders).

    The session in ``state[session_field]`` is kept only when it was opened for these same bytes: after a
    re-render, resuming would splice two files, and an unfinished session can never become a video, so a
    new one is safe. Never log a session: a YouTube session URI is a bearer credential for the upload.
    """
    client_s3 = s3.client()
    head = client_s3.head_object(Bucket=job["library_bucket"], Key=job["library_key"])
    source_etag = head["ETag"]
    stored = (head.get("Metadata") or {}).get(IDENTITY_METADATA)
    if stored and stored != job["identity"]:  # another version's render: never send it as this one's
        ensure_current(job)  # skips when a newer version stored it
        raise RuntimeError(
            f"the library copy of talk {job['uuid']} is the render of {stored}, not this version"
        )
    session = state.get(session_field)
    if session and state.get("upload_source_etag") != source_etag:
        log.warning("library copy changed since the %s upload started; starting a new one", session_field)
        session = None
    with _scratch(job["uuid"]) as scratch:
        path = s3.download(
            client_s3, job["library_bucket"], job["library_key"], scratch / f"{job['uuid']}.mp4",
            IfMatch=source_etag,
        )  # fmt: skip
        yield path, session, source_etag


def _upload_once(
    client: Any, job: dict[str, Any], metadata: Any, state: dict[str, Any], settings: Any
) -> str:
    """Upload the library copy, resuming the session in ``state`` when it was opened for these same bytes."""
    from include.video_publishing import youtube

    def remember(uri: str) -> None:
        update_destination(
            job, "youtube", upload_session=uri, upload_source_etag=source_etag, upload_started_at=now()
        )

    def progress(done: int, total: int) -> None:
        percent = 100 * done / max(total, 1)
        log.info("YouTube upload of %s: %.1f/%.1f MB (%.0f%%)", job["uuid"], done / 1e6, total / 1e6, percent)

    with _library_copy(job, state, "upload_session") as (path, session, source_etag):
        kwargs = {
            "chunk_size": settings.chunk_size_kb * 1024,
            "on_session": remember,
            "quota_wait_seconds": settings.quota_wait_seconds,
            "progress": progress,
        }
        try:
            return youtube.upload_video(client, path, metadata, session_uri=session, **kwargs)
        except youtube.SessionGone as gone:
            log.warning("%s; starting a new upload session", gone)
            return youtube.upload_video(client, path, metadata, session_uri=None, **kwargs)


def _facebook_client(conference: Conference) -> Any:
    from include.video_publishing import facebook

    return facebook.GraphClient.from_connection(
        FACEBOOK_CONN_ID, rate_limit_wait_seconds=conference.facebook.rate_limit_wait_seconds
    )


def _publish_facebook(job: dict[str, Any], conference: Conference) -> tuple[str, str]:
    """Resumable upload to the Page; the session (and the next offset) is in the ledger after every chunk."""
    from include.video_publishing import facebook

    state = destination_state(_job_ledger(job).read(job["uuid"], job["identity"]), "facebook")
    client = _facebook_client(conference)
    video_id = state.get("video_id")
    if video_id:
        log.info("talk %s is already Facebook video %s; not uploading again", job["uuid"], video_id)
    else:
        title, description = _metadata_texts(job)
        metadata = facebook.VideoMetadata(title=title, description=description)
        video_id = _facebook_upload_once(client, job, metadata, state)
        update_destination(job, "facebook", video_id=video_id, facebook_session=None)
    link = state.get("link") or facebook.video_url(client, video_id)  # a stored link belongs to video_id
    update_destination(job, "facebook", link=link)
    return video_id, link


def _facebook_upload_once(client: Any, job: dict[str, Any], metadata: Any, state: dict[str, Any]) -> str:
    from include.video_publishing import facebook

    def remember(current: dict[str, Any]) -> None:
        fields = {"facebook_session": current, "upload_source_etag": source_etag}
        if not state.get("upload_started_at"):
            fields["upload_started_at"] = now()
        update_destination(job, "facebook", **fields)

    def progress(done: int, total: int) -> None:
        log.info("Facebook upload of %s: %.1f/%.1f MB", job["uuid"], done / 1e6, total / 1e6)

    with _library_copy(job, state, "facebook_session") as (path, session, source_etag):
        try:
            return facebook.upload_video(
                client, path, metadata, session=session, on_session=remember, progress=progress
            )
        except facebook.SessionGone as gone:
            log.warning("%s; starting a new Facebook upload", gone)
            return facebook.upload_video(
                client, path, metadata, session=None, on_session=remember, progress=progress
            )


def apply_on_replace(
    job: dict[str, Any], conference: Conference, destination: str, video_id: str | None
) -> dict[str, Any] | None:
    """After a recut is up on ``destination``: the previous video there gets ``conference.on_replace``.

    YouTube ``private`` → set private, ``delete`` → deleted; Facebook ``private`` → hidden from the Page,
    ``delete`` → deleted; ``keep`` → nothing. Recorded in ``destinations.<d>.replaced``; a retry that
    finds it recorded does nothing again. Returns what was recorded (None when nothing was replaced).
    """
    old = ((job.get("replaces") or {}).get("videos") or {}).get(destination)
    if not old or old == video_id or destination == "library":
        return None
    state = destination_state(_job_ledger(job).read(job["uuid"], job["identity"]), destination)
    done = state.get("replaced") or {}
    if done.get("video_id") == old:
        log.info("previous %s video %s was already handled (%s)", destination, old, done.get("action"))
        return done
    action = conference.on_replace
    if action != "keep":
        if destination == "youtube":
            from include.video_publishing import youtube

            client = youtube.build_client(YOUTUBE_CONN_ID)
            wait = conference.youtube.quota_wait_seconds
            try:
                if action == "delete":
                    youtube.delete_video(client, old, wait)
                else:
                    youtube.set_privacy(client, old, "private", wait)
            except LookupError:
                log.warning("previous YouTube video %s is gone already", old)
        elif destination == "facebook":
            from include.video_publishing import facebook

            client = _facebook_client(conference)
            if action == "delete":
                facebook.delete_video(client, old)
            else:
                facebook.hide_video(client, old)
    replaced = {"video_id": old, "action": action, "at": now()}
    update_destination(job, destination, replaced=replaced)
    log.info("previous %s video %s: on_replace %s", destination, old, action)
    return replaced


def notify_speakers(job: dict[str, Any], results: Any = None) -> dict[str, Any]:
    """Email each speaker every destination's link: one email per address per object version.

    ``results`` are the mapped ``publish_video`` answers; the returned job carries ``links`` (destination →
    link, in the conference's order), ``videos`` and ``link`` (the first one). When ``job["replaces"]`` is
    set (a recut of a published talk) the email is the "updated recording" one (``email.update_subject``).

    Per recipient: each address is marked ``sending`` in the ledger before the SMTP call and ``sent`` after.
    An address the server refuses (or any SMTP error answer for it) is recorded ``failed`` with the answer
    (``"550 …"``), the others still get theirs, and one alert names the failed addresses; the task succeeds
    so the link is still recorded. A retry sends only to addresses not yet ``sent`` (failed ones are tried
    again); an address left ``sending`` by a crashed worker is marked ``unconfirmed`` and not resent (never
    twice beats maybe twice). No connection to the server at all fails the task (retried as a whole).
    Speakers without an address are recorded in ``missing_emails``.
    """
    conference = load_config().conference(job["conference"])
    ensure_current(job)
    job = with_links(job, conference, results)
    kind = "updated" if job.get("replaces") else "published"
    ledger = _job_ledger(job)
    failures: list[tuple[str, str, str]] = []
    with _noting_errors(job, "notify"):
        addresses = talks.speaker_addresses(conference, job["speakers"])
        missing = sorted(name for name, address in addresses.items() if not address)
        for name in missing:
            log.warning(
                "speaker %r of talk %s has no EMAIL in the speaker sheet; not emailed", name, job["uuid"]
            )
        _ledger_update(job, missing_emails=missing)
        emails = (ledger.read(job["uuid"], job["identity"]) or {}).get("emails", {})
        pending = {}
        for name, address in addresses.items():
            if not address:
                continue
            state = emails.get(address.lower(), {}).get("state")
            if state == "sent":
                log.info("%s <%s> was already emailed; not again", name, address)
            elif state in ("sending", "unconfirmed"):
                log.warning("%s <%s>: an earlier try crashed while sending; not resending", name, address)
                _set_email(ledger, job, address, name, "unconfirmed", kind=kind)
            else:
                pending.setdefault(address.lower(), (name, address))
        if pending:
            failures = _send_emails(
                job, conference=conference, ledger=ledger, pending=pending, missing=missing, kind=kind
            )
    if failures:
        _alert_failed_emails(job, failures)
    return job


def _send_emails(
    job: dict[str, Any],
    *,
    conference: Conference,
    ledger: Ledger,
    pending: dict[str, tuple[str, str]],
    missing: list[str],
    kind: str,
) -> list[tuple[str, str, str]]:
    """Send to each pending address on one SMTP connection; returns (name, address, answer) of the refused."""
    from email.errors import HeaderParseError

    from include.video_publishing.mail import smtp_sender
    from include.video_publishing.text import email_subject, speaker_email

    failures: list[tuple[str, str, str]] = []
    template = conference.email.update_subject if kind == "updated" else conference.email.subject
    subject = email_subject(template, job["title"])
    with smtp_sender(SMTP_CONN_ID) as (send, default_from):
        sender = conference.email.sender or default_from
        if not sender:
            raise ValueError(f"conference {conference.slug}: set email.from or smtp_default's from_email")
        for done, (name, address) in enumerate(pending.values(), start=1):
            try:
                message = speaker_email(
                    to_name=name, to_address=address, sender=sender, subject=subject,
                    title=job["title"], links=job["links"], speakers=job["speakers"],
                    updated=kind == "updated",
                )  # fmt: skip
            except (ValueError, HeaderParseError, IndexError) as err:
                log.warning("speaker %r: unusable address %r (%s); not emailed", name, address, err)
                _ledger_update(job, missing_emails=sorted({*missing, name}))
                continue
            _set_email(ledger, job, address, name, "sending", kind=kind)
            try:
                send(message)
            except Exception as err:
                answer = smtp_answer(err, address)
                if answer is None:  # no answer about this address: the connection itself broke
                    _set_email(ledger, job, address, name, None)
                    raise
                _set_email(ledger, job, address, name, "failed", kind=kind, smtp=answer)
                log.error("%s <%s> was not emailed: the server answered %s", name, address, answer)
                failures.append((name, address, answer))
                continue
            _set_email(ledger, job, address, name, "sent", kind=kind)
            log.info("emailed %s <%s> (%d/%d)", name, address, done, len(pending))
    return failures


def with_links(job: dict[str, Any], conference: Conference, results: Any) -> dict[str, Any]:
    """The job with ``links``/``videos`` of every destination (conference order) and ``link`` = the first."""
    found = {r["destination"]: r for r in (results or []) if r}
    order = [d for d in conference.publishers if d in found] + [
        d for d in found if d not in conference.publishers
    ]
    if not found and job.get("link"):  # a job from before destinations were mapped
        return {**job, "links": job.get("links") or {conference.publisher: job["link"]}}
    links = {d: found[d]["link"] for d in order}
    videos = {d: found[d]["video_id"] for d in order if found[d].get("video_id")}
    return {**job, "links": links, "videos": videos, "link": next(iter(links.values()), None)}


def smtp_answer(err: BaseException, address: str) -> str | None:
    """``"<code> <text>"`` of an SMTP error answer about one message, or None for a broken connection."""
    import smtplib

    if isinstance(err, smtplib.SMTPRecipientsRefused):
        refused = err.recipients or {}
        code, text = refused.get(address) or next(iter(refused.values()), (0, b""))
    elif isinstance(err, smtplib.SMTPResponseException) and not isinstance(
        err, smtplib.SMTPServerDisconnected
    ):
        code, text = err.smtp_code, err.smtp_error
    else:
        return None
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    return f"{code} {' '.join(str(text).split())}"


def _alert_failed_emails(job: dict[str, Any], failures: list[tuple[str, str, str]]) -> None:
    from include.common.alerts import send_alert

    listed = "; ".join(f"{name} <{address}>: {answer}" for name, address, answer in failures)
    body = f"talk {job['uuid']} ({job['title']!r}) is published but these speakers were not emailed: {listed}"
    send_alert(f"Talkbot: email not delivered ({', '.join(a for _, a, _ in failures)})", body)


def _set_email(
    ledger: Ledger, job: dict[str, Any], address: str, name: str, state: str | None, **more: Any
) -> None:
    def change(record: dict[str, Any]) -> None:
        emails = record.setdefault("emails", {})
        if state is None:
            emails.pop(address.lower(), None)
        else:
            emails[address.lower()] = {"name": name, "state": state, "at": now(), **more}

    ledger.update(job["uuid"], job["identity"], change)


def record_link(job: dict[str, Any]) -> None:
    """Write LINK (first destination), ``<DESTINATION>_LINK`` where those columns exist, STATUS=published.

    Only for the talk's current version (``ensure_current``). The talk record's ``published`` becomes this
    version (its destinations' video ids and links); an older published entry moves to ``previous``.
    Idempotent: writes the same values again on a retry.
    """
    conference = load_config().conference(job["conference"])
    ensure_current(job)
    links = job.get("links") or {conference.publisher: job["link"]}
    link = job.get("link") or next(iter(links.values()))
    with _noting_errors(job, "record"):
        _advance(job, conference, "published", link=link)
        talks.write_links(conference, job["uuid"], links)
        record = _job_ledger(job).update(job["uuid"], job["identity"], _note_metadata(job))
        _job_ledger(job).update_talk(job["uuid"], _mark_published(job, record))
    log.info("talk %s published: %s", job["uuid"], ", ".join(f"{d} {u}" for d, u in links.items()))


def _mark_published(job: dict[str, Any], record: dict[str, Any]) -> Any:
    """A talk record change: ``published`` = this version, the one it replaces appended to ``previous``."""
    destinations = {
        d: {"video_id": s.get("video_id"), "link": s.get("link")}
        for d, s in destination_states(record).items()
    }

    def change(talk: dict[str, Any]) -> None:
        old = talk.get("published")
        if old and old.get("identity") != job["identity"]:
            previous = talk.setdefault("previous", [])
            if all(p.get("identity") != old.get("identity") for p in previous):
                previous.append({**old, "replaced_at": now(), "replaced_by": job["identity"]})
        at = old.get("at") if old and old.get("identity") == job["identity"] else now()
        talk["published"] = {"identity": job["identity"], "destinations": destinations, "at": at}

    return change


def _note_metadata(job: dict[str, Any]) -> Any:
    """A ledger change recording the title, description and speakers the destinations were given
    (``metadata``; other fields there, such as keyword ``tags``, are kept), so that reconcile can tell
    when the sheet changed since."""

    def change(record: dict[str, Any]) -> None:
        metadata = record.setdefault("metadata", {})
        metadata.setdefault("title", job["title"])
        metadata.setdefault("description", job["description"])
        metadata.setdefault("speakers", list(job["speakers"]))

    return change


def record_failure(job: dict[str, Any] | None) -> None:
    """After a task finally failed: STATUS=failed in the sheet and the ledger (the reason is already there).

    Never moves a talk back: a version record that is already published, excluded or superseded keeps
    its status (only ``failed_at`` is noted); the sheet is written only for the talk's current version,
    and when an earlier version of the talk is online the sheet goes back to ``published`` (its LINK was
    never changed) instead of ``failed``. ``job`` is None when inspect itself failed; inspect records its
    own failures. Idempotent: writes the same values again on a retry.
    """
    if not job:
        log.info("inspect_upload failed before a job existed; its reason is in its log and the ledger")
        return
    conference = load_config().conference(job["conference"])

    def change(record: dict[str, Any]) -> None:
        if record.get("status") not in FINISHED:
            record["status"] = "failed"
        record["failed_at"] = now()

    record = _job_ledger(job).update(job["uuid"], job["identity"], change)
    talk = _job_ledger(job).read_talk(job["uuid"])
    if record.get("status") != "failed":
        log.warning("talk %s: this version stays %s (a later step failed)", job["uuid"], record["status"])
    elif not is_current(job, talk):
        log.warning("talk %s: failed, but a newer version exists; its STATUS is left alone", job["uuid"])
    elif talk.get("published") or job.get("replaces"):
        talks.write_status(conference, job["uuid"], "published")
        log.error("talk %s: the recut failed; the published version stays online", job["uuid"])
    else:
        talks.write_status(conference, job["uuid"], "failed")
    log.error("talk %s failed: %s", job["uuid"], record.get("last_error") or "see the failed task's log")
