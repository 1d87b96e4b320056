"""Task bodies of the captions branch of ``talkbot_publish_video`` (named after their task ids), and the
reconcile step that retries captions.

Transcription runs beside publishing, never in front of it: ``transcription_plan`` (after the library
copy) says what to transcribe, ``transcribe`` (``TranscribeTalkOperator``, pool ``transcribe``) runs the
conference's engine — on the worker for ``local``, deferring while Amazon Transcribe works for ``aws`` —
and ``record_captions`` (trigger rule ``all_done``, after ``publish_video``) turns the transcript into
WebVTT in the library, YouTube captions + keyword tags, Facebook captions, the ``CAPTIONS``/``KEYWORDS``
cells and the ledger's ``captions`` entry.

Why ``record_captions`` never fails: it is a leaf, and in Airflow 3 the leaves decide a run's state. A
transcription or caption failure is recorded (``captions.state = "failed"`` with ``error``) and alerted,
and the run keeps the state publishing gave it; ``retry_captions`` (in ``talkbot_reconcile``) tries again.

Ledger (version record): ``captions`` = ``{"state": "done" | "partial" | "failed", "vtt", "tags",
"destinations": {"youtube": {"caption_id", "tags"}, "facebook": {"state"}}, "error", "engine", "at"}``;
``metadata.tags`` = the tags the YouTube video shows. Idempotent: the .vtt is overwritten with the same
text, a destination already done is not sent again, YouTube's track is updated in place.
"""

from __future__ import annotations

import logging
from typing import Any

from include.common import s3
from include.common.tasks import skip
from include.video_publishing import talks
from include.video_publishing.config import Conference, load_config
from include.video_publishing.ledger import Ledger, destination_states, now
from include.video_publishing.transcription.operator import TranscribeOperator

log = logging.getLogger(__name__)

CAPTION_DESTINATIONS = ("youtube", "facebook")


# --- transcription_plan / transcribe -----------------------------------------------------------------


def transcription_plan(job: dict[str, Any]) -> dict[str, Any]:
    """What ``transcribe`` runs on: the engine settings, the library object, language and a job name that
    is deterministic per talk version (a retried Amazon Transcribe submit finds its job). Skips (and so
    does the captions branch) when the conference has no transcription."""
    conference = load_config().conference(job["conference"])
    settings = conference.transcription
    if not settings.enabled:
        skip(f"conference {conference.slug}: transcription is off")
    return {
        "settings": settings.engine_settings(),
        "bucket": conference.library_bucket,
        "key": conference.library_key(job["uuid"]),
        "language": settings.language,
        "job_name": job_name(job),
    }


def job_name(job: dict[str, Any]) -> str:
    """``talkbot-<uuid>-<identity>`` cut to Transcribe's alphabet and length."""
    raw = f"talkbot-{job['uuid']}-{job['identity']}"
    return "".join(c if c.isalnum() or c in "._-" else "-" for c in raw)[:200]


class TranscribeTalkOperator(TranscribeOperator):
    """``TranscribeOperator`` fed by ``transcription_plan``'s XCom (settings are only known at run time),
    recording a failure in the ledger before it is raised (so Airflow retries, and ``record_captions``
    can tell why there is no transcript)."""

    template_fields = ("plan", "job")

    def __init__(self, *, plan: Any, job: Any, **kwargs: Any) -> None:
        super().__init__(settings={}, bucket="", key="", language="", job_name="", **kwargs)
        self.plan = plan
        self.job = job

    def _load_plan(self) -> None:
        self.settings = self.plan["settings"]
        self.bucket, self.key = self.plan["bucket"], self.plan["key"]
        self.language, self.job_name = self.plan["language"], self.plan["job_name"]

    def execute(self, context: Any) -> dict[str, Any]:
        self._load_plan()
        with _noting_failure(self.job, "transcribe"):
            return super().execute(context)

    def execute_complete(self, context: Any, event: dict[str, Any]) -> dict[str, Any]:
        self._load_plan()
        with _noting_failure(self.job, "transcribe"):
            return super().execute_complete(context, event)


class _noting_failure:
    """Record ``captions.state=failed`` + the error for any exception (the deferral signal passes)."""

    def __init__(self, job: dict[str, Any], step: str) -> None:
        self.job, self.step = job, step

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, err: BaseException | None, tb: Any) -> bool:
        from airflow.sdk.exceptions import TaskDeferred

        if err is not None and not isinstance(err, TaskDeferred):
            _set_captions(_ledger(self.job), self.job, state="failed", error=f"{self.step}: {err}")
        return False


# --- record_captions ----------------------------------------------------------------------------------


def record_captions(job: dict[str, Any] | None, transcript: dict[str, Any] | None) -> dict[str, Any]:
    """Captions and keywords onto everything published so far; never raises (see the module doc).

    ``transcript`` is ``transcribe``'s XCom (None when it failed or was skipped). Returns the ledger's
    ``captions`` entry.
    """
    if not job:
        skip("no job: the upload was not inspected")
    conference = load_config().conference(job["conference"])
    if not conference.transcription.enabled:
        skip(f"conference {conference.slug}: transcription is off")
    ledger = _ledger(job)
    if transcript is None:
        previous = ((ledger.read(job["uuid"], job["identity"]) or {}).get("captions") or {}).get("error")
        return _fail(ledger, job, previous or "transcribe: no transcript (the task failed; see its log)")
    try:
        return apply_captions(job, conference, transcript, ledger)
    except Exception as err:  # recorded + alerted; the publication stands
        log.exception("captions for talk %s failed", job["uuid"])
        return _fail(ledger, job, f"record_captions: {type(err).__name__}: {err}")


def apply_captions(
    job: dict[str, Any], conference: Conference, transcript_data: dict[str, Any], ledger: Ledger
) -> dict[str, Any]:
    """Store the WebVTT, put captions and tags on each published destination not yet done, write the
    sheet's optional columns and the ledger. Returns the ``captions`` entry (state ``partial`` while a
    destination of the conference is not published yet; ``retry_captions`` completes it)."""
    from include.video_publishing.transcription.captions import to_webvtt
    from include.video_publishing.transcription.keywords import keyword_tags
    from include.video_publishing.transcription.model import Transcript

    transcript = Transcript.from_dict(transcript_data)
    if not transcript.words:
        raise ValueError("the transcript has no words (silence, or a language the engine does not know)")
    vtt = to_webvtt(transcript)
    key = conference.captions_key(job["uuid"])
    s3.client().put_object(
        Bucket=conference.library_bucket,
        Key=key,
        Body=vtt.encode("utf-8"),
        ContentType="text/vtt; charset=utf-8",
        Metadata={"talkbot-identity": job["identity"], "talkbot-uuid": job["uuid"]},
    )
    vtt_url = conference.captions_url(job["uuid"])
    tags = keyword_tags(
        transcript.text,
        job.get("title", ""),
        job.get("description", ""),
        language=transcript.language if transcript.language != "und" else "en",
        fixed_tags=conference.youtube.tags,
    )
    record = ledger.read(job["uuid"], job["identity"]) or {}
    published = destination_states(record)
    done = dict(((record.get("captions") or {}).get("destinations")) or {})
    missing: list[str] = []
    for destination in conference.publishers:
        if destination not in CAPTION_DESTINATIONS:
            continue
        video_id = (published.get(destination) or {}).get("video_id")
        if not video_id or (published.get(destination) or {}).get("status") not in (None, "published"):
            missing.append(destination)
            continue
        if done.get(destination, {}).get("video_id") == video_id and done[destination].get("state") == "done":
            continue  # a retry: already there
        done[destination] = _send(
            destination, conference, video_id, vtt=vtt, tags=tags, language=transcript.language
        )
        _set_captions(ledger, job, destinations=done)  # each destination recorded as soon as it is done
    talks.write_columns(conference, job["uuid"], {"CAPTIONS": vtt_url, "KEYWORDS": ", ".join(tags)})
    state = "partial" if missing else "done"
    entry = _set_captions(
        ledger,
        job,
        state=state,
        vtt=vtt_url,
        tags=tags,
        destinations=done,
        error=f"not published yet on {', '.join(missing)}" if missing else None,
        engine=transcript.engine,
        metadata_tags=tags if "youtube" in done else None,
    )
    log.info("talk %s: captions %s (%s), %d tags", job["uuid"], state, vtt_url, len(tags))
    return entry


def _send(
    destination: str, conference: Conference, video_id: str, *, vtt: str, tags: list[str], language: str
) -> dict[str, Any]:
    from include.video_publishing.transcription import destinations

    language = "en-US" if language in ("und", "auto") else language
    if destination == "youtube":
        from include.video_publishing import youtube

        client = youtube.build_client()
        caption_id = destinations.youtube_captions(client, video_id, vtt, language)
        destinations.youtube_tags(client, video_id, tags)
        return {"state": "done", "video_id": video_id, "caption_id": caption_id, "tags": True, "at": now()}
    from include.video_publishing import facebook
    from include.video_publishing.publish import FACEBOOK_CONN_ID

    client = facebook.GraphClient.from_connection(
        FACEBOOK_CONN_ID, rate_limit_wait_seconds=conference.facebook.rate_limit_wait_seconds
    )
    destinations.facebook_captions(client, video_id, vtt, language)
    return {"state": "done", "video_id": video_id, "at": now()}


def _fail(ledger: Ledger, job: dict[str, Any], error: str) -> dict[str, Any]:
    """Record and alert a captions failure (the publication is not affected)."""
    from include.common.alerts import send_alert

    entry = _set_captions(ledger, job, state="failed", error=error)
    log.error("talk %s: captions failed: %s", job["uuid"], error)
    send_alert(
        f"Talkbot: captions failed for {job['uuid']}",
        f"captions failed for talk {job['uuid']} ({job.get('title', '')!r}), published without them: "
        f"{error}. talkbot_reconcile retries captions.",
    )
    return entry


# --- ledger -------------------------------------------------------------------------------------------


def _ledger(job: dict[str, Any]) -> Ledger:
    return Ledger.for_job(job)


def _set_captions(
    ledger: Ledger, job: dict[str, Any], *, metadata_tags: list[str] | None = None, **fields: Any
) -> dict[str, Any]:
    """Merge ``fields`` into the version record's ``captions`` (``metadata.tags`` too when given)."""

    def change(record: dict[str, Any]) -> None:
        captions = record.setdefault("captions", {})
        captions.update(fields)
        captions["at"] = now()
        if metadata_tags is not None:
            record.setdefault("metadata", {})["tags"] = list(metadata_tags)

    return ledger.update(job["uuid"], job["identity"], change)["captions"]


# --- retry_captions (talkbot_reconcile) ---------------------------------------------------------------


def retry_captions(limit: int = 20) -> list[dict[str, Any]]:
    """Published versions of conferences with transcription on whose captions failed, are partial or are
    missing: transcribe again on this worker (``local``) or collect a finished Amazon Transcribe job
    (``aws``: started here, collected by a later run), then ``apply_captions``. At most ``limit`` talks per
    run (transcription is slow); each failure is recorded again, never raised. Returns what was done."""
    config = load_config()
    done: list[dict[str, Any]] = []
    for conference in config.conferences.values():
        if not conference.transcription.enabled:
            continue
        ledger = Ledger.at(config.ledger, conference.library_bucket)
        for job in _needing_captions(ledger, conference):
            if len(done) >= limit:
                return done
            done.append(_retry_one(ledger, conference, job, config.ledger))
    return done


def _needing_captions(ledger: Ledger, conference: Conference) -> list[dict[str, Any]]:
    """Jobs (as the publish DAG builds them) of this conference's published versions without captions."""
    pages = ledger.client.get_paginator("list_objects_v2").paginate(
        Bucket=ledger.bucket, Prefix=f"{ledger.prefix}ledger/", Delimiter="/"
    )
    uuids = [
        p["Prefix"].rstrip("/").rsplit("/", 1)[-1] for page in pages for p in page.get("CommonPrefixes", [])
    ]
    jobs = []
    for uuid in uuids:
        record = _published_record(ledger, uuid)
        if not record or record.get("conference") != conference.slug:  # one ledger, many conferences
            continue
        if (record.get("captions") or {}).get("state") == "done":
            continue
        metadata = record.get("metadata") or {}
        jobs.append(
            {
                "uuid": uuid,
                "identity": record["identity"],
                "conference": conference.slug,
                "library_bucket": conference.library_bucket,
                "title": metadata.get("title") or record.get("title", ""),
                "description": metadata.get("description") or record.get("description", ""),
            }
        )
    return jobs


def _published_record(ledger: Ledger, uuid: str) -> dict[str, Any] | None:
    """The talk's published version record (the talk record's ``published``, else the newest one)."""
    published = (ledger.read_talk(uuid) or {}).get("published") or {}
    if published.get("identity"):
        record = ledger.read(uuid, published["identity"])
        if record:
            return record
    versions = [r for r in ledger.versions(uuid) if r.get("status") == "published" and r.get("identity")]
    return versions[-1] if versions else None


def _retry_one(ledger: Ledger, conference: Conference, job: dict[str, Any], location: str | None) -> dict:
    from include.video_publishing.transcription.engines import Media, Pending, engine_from_settings

    job = {**job, "ledger": location}
    settings = conference.transcription
    try:
        engine = engine_from_settings(settings.engine_settings(), field=f"{conference.slug}.transcription")
        media = Media(conference.library_bucket, conference.library_key(job["uuid"]))
        result = engine.submit(media, settings.language, job_name(job))
        if isinstance(result, Pending):
            event = _finished_job(engine, result.job_name)
            if event is None:
                entry = _set_captions(ledger, job, state="pending", error=f"transcribe job {result.job_name}")
                return {"uuid": job["uuid"], "state": entry["state"]}
            result = engine.collect(event)
        entry = apply_captions(job, conference, result.to_dict(), ledger)
    except Exception as err:
        log.exception("retrying captions of %s failed", job["uuid"])
        entry = _fail(ledger, job, f"retry_captions: {type(err).__name__}: {err}")
    return {"uuid": job["uuid"], "state": entry.get("state")}


def _finished_job(engine: Any, name: str) -> dict[str, Any] | None:
    """The trigger-style event of a finished Amazon Transcribe job, or None while it still runs."""
    status = engine._client().get_transcription_job(TranscriptionJobName=name)["TranscriptionJob"]
    state = status["TranscriptionJobStatus"]
    if state == "COMPLETED":
        return {"status": "completed", "job_name": name}
    if state == "FAILED":
        return {"status": "failed", "job_name": name, "failure_reason": status.get("FailureReason")}
    return None
