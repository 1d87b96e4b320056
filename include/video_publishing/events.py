"""S3 event messages, as they arrive on SQS, turned into publish runs to trigger.

A message body may be: an S3 event (``{"Records": [...]}``, several records per message), the
``s3:TestEvent`` S3 sends when a notification is configured, an SNS notification whose ``Message`` is the
S3 event as a JSON string, or anything else (malformed JSON, other services). Keys arrive URL-encoded
with spaces as ``+``. Delivery is at-least-once: the same upload may arrive twice, in one batch or in two,
and both map to the same deterministic run id (see ``naming.publish_run_id``).

Nothing here raises on bad input: every message either yields uploads or a reason it was ignored, so one
bad message never stops the listener.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import unquote_plus

from include.video_publishing.config import TalkbotConfig
from include.video_publishing.naming import (
    TalkNameError,
    is_video_key,
    normalise_etag,
    parse_talk_key,
    publish_run_id,
)

UPLOAD_EVENTS = frozenset(
    {
        "ObjectCreated:Put",
        "ObjectCreated:Post",
        "ObjectCreated:Copy",
        "ObjectCreated:CompleteMultipartUpload",
    }
)


@dataclass(frozen=True)
class S3Upload:
    """One object created in S3, as an event record describes it."""

    bucket: str
    key: str
    etag: str
    version_id: str | None = None
    size: int | None = None
    event_name: str = "ObjectCreated:Put"
    sequencer: str | None = None


@dataclass
class Intake:
    """What the listener does with one batch of messages.

    ``triggers`` are keyword sets for the mapped TriggerDagRunOperator; ``rejected`` are uploads of a
    configured conference whose name breaks the convention (recorded next to the ledger); ``ignored`` are
    messages or records that are not talk uploads at all. Every message of the batch is deleted once the
    triggers succeeded, whichever list it ended in.
    """

    triggers: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    ignored: list[dict[str, Any]] = field(default_factory=list)


def parse_body(body: str) -> tuple[list[S3Upload], list[str]]:
    """Uploads described by one message body, and the reasons for every part that is not one."""
    try:
        document = json.loads(body)
    except (json.JSONDecodeError, TypeError) as err:
        return [], [f"malformed JSON: {err}"]
    return _parse_document(document, depth=0)


def _parse_document(document: Any, depth: int) -> tuple[list[S3Upload], list[str]]:
    if not isinstance(document, dict):
        return [], [f"not an S3 event: JSON {type(document).__name__}"]
    if document.get("Type") == "Notification" and isinstance(document.get("Message"), str) and depth == 0:
        try:
            inner = json.loads(document["Message"])
        except json.JSONDecodeError as err:
            return [], [f"SNS message holds malformed JSON: {err}"]
        return _parse_document(inner, depth=1)
    if document.get("Event") == "s3:TestEvent":
        return [], [f"s3:TestEvent for bucket {document.get('Bucket', '?')}"]
    records = document.get("Records")
    if not isinstance(records, list):
        return [], ["not an S3 event: no Records"]
    uploads: list[S3Upload] = []
    reasons: list[str] = []
    for record in records:
        upload, reason = _parse_record(record)
        if upload:
            uploads.append(upload)
        else:
            reasons.append(reason)
    return uploads, reasons


def _parse_record(record: Any) -> tuple[S3Upload | None, str]:
    if not isinstance(record, dict) or record.get("eventSource") != "aws:s3":
        return None, "record is not from aws:s3"
    name = str(record.get("eventName", ""))
    try:
        bucket = record["s3"]["bucket"]["name"]
        obj = record["s3"]["object"]
        key = unquote_plus(obj["key"])
    except (KeyError, TypeError):
        return None, f"{name} record without s3.bucket.name / s3.object.key"
    if name not in UPLOAD_EVENTS:
        return None, f"s3://{bucket}/{key}: {name or 'unnamed event'} is not an upload"
    return (
        S3Upload(
            bucket=bucket,
            key=key,
            etag=normalise_etag(obj.get("eTag") or obj.get("etag")),
            version_id=obj.get("versionId"),
            size=obj.get("size"),
            event_name=name,
            sequencer=obj.get("sequencer"),
        ),
        "",
    )


def plan_intake(messages: list[dict[str, Any]], config: TalkbotConfig) -> Intake:
    """Decide, for a batch of SQS messages, which publish runs to trigger and what to record."""
    intake = Intake()
    seen: set[str] = set()
    for message in messages:
        message_id = message.get("MessageId", "?")
        uploads, reasons = parse_body(message.get("Body", ""))
        intake.ignored.extend({"message_id": message_id, "reason": r} for r in reasons)
        for upload in uploads:
            _plan_upload(upload, message_id, config, intake, seen)
    return intake


def _plan_upload(upload: S3Upload, message_id: str, config: TalkbotConfig, intake: Intake, seen: set) -> None:
    where = f"s3://{upload.bucket}/{upload.key}"
    conference = config.conference_for(upload.bucket, upload.key)
    if conference is None:
        intake.ignored.append(
            {"message_id": message_id, "reason": f"{where}: no conference uses this bucket"}
        )
        return
    if not is_video_key(upload.key):
        intake.ignored.append({"message_id": message_id, "reason": f"{where}: not an .mp4 video"})
        return
    try:
        talk = parse_talk_key(upload.key)
    except TalkNameError as err:
        intake.rejected.append({**asdict(upload), "conference": conference.slug, "reason": str(err)})
        return
    if not upload.etag:
        intake.ignored.append({"message_id": message_id, "reason": f"{where}: event carries no ETag"})
        return
    run_id = publish_run_id(talk.uuid, upload.bucket, upload.key, upload.etag)
    if run_id in seen:
        return
    seen.add(run_id)
    intake.triggers.append(trigger_kwargs(upload.bucket, upload.key, upload.etag, upload.version_id, run_id))


def trigger_kwargs(bucket: str, key: str, etag: str, version_id: str | None, run_id: str) -> dict[str, Any]:
    """Keyword arguments of one mapped TriggerDagRunOperator instance."""
    return {
        "trigger_run_id": run_id,
        "conf": {"bucket": bucket, "key": key, "etag": normalise_etag(etag), "version_id": version_id or ""},
    }
