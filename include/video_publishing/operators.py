"""The publish step as an operator, so it can wait for YouTube's quota without holding a worker slot.

On ``quotaExceeded``/``uploadLimitExceeded`` the task *defers* on a ``DateTimeTrigger`` until the quota
window (the task shows as *deferred* in the UI, with the reason and the time in its log and in the
ledger's ``last_error`` and ``quota_waits``), then runs again from the top, where the ledger makes it
resume rather than repeat. Deferral instead of ``AirflowRescheduleException`` because a reschedule of a
non-sensor task is not handled the same way by every Airflow 3 code path, while deferral works
identically under the scheduler (triggerer process) and in ``dag.test()`` (trigger run in line).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import BaseOperator

from include.video_publishing.ledger import Ledger


class PublishVideoOperator(BaseOperator):
    """Run ``publish.publish_video(job)``; defer until the quota window when YouTube says so."""

    template_fields = ("job",)
    ui_color = "#ffd9d9"

    def __init__(self, *, job: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.job = job

    def execute(self, context: Any) -> dict[str, Any]:
        from airflow.providers.standard.triggers.temporal import DateTimeTrigger

        from include.video_publishing import publish
        from include.video_publishing.youtube import QuotaExhausted

        try:
            return publish.publish_video(self.job)
        except QuotaExhausted as wait:
            self.log.warning("%s: deferring without a worker slot until then", wait)
            note_quota_wait(self.job, wait.reason, wait.retry_at)
            self.defer(trigger=DateTimeTrigger(moment=wait.retry_at), method_name="execute_complete")

    def execute_complete(self, context: Any, event: Any = None) -> dict[str, Any]:
        """Back from the quota wait: try again (the ledger turns this into a resume, never a repeat)."""
        self.log.info("quota window reached; publishing again")
        return self.execute(context)


def note_quota_wait(job: dict[str, Any], reason: str, retry_at: datetime) -> None:
    """Record in the ledger that publishing waits for YouTube's quota (``quota_waits`` keeps the history).

    Idempotent: the same wait (reason, until) is listed once however often it is recorded.
    """
    message = f"publish: YouTube {reason}; waiting until {retry_at.isoformat(timespec='seconds')}"

    def change(record: dict[str, Any]) -> None:
        record["last_error"] = message
        waits = record.setdefault("quota_waits", [])
        if {"reason": reason, "until": retry_at.isoformat()} not in waits:
            waits.append({"reason": reason, "until": retry_at.isoformat()})

    Ledger.for_job(job).update(job["uuid"], job["identity"], change)
