"""Failure alerts: a short message on an SNS topic (the seed's CloudWatch → SMS path).

The topic is optional. It comes from the Airflow Variable ``alerts_sns_topic_arn`` or,
failing that, the environment variable ``ALERTS_SNS_TOPIC_ARN``; with neither set the
callback only logs. An alert must never raise: a broken alert path would hide the
failure it reports.
"""

from __future__ import annotations

import logging
import os
from typing import Any

log = logging.getLogger(__name__)

TOPIC_VARIABLE = "alerts_sns_topic_arn"
TOPIC_ENV = "ALERTS_SNS_TOPIC_ARN"


def alert_topic_arn() -> str | None:
    """The configured SNS topic ARN, or None."""
    from airflow.sdk import Variable

    try:
        arn = Variable.get(TOPIC_VARIABLE, default=None)
    except Exception:
        arn = None
    return (arn or os.environ.get(TOPIC_ENV) or "").strip() or None


def format_failure(context: dict[str, Any]) -> tuple[str, str]:
    """Subject and body of the alert for a failed task or DAG run."""
    ti = context.get("task_instance") or context.get("ti")
    dag_run = context.get("dag_run")
    dag_id = getattr(dag_run, "dag_id", None) or getattr(ti, "dag_id", "?")
    run_id = getattr(dag_run, "run_id", None) or getattr(ti, "run_id", "?")
    task_id = getattr(ti, "task_id", None)
    reason = context.get("exception") or context.get("reason") or "see the task log"
    if not task_id:
        failed = _failed_task_ids(dag_run)
        if failed:
            reason = f"failed tasks: {', '.join(failed)} ({reason})"
    where = f"{dag_id}.{task_id}" if task_id else dag_id
    subject = f"Airflow failure: {where}"[:100]
    body = f"{where} failed in run {run_id}: {reason}"
    return subject, body[:1000]


def _failed_task_ids(dag_run: Any) -> list[str]:
    """Failed task ids of a run, for a DAG-level callback (best effort: never raises)."""
    try:
        tis = dag_run.get_task_instances(state=["failed", "upstream_failed"])
    except Exception:
        return []
    names = sorted({ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]" for ti in tis})
    return names[:10] + ([f"... {len(names) - 10} more"] if len(names) > 10 else [])


def notify_failure(context: dict[str, Any]) -> None:
    """``on_failure_callback`` for every DAG: publish one short message to the alert topic."""
    try:
        subject, body = format_failure(context)
    except Exception:
        log.exception("Could not format the failure alert")
        return
    send_alert(subject, body)


def send_alert(subject: str, body: str) -> bool:
    """Publish one message to the alert topic (a problem that does not fail a task, e.g. a refused
    address). Never raises; True when it was published."""
    try:
        arn = alert_topic_arn()
        if not arn:
            log.warning("No alert topic configured (%s); not sending: %s", TOPIC_VARIABLE, body)
            return False
        from airflow.providers.amazon.aws.hooks.sns import SnsHook

        SnsHook(aws_conn_id="aws_default").publish_to_target(
            target_arn=arn, message=body[:1000], subject=subject[:100]
        )
        log.info("Alert published to %s: %s", arn, body)
        return True
    except Exception:
        log.exception("Could not publish the alert")
        return False
