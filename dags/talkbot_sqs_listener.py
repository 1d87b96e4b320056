"""# talkbot_sqs_listener — S3 upload events → one `talkbot_publish_video` run per video

Runs continuously (one active run at a time). Each run:

1. **wait_for_messages** — the deferrable `SqsSensor` waits on `talkbot_config.queue_url` in the
   triggerer (no worker slot held while the queue is empty) and does **not** delete on reception.
2. **plan_runs** — parses every message (several `Records`, URL-encoded keys, `s3:TestEvent`,
   SNS-wrapped events, malformed JSON). Each upload of a configured conference's `.mp4` following the
   naming convention becomes a trigger with a deterministic run id from bucket, key and ETag. Anything
   else is logged with its reason (bad names also under `rejected/` in the private `talkbot_config.ledger`) and
   never fails the run.
3. **trigger_publish** — one mapped `TriggerDagRunOperator` per video, labelled with the object key; a
   duplicate delivery finds its run already there and is skipped.
4. **delete_messages** — only after every trigger succeeded (or was skipped as a duplicate) are the
   messages deleted; otherwise they reappear on the queue after the visibility timeout.

Needs: Variable `talkbot_config`, connection `aws_default`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.providers.amazon.aws.sensors.sqs import SqsSensor
from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import dag, task

from include.common.alerts import notify_failure
from include.common.s3 import AWS_CONN_ID
from include.video_publishing import listener

PUBLISH_DAG_ID = "talkbot_publish_video"


@dag(
    doc_md=__doc__,
    on_failure_callback=notify_failure,  # one alert per failed run, naming the failed tasks
    start_date=datetime(2026, 1, 1),
    schedule="@continuous",
    max_active_runs=1,  # @continuous requires it; one reader of the queue keeps deletes simple
    catchup=False,
    default_args={
        "owner": "talkbot",
        "retries": 2,
        "retry_delay": timedelta(seconds=30),
    },
    tags=["talkbot", "s3", "video"],
)
def talkbot_sqs_listener():
    wait_for_messages = SqsSensor(
        task_id="wait_for_messages",
        sqs_queue="{{ var.json.talkbot_config.queue_url }}",
        aws_conn_id=AWS_CONN_ID,
        deferrable=True,
        delete_message_on_reception=False,
        max_messages=10,
        num_batches=1,
        wait_time_seconds=20,
        visibility_timeout=900,  # the messages stay hidden while this run triggers and deletes them
        poke_interval=5,
        timeout=timedelta(hours=12).total_seconds(),
        soft_fail=True,  # a quiet queue ends the run as skipped; @continuous starts the next one
    )

    messages = wait_for_messages.output["messages"]

    @task
    def plan_runs(messages: list[dict] | None) -> list[dict]:
        return listener.plan_runs(messages)

    trigger_publish = TriggerDagRunOperator.partial(
        task_id="trigger_publish",
        trigger_dag_id=PUBLISH_DAG_ID,
        logical_date=None,
        skip_when_already_exists=True,
        map_index_template="{{ task.conf['key'] }}",
    ).expand_kwargs(plan_runs(messages))

    # runs when every trigger succeeded or was skipped as a duplicate (and the sensor delivered messages)
    @task(trigger_rule="none_failed_min_one_success")
    def delete_messages(messages: list[dict] | None) -> int:
        return listener.delete_messages(messages)

    trigger_publish >> delete_messages(messages)


talkbot_sqs_listener()
