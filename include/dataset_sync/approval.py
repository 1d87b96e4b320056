"""``approve_held_changes``: a person approves or rejects what the guards held, in the Airflow UI.

Built on providers-standard's ``ApprovalOperator`` (Airflow 3's human-in-the-loop): the task
writes its request (subject, Markdown body, assigned users) and waits in the
``awaiting_input`` state; a person answers in the UI's *Required Actions* view or through
``PATCH /api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/{map_index}/hitlDetails``;
the scheduler enforces the timeout. What this subclass adds:

* the request is filled in when the task runs, from ``plan_sync``'s result: what is held
  and why, deletes against existing objects, example keys, where ``plan.csv`` is;
* the timeout (``approval_timeout_minutes``) and the approvers (``config.approvers()``) are
  read at run time, not at parse time;
* an SNS alert says an approval is waiting, with the link to it;
* the answer is recorded in ``<run>/approval.json`` for the report (``approved``,
  ``rejected`` or ``timed out``). Reject and timeout fail the task (``fail_on_reject``, no
  defaults), and with ``retries=0`` a person is asked once per run.

Airflow 3.3.2 race (README, "Dataset sync: guards, approval, backfills"): an answer within one
scheduler loop of the pause can get the task marked failed ("state changed externally"), because
the paused and the resumed process share one executor key. Nothing held is touched; the report
says no answer was recorded; clearing the task asks again.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.providers.standard.exceptions import HITLRejectException, HITLTimeoutError
from airflow.providers.standard.operators.hitl import ApprovalOperator, HITLOperator
from airflow.sdk.bases.notifier import BaseNotifier

from include.dataset_sync.config import SyncConfig, approvers

log = logging.getLogger(__name__)

SUBJECT = "Dataset sync: approve held changes"


def approval_body(plan: dict[str, Any], run_id: str, deadline: datetime) -> str:
    """The Markdown a person reads before answering."""
    holds = plan.get("held", [])
    lines = [
        f"The dataset sync run `{run_id}` held **{len(holds)}** episode(s)/season(s); "
        "every other episode has been applied.",
        "",
        "| held | reason | deletes | existing objects |",
        "|---|---|---:|---:|",
    ]
    for hold in holds:
        lines.append(
            f"| {hold['episode'] or hold['season'] + ' (season)'} | {hold['reason']} "
            f"| {hold['deletes']} | {hold['existing']} |"
        )
    examples = [(h["episode"] or h["season"], k) for h in holds for k in h.get("examples", ())]
    if examples:
        lines += ["", "Examples of keys that would be deleted:"]
        lines += [f"- {name}: `{key}`" for name, key in examples[:12]]
    lines += [
        "",
        f"Full plan: `{plan.get('plan_uri', '?')}`; the held actions alone: `{plan.get('held_plan_uri', '?')}`.",
        "",
        "**Approve**: the held episodes and seasons are planned again from the sheets as they are then, "
        "and only deletes that are in this held plan are applied.",
        f"**Reject**, or no answer by {deadline:%Y-%m-%d %H:%M} UTC: nothing held is touched and the run fails.",
    ]
    return "\n".join(lines)


class ApprovalWaitingAlert(BaseNotifier):
    """Publishes "approval waiting" with the Required Actions link to the alert topic (never raises)."""

    def notify(self, context: dict[str, Any]) -> None:
        from include.common.alerts import alert_topic_arn

        try:
            try:
                link = HITLOperator.generate_link_to_ui_from_context(context=context)
            except ValueError:  # no [api] base_url configured
                link = "Airflow UI → Browse → Required Actions"
            ti = context["ti"]
            subject = f"Approval waiting: {ti.dag_id}"[:100]
            body = (
                f"{ti.dag_id} run {ti.run_id} holds changes for approval ({ti.task_id}). "
                f"{context['task'].subject}. Answer here: {link}"
            )
            arn = alert_topic_arn()
            if not arn:
                log.warning("No alert topic configured; not sending: %s", body)
                return
            from airflow.providers.amazon.aws.hooks.sns import SnsHook

            SnsHook(aws_conn_id="aws_default").publish_to_target(
                target_arn=arn, message=body, subject=subject
            )
            log.info("Approval alert published to %s: %s", arn, body)
        except Exception:
            log.exception("Could not publish the approval alert")


class HeldChangesApproval(ApprovalOperator):
    """Approve or reject the changes ``plan_task_id`` held; reject and timeout fail the task."""

    def __init__(self, *, plan_task_id: str = "plan_sync", **kwargs: Any) -> None:
        kwargs.setdefault("retries", 0)
        super().__init__(
            subject=SUBJECT,
            body="Filled in when the task runs, from the plan.",
            fail_on_reject=True,
            notifiers=[ApprovalWaitingAlert()],
            **kwargs,
        )
        self.plan_task_id = plan_task_id

    def execute(self, context: Any) -> Any:
        cfg = SyncConfig.from_params(context["params"])
        plan = context["ti"].xcom_pull(task_ids=self.plan_task_id) or {}
        self.response_timeout = timedelta(minutes=cfg.approval_timeout_minutes)
        deadline = datetime.now(UTC) + self.response_timeout
        holds = plan.get("held", [])
        self.subject = f"{SUBJECT}: {', '.join(h['episode'] or h['season'] for h in holds)}"[:200]
        self.body = approval_body(plan, context["run_id"], deadline)
        self.assigned_users = approvers() or None
        log.info("Asking for approval until %s (assigned users: %s)", deadline, self.assigned_users or "any")
        return super().execute(context)

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context: Any) -> Any:
        """Also record a timeout that the scheduler enforced (the deferral timed out before the trigger's
        own timeout event arrived, as happens on a busy triggerer): that path never reaches
        ``execute_complete``, and the report would otherwise say the approval was never asked."""
        from airflow.sdk.exceptions import TaskDeferralTimeout

        try:
            return super().resume_execution(next_method, next_kwargs, context)
        except TaskDeferralTimeout:
            _record(context, "timed out", {})
            raise

    def execute_complete(self, context: Any, event: dict[str, Any]) -> Any:
        try:
            result = super().execute_complete(context=context, event=event)
        except HITLTimeoutError:
            _record(context, "timed out", event)
            raise
        except HITLRejectException:
            _record(context, "rejected", event)
            raise
        _record(context, "approved", event)
        return result


def _record(context: Any, decision: str, event: dict[str, Any]) -> None:
    """Write ``<run>/approval.json``: the decision, who answered and when (overwritten on a re-answer)."""
    from include.dataset_sync import s3ops
    from include.dataset_sync.steps import APPROVAL_RECORD, run_prefix, s3_client

    cfg = SyncConfig.from_params(context["params"])
    _, client = s3_client(cfg)
    record = {
        "decision": decision,
        "responded_by": event.get("responded_by_user"),
        "responded_at": str(event.get("responded_at") or datetime.now(UTC).isoformat()),
        "chosen_options": event.get("chosen_options"),
    }
    s3ops.put_json(client, cfg.bucket, f"{run_prefix(context['run_id'])}{APPROVAL_RECORD}", record)
    log.warning("Held changes %s: %s", decision, record)
