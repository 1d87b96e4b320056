"""Task bodies of ``talkbot_sqs_listener``: one function per task, named after its task id.

``wait_for_messages`` is the provider's ``SqsSensor`` and ``trigger_publish`` a mapped
``TriggerDagRunOperator``; what is left to write is turning a batch into triggers (``plan_runs``) and
deleting the batch once the triggers are done (``delete_messages``).
"""

from __future__ import annotations

import logging
from typing import Any

from include.common import s3
from include.video_publishing.config import load_config
from include.video_publishing.events import plan_intake
from include.video_publishing.ledger import Ledger
from include.video_publishing.naming import object_identity

log = logging.getLogger(__name__)

DELETE_BATCH = 10  # SQS DeleteMessageBatch takes at most 10 entries


def plan_runs(messages: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """Turn one batch of SQS messages into trigger kwargs; log and record everything not triggered.

    Idempotent: planning is pure; the only write is the rejection note, which is overwritten with the
    same content on a retry.
    """
    config = load_config()
    intake = plan_intake(messages or [], config)
    for item in intake.ignored:
        log.info("ignored message %s: %s", item["message_id"], item["reason"])
    for item in intake.rejected:
        log.warning("rejected %s: %s", s3.url(item["bucket"], item["key"]), item["reason"])
        library_bucket = config.conference(item["conference"]).library_bucket
        Ledger.at(config.ledger, library_bucket).record_rejected(
            object_identity(item["bucket"], item["key"], item["etag"]), item
        )
    for item in intake.triggers:
        where = s3.url(item["conf"]["bucket"], item["conf"]["key"])
        log.info("trigger %s for %s", item["trigger_run_id"], where)
    log.info(
        "%d message(s): %d run(s) to trigger, %d rejected name(s), %d ignored",
        len(messages or []), len(intake.triggers), len(intake.rejected), len(intake.ignored),
    )  # fmt: skip
    return intake.triggers


def delete_messages(messages: list[dict[str, Any]] | None) -> int:
    """Delete the batch's messages (after every trigger succeeded or found its run already there).

    Idempotent: deleting an already deleted message is not an error for SQS.
    """
    from airflow.providers.amazon.aws.hooks.sqs import SqsHook

    receipt_handles = [m["ReceiptHandle"] for m in messages or [] if m.get("ReceiptHandle")]
    if not receipt_handles:
        return 0
    queue_url = load_config().queue_url
    client = SqsHook(aws_conn_id=s3.AWS_CONN_ID).get_conn()
    failed = []
    for start in range(0, len(receipt_handles), DELETE_BATCH):
        entries = [
            {"Id": str(i), "ReceiptHandle": handle}
            for i, handle in enumerate(receipt_handles[start : start + DELETE_BATCH], start=start)
        ]
        response = client.delete_message_batch(QueueUrl=queue_url, Entries=entries)
        failed.extend(response.get("Failed", []))
    if failed:
        raise RuntimeError(f"SQS refused to delete {len(failed)} message(s): {failed}")
    log.info("deleted %d message(s) from %s", len(receipt_handles), queue_url)
    return len(receipt_handles)
