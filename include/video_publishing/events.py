"""S3 event messages, as they arrive on SQS, turned into publish runs to trigger — one message at a time.

A message body may be: an S3 event (``{"Records": [...]}``, several records per message), the
``s3:TestEvent`` S3 sends when a notification is configured, an EventBridge event (``"source": "aws.s3"``,
``"detail-type": "Object Created"``) that a rule forwards to the queue, an SNS notification whose
``Message`` is one of these as a JSON string, or anything else (malformed JSON, other services). Keys of
S3 notification records arrive URL-encoded with spaces as ``+``; EventBridge carries the key as it is.
Delivery is at-least-once: the same upload may arrive twice, in one batch or in two, and both map to the
same deterministic run id (see ``naming.publish_run_id``).

Every message is planned on its own (``plan_message``) and the plan never raises: whatever goes wrong
while reading one message (malformed records, a key that is not a string, JSON nested too deep for the
parser, a run id Airflow would refuse) makes *that* message ``poison``, to be recorded and deleted, and
never touches the others of the batch.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import unquote_plus

from include.video_publishing.config import Conference, TalkbotConfig
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
# EventBridge's ``detail.reason`` of an "Object Created" event, as the S3 notification's event name
EVENTBRIDGE_REASONS = {
    "PutObject": "ObjectCreated:Put",
    "POST Object": "ObjectCreated:Post",
    "CopyObject": "ObjectCreated:Copy",
    "CompleteMultipartUpload": "ObjectCreated:CompleteMultipartUpload",
}
RECEIVE_COUNT = "ApproximateReceiveCount"


class MalformedEvent(ValueError):
    """An S3 record or EventBridge event lacks a field or holds one of the wrong type."""


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
class MessagePlan:
    """What the listener does with one SQS message.

    ``triggers`` are keyword sets for the mapped TriggerDagRunOperator; ``rejected`` are uploads of a
    configured conference whose name breaks the convention (recorded in the ledger); ``ignored`` says why
    each other part is no talk upload. ``poison`` is set when the message as a whole cannot be used (it
    could not be read, or it came back more than ``max_receives`` times): it triggers nothing and is
    recorded. ``conferences`` are the slugs the message names. The message is deleted once every run in
    ``run_ids`` exists — at once when there is none.
    """

    message_id: str
    receipt_handle: str
    body: str
    receive_count: int | None = None
    triggers: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    poison: str | None = None
    conferences: list[str] = field(default_factory=list)

    @property
    def run_ids(self) -> list[str]:
        return [t["trigger_run_id"] for t in self.triggers]


@dataclass
class Intake:
    """The plans of one batch, and the triggers of all of them with duplicate deliveries merged."""

    messages: list[MessagePlan] = field(default_factory=list)

    @property
    def triggers(self) -> list[dict[str, Any]]:
        unique: dict[str, dict[str, Any]] = {}
        for plan in self.messages:
            for trigger in plan.triggers:
                unique.setdefault(trigger["trigger_run_id"], trigger)
        return list(unique.values())

    @property
    def rejected(self) -> list[dict[str, Any]]:
        return [item for plan in self.messages for item in plan.rejected]

    @property
    def ignored(self) -> list[dict[str, Any]]:
        return [{"message_id": p.message_id, "reason": r} for p in self.messages for r in p.ignored]

    @property
    def poison(self) -> list[MessagePlan]:
        return [plan for plan in self.messages if plan.poison]


def parse_body(body: str) -> tuple[list[S3Upload], list[str]]:
    """Uploads described by one message body, and the reasons for every part that is not one.

    MalformedEvent (or whatever the JSON parser raises, e.g. RecursionError) for a body that claims to be
    an S3 event but cannot be read as one.
    """
    try:
        document = json.loads(body)
    except (json.JSONDecodeError, TypeError) as err:
        return [], [f"malformed JSON: {err}"]
    return _parse_document(document, depth=0)


def _parse_document(document: Any, depth: int) -> tuple[list[S3Upload], list[str]]:
    if not isinstance(document, dict):
        return [], [f"not an S3 event: JSON {type(document).__name__}"]
    if document.get("Type") == "Notification" and isinstance(document.get("Message"), str) and depth == 0:
        return _parse_sns(document["Message"])
    if document.get("Event") == "s3:TestEvent":
        return [], [f"s3:TestEvent for bucket {document.get('Bucket', '?')}"]
    if document.get("source") == "aws.s3" and "detail-type" in document:
        return _parse_eventbridge(document)
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


def _parse_sns(message: str) -> tuple[list[S3Upload], list[str]]:
    try:
        inner = json.loads(message)
    except json.JSONDecodeError as err:
        return [], [f"SNS message holds malformed JSON: {err}"]
    return _parse_document(inner, depth=1)


def _parse_record(record: Any) -> tuple[S3Upload | None, str]:
    if not isinstance(record, dict) or record.get("eventSource") != "aws:s3":
        return None, "record is not from aws:s3"
    name = str(record.get("eventName", ""))
    s3 = _field(record, "s3", dict, name)
    bucket = _field(_field(s3, "bucket", dict, name), "name", str, name)
    obj = _field(s3, "object", dict, name)
    key = unquote_plus(_field(obj, "key", str, name))
    if name not in UPLOAD_EVENTS:
        return None, f"s3://{bucket}/{key}: {name or 'unnamed event'} is not an upload"
    return _upload(bucket, key, obj, name), ""


def _parse_eventbridge(event: dict[str, Any]) -> tuple[list[S3Upload], list[str]]:
    """An S3 event routed through EventBridge: one object per event, the key not URL-encoded."""
    kind = event.get("detail-type")
    detail = _field(event, "detail", dict, f"EventBridge {kind}")
    bucket = _field(_field(detail, "bucket", dict, "detail"), "name", str, "detail")
    obj = _field(detail, "object", dict, "detail")
    key = _field(obj, "key", str, "detail")
    if kind != "Object Created":
        return [], [f"s3://{bucket}/{key}: EventBridge {kind!r} is not an upload"]
    name = EVENTBRIDGE_REASONS.get(str(detail.get("reason", "PutObject")), "ObjectCreated:Put")
    return [_upload(bucket, key, obj, name)], []


def _upload(bucket: str, key: str, obj: dict[str, Any], name: str) -> S3Upload:
    """The upload an S3 record's ``s3.object`` or an EventBridge ``detail.object`` describes."""
    etag = obj.get("eTag", obj.get("etag"))  # S3 notifications: eTag/versionId; EventBridge: etag/version-id
    version_id = obj.get("versionId", obj.get("version-id"))
    if version_id == "null":  # an unversioned bucket's object: what a read without a version id returns
        version_id = None
    size, sequencer = obj.get("size"), obj.get("sequencer")
    for label, value, kind in (
        ("etag", etag, str),
        ("version id", version_id, str),
        ("size", size, int),
        ("sequencer", sequencer, str),
    ):
        if value is not None and not isinstance(value, kind):
            raise MalformedEvent(
                f"s3://{bucket}/{key}: {label} is {type(value).__name__}, not {kind.__name__}"
            )
    return S3Upload(
        bucket=bucket,
        key=key,
        etag=normalise_etag(etag),
        version_id=version_id,
        size=size,
        event_name=name,
        sequencer=sequencer,
    )


def _field(parent: dict[str, Any], name: str, kind: type, where: str) -> Any:
    value = parent.get(name)
    if not isinstance(value, kind):
        got = "missing" if value is None else f"a {type(value).__name__}"
        raise MalformedEvent(f"{where or 'unnamed event'}: {name!r} is {got}, expected a {kind.__name__}")
    return value


def receive_count(message: dict[str, Any]) -> int | None:
    """How often SQS delivered the message (its ``ApproximateReceiveCount``), None when not requested."""
    value = (message.get("Attributes") or {}).get(RECEIVE_COUNT)
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def plan_message(message: dict[str, Any], config: TalkbotConfig) -> MessagePlan:
    """Decide what to do with one SQS message; never raises (see ``MessagePlan.poison``)."""
    body = message.get("Body")
    plan = MessagePlan(
        message_id=str(message.get("MessageId", "?")),
        receipt_handle=str(message.get("ReceiptHandle") or ""),
        body=body if isinstance(body, str) else repr(body),
        receive_count=receive_count(message),
    )
    try:
        uploads, plan.ignored = parse_body(body)
        for upload in uploads:
            _plan_upload(upload, config, plan)
    except Exception as err:  # whatever breaks one message is that message's alone
        plan.triggers, plan.rejected, plan.ignored = [], [], []
        plan.poison = f"cannot be read: {type(err).__name__}: {err}"
        plan.conferences = conferences_named(plan.body, config)
        return plan
    if plan.receive_count is not None and plan.receive_count > config.max_receives:
        plan.poison = (
            f"received {plan.receive_count} times, more than talkbot_config.max_receives "
            f"({config.max_receives}): its runs {plan.run_ids} were never all created"
        )
        plan.triggers = []
    return plan


def plan_intake(messages: list[dict[str, Any]], config: TalkbotConfig) -> Intake:
    """Plan every message of a batch, each on its own."""
    return Intake(messages=[plan_message(message, config) for message in messages])


def conferences_named(body: str, config: TalkbotConfig) -> list[str]:
    """Slugs of the conferences whose raw bucket a body names, for a body that could not be parsed.

    A bucket name counts where it stands alone (not inside a longer bucket name).
    """
    found = []
    for conference in config.conferences.values():
        pattern = rf"(?<![a-z0-9.-]){re.escape(conference.raw_bucket)}(?![a-z0-9.-])"
        if re.search(pattern, body):
            found.append(conference.slug)
    return found


def _plan_upload(upload: S3Upload, config: TalkbotConfig, plan: MessagePlan) -> None:
    where = f"s3://{upload.bucket}/{upload.key}"
    conference = config.conference_for(upload.bucket, upload.key)
    if conference is None:
        plan.ignored.append(f"{where}: no conference uses this bucket")
        return
    _name(plan, conference)
    if not is_video_key(upload.key):
        plan.ignored.append(f"{where}: not an .mp4 video")
        return
    try:
        talk = parse_talk_key(upload.key)
        run_id = publish_run_id(talk.uuid, upload.bucket, upload.key, upload.etag)
    except TalkNameError as err:
        plan.rejected.append({**asdict(upload), "conference": conference.slug, "reason": str(err)})
        return
    if not upload.etag:
        plan.ignored.append(f"{where}: event carries no ETag")
        return
    if run_id not in plan.run_ids:
        plan.triggers.append(
            trigger_kwargs(
                upload.bucket, upload.key, upload.etag, upload.version_id, run_id, sequencer=upload.sequencer
            )
        )


def _name(plan: MessagePlan, conference: Conference) -> None:
    if conference.slug not in plan.conferences:
        plan.conferences.append(conference.slug)


def trigger_kwargs(
    bucket: str, key: str, etag: str, version_id: str | None, run_id: str, *, sequencer: str | None = None
) -> dict[str, Any]:
    """Keyword arguments of one mapped TriggerDagRunOperator instance.

    ``sequencer`` (S3's event sequencer, when the event had one) orders two versions of a talk uploaded
    within the same second of ``LastModified``; it is passed on only when known."""
    conf = {"bucket": bucket, "key": key, "etag": normalise_etag(etag), "version_id": version_id or ""}
    if sequencer:
        conf["sequencer"] = sequencer
    return {"trigger_run_id": run_id, "conf": conf}
