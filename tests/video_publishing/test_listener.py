"""The listener's task bodies and its SQS sensor, against the moto server (no DAG run).

What a user cares about: which messages are left on the queue, what the ledger recorded, what the log
says, and that every message arrives with the receive count SQS keeps for it.
"""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

from include.video_publishing import listener
from include.video_publishing.sqs import ReceiveCountSqsSensor, ReceiveCountSqsTrigger

SPEAKERS = [("Ada Lovelace", "ada@example.org")]


class FakeTaskInstance:
    """Collects what a sensor pushes to XCom."""

    def __init__(self) -> None:
        self.pushed: dict[str, object] = {}

    def xcom_push(self, key: str, value: object) -> None:
        self.pushed[key] = value


def _record_body(bucket: str, key: str, etag: str = "e1") -> str:
    return json.dumps(
        {
            "Records": [
                {
                    "eventSource": "aws:s3",
                    "eventName": "ObjectCreated:Put",
                    "s3": {"bucket": {"name": bucket}, "object": {"key": key, "eTag": etag}},
                }
            ]
        }
    )


@pytest.fixture
def conference(make_conference):
    conference = make_conference(talks=[], speakers=SPEAKERS, publisher="library")
    conference.stack.boto3_client("sqs").purge_queue(QueueUrl=conference.queue_url)  # the s3:TestEvent
    return conference


def _sensor(conference, **more) -> ReceiveCountSqsSensor:
    return ReceiveCountSqsSensor(
        task_id="wait_for_messages",
        sqs_queue=conference.queue_url,
        delete_message_on_reception=False,
        max_messages=10,
        wait_time_seconds=1,
        visibility_timeout=0,  # every receive hands the messages back at once
        **more,
    )


def test_sensor_messages_carry_the_receive_count(conference):
    sqs = conference.stack.boto3_client("sqs")
    sqs.send_message(QueueUrl=conference.queue_url, MessageBody="hello")
    sensor = _sensor(conference)
    counts = []
    for _ in range(3):
        ti = FakeTaskInstance()
        assert sensor.poke({"ti": ti})
        [received] = ti.pushed["messages"]
        counts.append(received["Attributes"]["ApproximateReceiveCount"])
    assert counts == ["1", "2", "3"]
    assert conference.queue_depth() == 1  # not deleted on reception


def test_deferred_sensor_uses_the_trigger_that_asks_for_the_count(conference):
    from airflow.sdk.exceptions import TaskDeferred

    sqs = conference.stack.boto3_client("sqs")
    sqs.send_message(QueueUrl=conference.queue_url, MessageBody="hello")
    sqs.receive_message(QueueUrl=conference.queue_url, VisibilityTimeout=0)  # received once already
    sensor = _sensor(conference, deferrable=True, poke_interval=1)
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({"ti": FakeTaskInstance()})
    trigger = deferred.value.trigger
    assert type(trigger) is ReceiveCountSqsTrigger
    classpath, arguments = trigger.serialize()
    assert classpath == "include.video_publishing.sqs.ReceiveCountSqsTrigger"  # importable by the triggerer
    assert arguments["sqs_queue"] == conference.queue_url
    assert arguments["delete_message_on_reception"] is False
    assert arguments["visibility_timeout"] == 0

    async def first_event():
        async for event in trigger.run():
            return event.payload

    payload = asyncio.run(asyncio.wait_for(first_event(), timeout=30))
    [received] = payload["message_batch"]
    assert received["Body"] == "hello"
    assert received["Attributes"]["ApproximateReceiveCount"] == "2"


def test_plan_runs_records_poison_in_the_ledger_and_logs_foreign_messages(conference, caplog):
    foreign = _record_body("someone-elses-bucket", "x_abc_000001_000002.mp4")
    poison = _record_body(conference.raw_bucket, "talks/x.mp4").replace('"talks/x.mp4"', "7")
    good_key = "room_abc-1_000001_000009.mp4"
    messages = [
        {"MessageId": "foreign", "ReceiptHandle": "r1", "Body": foreign},
        {"MessageId": "poison", "ReceiptHandle": "r2", "Body": poison},
        {"MessageId": "deep", "ReceiptHandle": "r3", "Body": "[" * 50_000 + "]" * 50_000},
        {"MessageId": "good", "ReceiptHandle": "r4", "Body": _record_body(conference.raw_bucket, good_key)},
        {
            "MessageId": "tired",
            "ReceiptHandle": "r5",
            "Body": _record_body(conference.raw_bucket, "room_abc-2_000001_000009.mp4"),
            "Attributes": {"ApproximateReceiveCount": "6"},
        },
    ]
    with caplog.at_level(logging.INFO, logger="include.video_publishing.listener"):
        triggers, deletions = listener.plan_runs(messages)

    assert [t["conf"]["key"] for t in triggers] == [good_key]
    assert [(d["message_id"], d["receipt_handle"], len(d["run_ids"])) for d in deletions] == [
        ("foreign", "r1", 0),
        ("poison", "r2", 0),
        ("deep", "r3", 0),
        ("good", "r4", 1),
        ("tired", "r5", 0),
    ]
    notes = {note["message_id"]: note for note in conference.rejected()}
    assert set(notes) == {"poison", "tired"}  # "deep" and "foreign" name no conference of ours
    assert notes["poison"]["reason"] == (
        "cannot be read: MalformedEvent: ObjectCreated:Put: 'key' is a int, expected a str"
    )
    assert notes["poison"]["body"] == poison
    assert notes["poison"]["conferences"] == [conference.slug]
    assert notes["tired"]["reason"].startswith("received 6 times, more than talkbot_config.max_receives (5)")
    assert notes["tired"]["receive_count"] == 6
    log = caplog.text
    assert "message foreign names no configured conference; deleted. Body: " + foreign in log
    assert "poison message deep (dropped): cannot be read: RecursionError" in log
    assert "[[[[" in log
    assert f"… ({100_000} characters)" in log  # the body is quoted, truncated


def test_delete_messages_keeps_only_the_message_whose_run_is_missing(conference):
    sqs = conference.stack.boto3_client("sqs")
    for n in range(3):
        sqs.send_message(QueueUrl=conference.queue_url, MessageBody=f"m{n}")
    received = sqs.receive_message(
        QueueUrl=conference.queue_url, MaxNumberOfMessages=10, VisibilityTimeout=2
    )["Messages"]
    assert len(received) == 3
    by_body = {m["Body"]: m for m in received}
    deletions = [
        {"message_id": "m0", "receipt_handle": by_body["m0"]["ReceiptHandle"], "run_ids": ["run-a", "run-b"]},
        {"message_id": "m1", "receipt_handle": by_body["m1"]["ReceiptHandle"], "run_ids": ["run-c"]},
        {"message_id": "m2", "receipt_handle": by_body["m2"]["ReceiptHandle"], "run_ids": []},
    ]
    existing = {"run-a", "run-b"}  # the trigger of run-c failed
    asked = []

    def count_runs(run_ids):
        asked.append(sorted(run_ids))
        return len(existing & set(run_ids))

    assert listener.delete_messages(deletions, received, count_runs) == 2
    again = sqs.receive_message(QueueUrl=conference.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=5)
    assert [m["Body"] for m in again["Messages"]] == ["m1"]  # back after its visibility timeout
    assert asked[0] == ["run-a", "run-b", "run-c"]  # one question for the whole batch first


def test_delete_messages_asks_once_when_every_run_exists(conference):
    asked = []

    def count_runs(run_ids):
        asked.append(run_ids)
        return len(run_ids)

    deletions = [{"message_id": f"m{n}", "receipt_handle": "", "run_ids": [f"r{n}", "r0"]} for n in range(4)]
    assert listener.delete_messages(deletions, [{}], count_runs) == 4
    assert asked == [["r0", "r1", "r2", "r3"]]


def test_delete_messages_skips_without_messages_and_fails_without_a_plan():
    from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

    with pytest.raises(AirflowSkipException):
        listener.delete_messages(None, None, len)
    with pytest.raises(AirflowFailException, match="plan_runs did not finish: no message deleted"):
        listener.delete_messages(None, [{"MessageId": "m"}], len)
