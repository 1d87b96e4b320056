"""The publish step as an operator, so it can wait for YouTube's quota or Facebook's rate limits without
holding a worker slot.

``publish_video`` is mapped over the conference's destinations (``PublishVideoOperator.partial(job=...)
.expand(destination=...)``), one task instance per destination labelled with its name, each retried on its
own. On ``quotaExceeded``/``uploadLimitExceeded`` (YouTube) or a rate-limit error (Facebook codes 4, 17,
32, 613) the task *defers* on a ``DateTimeTrigger`` until the quota window (the task shows as *deferred*
in the UI, with the reason and the time in its log and in the ledger's ``last_error`` and
``quota_waits``), then runs again from the top, where the ledger makes it resume rather than repeat.
Deferral instead of ``AirflowRescheduleException`` because a reschedule of a non-sensor task is not
handled the same way by every Airflow 3 code path, while deferral works identically under the scheduler
(triggerer process) and in ``dag.test()`` (trigger run in line).

Waits end: the first wait of a destination is recorded (``destinations.<d>.waiting_since``); when the
next wait would end later than that plus ``youtube.max_quota_wait_hours`` (default 48, fractions allowed;
the same cap for Facebook), the task fails without retries, with a message saying so, and the failure
alert is sent. A destination published successfully forgets its waits.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import BaseOperator


class PublishVideoOperator(BaseOperator):
    """Run ``publish.publish_video(job, destination)``; defer when YouTube's quota or Facebook's rate
    limit says so, until the cap on waiting."""

    template_fields = ("job", "destination")
    ui_color = "#ffd9d9"

    def __init__(self, *, job: Any, destination: str = "youtube", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.job = job
        self.destination = destination

    def execute(self, context: Any) -> dict[str, Any]:
        from airflow.providers.standard.triggers.temporal import DateTimeTrigger

        from include.video_publishing import publish
        from include.video_publishing.facebook import RateLimited
        from include.video_publishing.youtube import QuotaExhausted

        try:
            return publish.publish_video(self.job, self.destination)
        except (QuotaExhausted, RateLimited) as wait:
            cap = publish.load_config().conference(self.job["conference"]).youtube.max_quota_wait_hours
            note_quota_wait(self.job, wait.reason, wait.retry_at, destination=self.destination, cap_hours=cap)
            self.log.warning("%s: deferring without a worker slot until then", wait)
            self.defer(trigger=DateTimeTrigger(moment=wait.retry_at), method_name="execute_complete")

    def execute_complete(self, context: Any, event: Any = None) -> dict[str, Any]:
        """Back from the wait: try again (the ledger turns this into a resume, never a repeat)."""
        self.log.info("quota window reached; publishing to %s again", self.destination)
        return self.execute(context)


def note_quota_wait(
    job: dict[str, Any],
    reason: str,
    retry_at: datetime,
    *,
    destination: str = "youtube",
    cap_hours: float | None = None,
) -> None:
    """Record in the ledger that publishing to ``destination`` waits (``quota_waits`` keeps the history).

    The first wait's start is kept in ``destinations.<d>.waiting_since``; when ``retry_at`` lies after that
    plus ``cap_hours``, the wait is recorded as the reason and the task fails without retries
    (``AirflowFailException``). Idempotent: the same wait (destination, reason, until) is listed once.
    """
    from include.common.tasks import fail
    from include.video_publishing import publish

    service = "Facebook" if destination == "facebook" else "YouTube"
    until = retry_at.isoformat(timespec="seconds")
    gave_up: dict[str, str] = {}

    def change(record: dict[str, Any], state: dict[str, Any]) -> None:
        state["waiting_since"] = state.get("waiting_since") or datetime.now(UTC).isoformat()
        since = datetime.fromisoformat(state["waiting_since"])
        waits = record.setdefault("quota_waits", [])
        entry = {"destination": destination, "reason": reason, "until": retry_at.isoformat()}
        if entry not in waits:
            waits.append(entry)
        record["last_error"] = f"publish {destination}: {service} {reason}; waiting until {until}"
        deadline = since + timedelta(hours=cap_hours) if cap_hours is not None else None
        if deadline is not None and retry_at > deadline:
            gave_up["reason"] = (
                f"publish {destination}: gave up waiting for {service} ({reason}): waiting since "
                f"{since.isoformat(timespec='seconds')}, the next attempt at {until} would be after the cap "
                f"of {cap_hours:g} h (youtube.max_quota_wait_hours) at {deadline.isoformat(timespec='seconds')}"
            )
            record.update(last_error=gave_up["reason"], last_error_at=publish.now())

    publish.update_destination(job, destination, change)
    if gave_up:
        fail(gave_up["reason"])
