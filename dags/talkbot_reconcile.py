"""# talkbot_reconcile — the backfill for lost or never-sent upload events

Daily, it lists each conference's raw bucket and triggers `talkbot_publish_video` for every upload that
follows the naming convention and has no finished ledger record (published, excluded or superseded),
using the same deterministic run ids as `talkbot_sqs_listener` — so an upload whose run already exists is
skipped, never published twice.

Each run only considers objects uploaded before its data interval ended (and at least `min_age_minutes`
ago, leaving fresh uploads to the listener), so a backfill for a past date reproduces what that day's run
would have seen. `catchup=False`: the latest run covers everything older, so catching up missed days
would only repeat the same listing. Set `dry_run` to only log what would be triggered or changed.

## The sheet after publishing — `sync_talk_sheets`

Independent of the trigger branch (one failing never stops the other), it reads every conference's talk
sheet and, for each talk:

- **published, TITLE / DESCRIPTION / SPEAKERS edited**: the YouTube video gets the new title and
  description (`videos.update` with the whole snippet: tags and category are sent again unchanged) and the
  Facebook video too; the ledger's `metadata` records what was sent. Nothing is re-uploaded, nobody is
  emailed, and an unchanged sheet makes no API call at all.
- **published, EXCLUDE set**: the YouTube video becomes `private`, the Facebook video is hidden from the
  Page, STATUS `excluded` in the sheet and the ledger (the next run calls nothing). The library copy stays.
- **STATUS empty and no recording with its uuid in the raw bucket**: STATUS `not uploaded` (never written
  over any other status; the publish run's `uploaded` replaces it when the recording arrives).

A talk that fails is logged and the others continue; the task then fails naming the failed talks, which
raises the DAG's alert. Progress is in the task log (talk n of N).

## Captions that failed — `retry_captions`

For conferences with `transcription`, published talks whose captions failed, are partial or missing are
transcribed again (pool `transcribe`; up to 20 per run) and their captions and keyword tags applied.

Needs: Variable `talkbot_config`, connections `aws_default`, the sheets' (`google_cloud_default` for Google
Sheets), and for published talks `youtube_default` / `facebook_default`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import Param, dag, task

from include.common.alerts import notify_failure
from include.video_publishing import reconcile


@dag(
    doc_md=__doc__,
    on_failure_callback=notify_failure,  # one alert per failed run, naming the failed tasks
    start_date=datetime(2026, 1, 1),
    schedule="@daily",
    catchup=False,
    max_active_runs=1,  # concurrent runs would only race to trigger the same runs
    default_args={
        "owner": "talkbot",
        "retries": 2,
        "retry_delay": timedelta(minutes=5),
    },
    params={
        "dry_run": Param(
            False,
            type="boolean",
            description="Only log the uploads that would be triggered and the sheet changes.",
        ),
        "min_age_minutes": Param(
            15, type="integer", minimum=0, description="Ignore uploads younger than this (the listener's)."
        ),
    },
    tags=["talkbot", "s3", "video"],
)
def talkbot_reconcile():
    @task
    def find_unfinished(params: dict | None = None, data_interval_end: datetime | None = None) -> list[dict]:
        return reconcile.find_unfinished(data_interval_end, params["min_age_minutes"], params["dry_run"])

    TriggerDagRunOperator.partial(
        task_id="trigger_publish",
        trigger_dag_id="talkbot_publish_video",
        logical_date=None,
        skip_when_already_exists=True,
        map_index_template="{{ task.conf['key'] }}",
    ).expand_kwargs(find_unfinished())

    @task
    def sync_talk_sheets(params: dict | None = None) -> dict[str, int]:
        return reconcile.sync_talk_sheets(params["dry_run"])

    sync_talk_sheets()

    @task(pool="transcribe", execution_timeout=timedelta(hours=3))
    def retry_captions() -> list[dict]:
        """Captions that failed or are missing on published talks (conferences with transcription)."""
        from include.video_publishing import captions

        return captions.retry_captions()

    retry_captions()


talkbot_reconcile()
