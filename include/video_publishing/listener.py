"""Task bodies of ``talkbot_sqs_listener``: one function per task, named after its task id.

``wait_for_messages`` is the provider's ``SqsSensor`` (``include.video_publishing.sqs``: asking for each
message's receive count) and ``trigger_publish`` a mapped ``TriggerDagRunOperator``; what is left to write
is turning a batch into triggers (``plan_runs``) and deleting each message once its own runs exist
(``delete_messages``).

Why one bad message never holds back another: each message is planned on its own (``events.plan_message``
never raises), and a message is deleted when every run it asked for exists, whatever happened to the
other messages' triggers. A message whose trigger failed stays on the queue and comes back after the
visibility timeout; once it has come back more than ``talkbot_config.max_receives`` times it is recorded
and deleted. Moving a message that even this cannot handle to a dead-letter queue is SQS's job (a redrive
policy whose ``maxReceiveCount`` is larger than ``max_receives``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from include.common import s3
from include.common.tasks import fail, skip
from include.video_publishing.config import TalkbotConfig, load_config
from include.video_publishing.events import MessagePlan, plan_intake
from include.video_publishing.ledger import Ledger
from include.video_publishing.naming import message_identity, object_identity

log = logging.getLogger(__name__)

DELETE_BATCH = 10  # SQS DeleteMessageBatch takes at most 10 entries
LOG_BODY_CHARS = 1000  # how much of a message body a log line quotes
RECORD_BODY_CHARS = 10_000  # how much of a poison message's body its record keeps


def plan_runs(messages: list[dict[str, Any]] | None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Plan a batch message by message: the trigger kwargs, and per message what must exist to delete it.

    Logs every message that triggers nothing and records poison messages and bad names in the ledger
    (``rejected/``). Idempotent: planning is pure; the only writes are those notes, overwritten with the
    same content on a retry.
    """
    config = load_config()
    intake = plan_intake(messages or [], config)
    for plan in intake.messages:
        _report(plan, config)
    triggers = intake.triggers
    for item in triggers:
        log.info(
            "trigger %s for %s", item["trigger_run_id"], s3.url(item["conf"]["bucket"], item["conf"]["key"])
        )
    log.info(
        "%d message(s): %d run(s) to trigger, %d rejected name(s), %d poison message(s), %d ignored part(s)",
        len(intake.messages), len(triggers), len(intake.rejected), len(intake.poison), len(intake.ignored),
    )  # fmt: skip
    deletions = [
        {"message_id": p.message_id, "receipt_handle": p.receipt_handle, "run_ids": p.run_ids}
        for p in intake.messages
    ]
    return triggers, deletions


def _report(plan: MessagePlan, config: TalkbotConfig) -> None:
    for reason in plan.ignored:
        log.info("message %s: ignored %s", plan.message_id, reason)
    for item in plan.rejected:
        log.warning("rejected %s: %s", s3.url(item["bucket"], item["key"]), item["reason"])
        library_bucket = config.conference(item["conference"]).library_bucket
        Ledger.at(config.ledger, library_bucket).record_rejected(
            object_identity(item["bucket"], item["key"], item["etag"]), item
        )
    if plan.poison:
        log.warning("poison message %s (dropped): %s", plan.message_id, plan.poison)
        _record_poison(plan, config)
    if not plan.conferences:
        log.warning(
            "message %s names no configured conference; deleted. Body: %s",
            plan.message_id,
            _truncate(plan.body, LOG_BODY_CHARS),
        )


def _record_poison(plan: MessagePlan, config: TalkbotConfig) -> None:
    """Note a poison message in the ledger of every conference it names (each ledger location once)."""
    details = {
        "message_id": plan.message_id,
        "receive_count": plan.receive_count,
        "reason": plan.poison,
        "conferences": plan.conferences,
        "body": _truncate(plan.body, RECORD_BODY_CHARS),
    }
    written: set[tuple[str, str]] = set()
    for slug in plan.conferences:
        ledger = Ledger.at(config.ledger, config.conference(slug).library_bucket)
        if (ledger.bucket, ledger.prefix) not in written:
            written.add((ledger.bucket, ledger.prefix))
            ledger.record_rejected(f"message-{message_identity(plan.body)}", details)


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"


def delete_messages(
    deletions: list[dict[str, Any]] | None,
    received: list[dict[str, Any]] | None,
    count_runs: Callable[[list[str]], int],
) -> int:
    """Delete every message whose planned runs all exist; leave the others for SQS to deliver again.

    ``deletions`` is ``plan_runs``'s per-message list (None when it did not finish), ``received`` what the
    sensor delivered, ``count_runs(run_ids)`` how many of those ``talkbot_publish_video`` runs exist.
    Runs after every trigger finished, whether it succeeded, found its run there already or failed: a
    failed trigger keeps only its own message. Idempotent: deleting an already deleted message is not an
    error for SQS.
    """
    if deletions is None:
        if not received:
            skip("no messages received")
        fail(
            "plan_runs did not finish: no message deleted; SQS delivers them again after the visibility timeout"
        )
    everything = sorted({run_id for d in deletions for run_id in d["run_ids"]})
    if everything and count_runs(everything) == len(everything):
        ready, held = deletions, []
    else:
        ready = [
            d for d in deletions if not d["run_ids"] or count_runs(d["run_ids"]) == len(set(d["run_ids"]))
        ]
        held = [d for d in deletions if d not in ready]
    for d in held:
        log.warning(
            "message %s stays on the queue: not every run of %s was created; SQS delivers it again after "
            "the visibility timeout",
            d["message_id"],
            d["run_ids"],
        )
    _delete(d["receipt_handle"] for d in ready if d["receipt_handle"])
    log.info("deleted %d message(s), kept %d for another try", len(ready), len(held))
    return len(ready)


def _delete(receipt_handles) -> None:
    from airflow.providers.amazon.aws.hooks.sqs import SqsHook

    handles = list(receipt_handles)
    if not handles:
        return
    queue_url = load_config().queue_url
    client = SqsHook(aws_conn_id=s3.AWS_CONN_ID).get_conn()
    failed = []
    for start in range(0, len(handles), DELETE_BATCH):
        entries = [
            {"Id": str(i), "ReceiptHandle": handle}
            for i, handle in enumerate(handles[start : start + DELETE_BATCH], start=start)
        ]
        response = client.delete_message_batch(QueueUrl=queue_url, Entries=entries)
        failed.extend(response.get("Failed", []))
    if failed:
        raise RuntimeError(f"SQS refused to delete {len(failed)} message(s): {failed}")
