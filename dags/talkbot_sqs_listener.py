"""# talkbot_sqs_listener — S3 upload events → one `talkbot_publish_video` run per video

Runs continuously (one active run at a time). Each run:

1. **wait_for_messages** — the deferrable `SqsSensor` (asking SQS for each message's
   `ApproximateReceiveCount`) waits on `talkbot_config.queue_url` in the triggerer (no worker slot held
   while the queue is empty) and does **not** delete on reception.
2. **plan_runs** — reads each message on its own: S3 notifications (several `Records`, URL-encoded keys,
   `s3:TestEvent`), S3 events routed through EventBridge (`"detail-type": "Object Created"`), SNS-wrapped
   events, malformed JSON. Each upload of a configured conference's `.mp4` following the naming convention
   becomes a trigger with a deterministic run id from bucket, key and ETag. Anything else is logged with
   its reason and never fails the run: bad names are recorded under `rejected/` in the ledger; a message
   that cannot be read at all (any error while parsing it) or that came back more than
   `talkbot_config.max_receives` times (default 5) is *poison*: recorded there too, with its reason and
   body, and deleted; a message that names no configured conference is logged with its body and deleted.
3. **trigger_publish** — one mapped `TriggerDagRunOperator` per video, labelled with the object key; a
   duplicate delivery finds its run already there and is skipped.
4. **delete_messages** — after every trigger is done (`all_done`), deletes each message whose runs all
   exist. A failed trigger keeps only its own message on the queue (it comes back after the visibility
   timeout and, after `max_receives` tries, is recorded as poison); the other messages are deleted and the
   run ends successfully.

**Dead-letter queue.** Moving messages that keep failing aside is the queue's job: give it a redrive
policy to a dead-letter queue with `maxReceiveCount` *larger* than `talkbot_config.max_receives` (e.g. 10
for the default 5), so the listener records a poison message before SQS moves it.

Needs: Variable `talkbot_config`, connection `aws_default`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import dag, task

from include.common.alerts import notify_failure
from include.common.s3 import AWS_CONN_ID
from include.video_publishing import listener
from include.video_publishing.sqs import ReceiveCountSqsSensor

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
    wait_for_messages = ReceiveCountSqsSensor(
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
    def plan_runs(messages: list[dict] | None, ti=None) -> list[dict]:
        triggers, deletions = listener.plan_runs(messages)
        ti.xcom_push(key="deletions", value=deletions)
        return triggers

    planned = plan_runs(messages)
    trigger_publish = TriggerDagRunOperator.partial(
        task_id="trigger_publish",
        trigger_dag_id=PUBLISH_DAG_ID,
        logical_date=None,
        skip_when_already_exists=True,
        map_index_template="{{ task.conf['key'] }}",
    ).expand_kwargs(planned)

    # runs whatever became of the triggers: each message is deleted once its own runs exist
    @task(trigger_rule="all_done")
    def delete_messages(ti=None) -> int:
        return listener.delete_messages(
            deletions=ti.xcom_pull(task_ids="plan_runs", key="deletions"),
            received=ti.xcom_pull(task_ids="wait_for_messages", key="messages"),
            count_runs=lambda run_ids: ti.get_dr_count(dag_id=PUBLISH_DAG_ID, run_ids=run_ids),
        )

    trigger_publish >> delete_messages()


talkbot_sqs_listener()
