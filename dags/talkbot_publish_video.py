"""# talkbot_publish_video — one uploaded talk recording → library, YouTube/Facebook, speaker emails, talk sheet

Triggered by `talkbot_sqs_listener` and `talkbot_reconcile` with a deterministic run id per object
version, or by hand with the Params below. Tasks, each idempotent under clear-and-retry through the ledger
(`<talkbot_config.ledger>ledger/<uuid>/<identity>.json`, a private location), each moving the talk's `STATUS` forward:

1. **inspect_upload** — parse `<anything>_<uuid>_<HHMMSS>_<HHMMSS>.mp4`, check the object, look the talk
   up. Unknown uuid / bad name → failed (no retries, recorded). `EXCLUDE` → `STATUS=excluded`, rest skipped.
   Records the version in the talk record (`<ledger>talks/<uuid>.json`: `versions`, `current` = newest by S3
   `LastModified`, then the event sequencer). An older version than the current one → `superseded` in the
   ledger, rest skipped, the sheet untouched. A newer version of a published talk is a *recut* (below).
   `STATUS=uploaded`.
2. **render_video** (pool `render`) — `STATUS=processing`; read the index and the cut's bytes of the object
   (ranged GETs), then the *smart* path (re-encode only the fades' GOPs, copy the rest, cached sting in
   front) or the *full* path (one ffmpeg pass: cut, fades, sting, watermark, YouTube's H.264/AAC settings);
   verify, upload to `s3://<library_bucket>/<library_prefix><uuid>.mp4`. `STATUS=processed`. The ledger's
   `render.path`/`render.reason` say which and why. A full render longer than the conference's
   `chunk_minutes` takes the *chunked* path: **render_chunk** (mapped, pool `render`, one per chunk)
   then **join_chunks** store it instead.
3. **publish_video** — mapped over the conference's destinations (`publisher`, from **list_destinations**),
   one instance per destination labelled with its name, each recorded in the ledger's `destinations.<d>`
   and retried on its own (a Facebook failure never re-uploads to YouTube). `youtube`: resumable upload +
   playlist insert, never twice per object version. `facebook`: the Graph API's resumable upload to the
   Page (session and next offset in the ledger after every chunk, so a retry resumes); the Page's video URL
   is the link. `library`: the library URL is the link. On YouTube quota errors or Facebook rate limits it
   *defers* (no worker slot) until the window; waits of one destination end after
   `youtube.max_quota_wait_hours` (default 48): then it fails, no retries, with the reason and an alert.
   After a recut (the talk was published before) the previous video on each destination gets the
   conference's `on_replace` (`private`: YouTube private / Facebook hidden; `delete`; `keep`).
4. **notify_speakers** — one email per speaker address (plain text + HTML) via `smtp_default` listing
   every destination's link ("updated recording" wording and `email.update_subject` for a recut), never
   twice. A refused address is recorded (`emails.<address>`: `failed` + the SMTP answer) and alerted; the
   others are still emailed and the run still publishes; a retry sends only to addresses not yet sent.
5. **record_link** — `LINK` (first destination), `YOUTUBE_LINK`/`FACEBOOK_LINK` where those columns
   exist, and `STATUS=published` in the talk sheet (raw values); the talk record's `published` becomes
   this version (the one it replaced moves to `previous`).
6. **transcription_plan → transcribe → record_captions** — beside publishing, after the library copy, only
   for conferences with a `transcription` block (otherwise skipped at once). `transcribe` (pool
   `transcribe`): `local` = pocketsphinx on the worker, `aws` = an Amazon Transcribe job waited for by
   deferral. `record_captions` (after every `publish_video`, trigger rule `all_done`): WebVTT at
   `<library_prefix><uuid>.vtt`, YouTube captions + keyword tags (whole snippet), Facebook captions,
   `CAPTIONS`/`KEYWORDS` cells where those columns exist, ledger `captions`. A failure is recorded and
   alerted and never fails the publication; `talkbot_reconcile`'s `retry_captions` tries again.
7. **record_failure** — only when a task before `record_link` finally failed: `STATUS=failed`, reason in
   the ledger (the run still ends failed). Never over `published`: a failed recut of a published talk
   leaves the version record `failed` and the sheet `published` with the old LINK.

Lifecycle of `STATUS` (sheet) and `status` (version record): `not uploaded` (written by
`talkbot_reconcile`) → `uploaded` → `processing` → `processed` → `published`, or `excluded`,
`superseded` (ledger only), `failed`. It only moves forward for one version, and only the talk's current
(newest) version writes the sheet.

**Recuts.** A new object (a new S3 version of the key, or a new key with the same uuid) of a talk that is
already published replaces it once: the library object is replaced, a new video is uploaded to each
destination and the previous one gets `on_replace`, LINK and the per-destination links are updated
(LINK keeps the old link while the recut is processed), and each speaker gets one "updated recording"
email. Before the library copy, each upload, the emails and the sheet, a run checks that its version is
still the current one; when a newer one arrived meanwhile it stops as `superseded` and touches nothing of
the newer one. Duplicate deliveries of any version are no-ops (same run id; finished versions skip).

Needs: Variable `talkbot_config`; connections `aws_default`, `google_cloud_default` (Google Sheets),
`smtp_default`, `youtube_default` (generic: login = OAuth client id, password = client secret, extra
`refresh_token`, `token_uri`), `facebook_default` for a `facebook` destination (generic: login = Page id,
password = long-lived Page token, extra `graph_version`); pool `render` with one slot per render-worker core.

`talkbot_config` (validated at task start; errors name the field):

```json
{"queue_url": "https://sqs.<region>.amazonaws.com/<account>/talk-uploads",
 "ledger": "s3://talkbot-private/ledger/",
 "conferences": {"ws26": {
   "raw_bucket": "ws26-raw", "raw_prefix": "", "library_bucket": "talk-library", "library_prefix": "ws26/",
   "talk_sheet": "https://docs.google.com/spreadsheets/d/<id>/edit", "speaker_sheet": "s3://sheets/ws26/speakers.csv",
   "publisher": ["youtube", "facebook"],
   "youtube": {"playlist_id": "PL…", "privacy_status": "unlisted", "category_id": "28",
               "max_quota_wait_hours": 48},
   "sting": "s3://talk-assets/sting.mp4", "watermark": "s3://talk-assets/logo.png", "fade_seconds": 3,
   "email": {"from": "talks@example.org", "subject": "Your talk \"{title}\" is online",
             "update_subject": "Updated recording of your talk \"{title}\""}}}}
```
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import Param, dag, get_current_context, task

from include.common.alerts import notify_failure
from include.video_publishing import captions, publish
from include.video_publishing.operators import PublishVideoOperator


@dag(
    doc_md=__doc__,
    start_date=datetime(2026, 1, 1),
    schedule=None,
    catchup=False,
    max_active_runs=8,  # videos are independent; the render pool is what bounds CPU use
    default_args={
        "owner": "talkbot",
        "retries": 3,
        "retry_delay": timedelta(minutes=2),
        "retry_exponential_backoff": True,
        # per task: dag.test() cannot build a DAG-level callback's context for required Params
        "on_failure_callback": notify_failure,
    },
    params={
        "bucket": Param(type="string", minLength=1, description="Raw bucket of the uploaded recording."),
        "key": Param(
            type="string",
            minLength=1,
            description="Object key, e.g. talks/room1_f0bd7b1d-d8b3-4a3c-803f-d32f56e08638_000109_012312.mp4",
        ),
        "etag": Param(
            "", type="string", description="ETag of the version to publish (blank: the current one)."
        ),
        "version_id": Param("", type="string", description="S3 version id (blank: the current version)."),
        "sequencer": Param(
            "",
            type="string",
            description="S3 event sequencer (set by the listener; orders versions uploaded in the same second).",
        ),
    },
    tags=["talkbot", "video", "youtube", "email", "google-sheets"],
)
def talkbot_publish_video():
    @task
    def inspect_upload(params: dict | None = None) -> dict:
        return publish.inspect_upload(
            params["bucket"], params["key"], params["etag"], params["version_id"], params["sequencer"]
        )

    @task(pool="render", execution_timeout=timedelta(hours=3))
    def render_video(job: dict) -> dict:
        return publish.render_video(job)

    @task
    def list_render_chunks(job: dict) -> list[dict]:
        return job.get("render_chunks", [])

    @task(
        pool="render",
        execution_timeout=timedelta(hours=3),
        map_index_template="{{ task.op_kwargs['chunk']['label'] }}",
    )
    def render_chunk(job: dict, chunk: dict) -> dict:
        from include.video_publishing import talk_render  # PyAV: not at parse time

        return talk_render.render_chunk_upload(job, chunk)

    @task(
        trigger_rule="none_failed_min_one_success", execution_timeout=timedelta(hours=1)
    )  # a copy, no encode
    def join_chunks(job: dict, chunks: list[dict] | None) -> dict:
        return publish.join_chunks(job, chunks)

    @task
    def list_destinations(job: dict) -> list[str]:
        return publish.list_destinations(job)

    @task
    def notify_speakers(job: dict, results: list[dict]) -> dict:
        return publish.notify_speakers(job, list(results or []))

    @task
    def record_link(job: dict) -> None:
        publish.record_link(job)

    @task
    def transcription_plan(job: dict) -> dict:
        return captions.transcription_plan(job)

    # a leaf that never fails (failures are recorded and alerted): captions never decide the run's state
    @task(trigger_rule="all_done")
    def record_captions() -> dict:
        # pulled, not arguments: an all_done task must run even when an upstream left no XCom
        ti = get_current_context()["ti"]
        return captions.record_captions(
            ti.xcom_pull(task_ids="join_chunks"), ti.xcom_pull(task_ids="transcribe")
        )

    @task(trigger_rule="one_failed")
    def record_failure() -> None:
        publish.record_failure(get_current_context()["ti"].xcom_pull(task_ids="inspect_upload"))

    job = inspect_upload()
    planned = render_video(job)
    # chunked path only: one mapped render_chunk per chunk, then join_chunks (a pass-through otherwise)
    chunks = render_chunk.partial(job=planned).expand(chunk=list_render_chunks(planned))
    rendered = join_chunks(planned, chunks)
    destinations = list_destinations(rendered)
    # one instance per destination, each retried (and deferred) on its own
    published = PublishVideoOperator.partial(
        task_id="publish_video",
        job=rendered,
        execution_timeout=timedelta(hours=6),
        map_index_template="{{ task.destination }}",
    ).expand(destination=destinations)
    notified = notify_speakers(rendered, published.output)
    record_link(notified)
    # captions beside publishing: after the library copy, in pool `transcribe`, never in front of publish
    transcribed = captions.TranscribeTalkOperator(
        task_id="transcribe",
        plan=transcription_plan(rendered),
        job=rendered,
        pool="transcribe",
        execution_timeout=timedelta(hours=3),
    )
    # after publish_video (all_done), not after record_link: record_link must stay a leaf (see below)
    captioned = record_captions()
    for step in (transcribed, published):
        step >> captioned
    # a sibling of record_link, not its successor: record_link stays a leaf, so a failure anywhere still
    # ends the run failed (record_link is then upstream_failed) while record_failure writes it down
    failure = record_failure()
    for step in (job, planned, chunks, rendered, destinations, published, notified):
        step >> failure


talkbot_publish_video()
