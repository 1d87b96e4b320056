"""End to end on the stand-ins: the listener with poison messages, an EventBridge route and a failing
trigger. Uploads go through moto's S3 → SQS notifications and S3 → EventBridge → SQS rules; what S3 can
send but moto cannot store (a key with a newline) is sent to the queue as S3 would send it.
"""

from __future__ import annotations

import json
import os
import time

import pytest

from include.video_publishing.naming import publish_run_id
from tests.video_publishing.conftest import LISTENER, PUBLISH

SPEAKERS = [("Ada Lovelace", "ada@example.org")]
FIRST = "44444444-aaaa-4bbb-8ccc-000000000001"
SECOND = "44444444-aaaa-4bbb-8ccc-000000000002"
ROUTED = "44444444-aaaa-4bbb-8ccc-000000000003"


def _talk(uuid: str, title: str) -> dict[str, str]:
    return {"UUID": uuid, "TITLE": title, "DESCRIPTION": "A talk.", "SPEAKERS": "Ada Lovelace"}


def _record(bucket: str, key: object, etag: str = "0123abcd") -> str:
    """An S3 notification body as S3 sends it (``key`` already URL-encoded)."""
    obj = {"key": key, "size": 10, "eTag": etag, "sequencer": "0A1B2C3D4E5F678901"}
    record = {
        "eventSource": "aws:s3",
        "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": bucket}, "object": obj},
    }
    return json.dumps({"Records": [record]})


def _route_through_eventbridge(conference, rule: str) -> None:
    """From now on the raw bucket's events reach the queue through EventBridge instead."""
    stack = conference.stack
    s3, sqs, events = stack.boto3_client("s3"), stack.boto3_client("sqs"), stack.boto3_client("events")
    arn = sqs.get_queue_attributes(QueueUrl=conference.queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    s3.put_bucket_notification_configuration(
        Bucket=conference.raw_bucket, NotificationConfiguration={"EventBridgeConfiguration": {}}
    )
    pattern = {
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {"bucket": {"name": [conference.raw_bucket]}},
    }
    events.put_rule(Name=rule, EventPattern=json.dumps(pattern))
    events.put_targets(Rule=rule, Targets=[{"Id": "uploads", "Arn": arn}])


def _failed(states: dict[str, str]) -> list[str]:
    return [task for task, state in states.items() if state in ("failed", "upstream_failed")]


def test_poison_never_blocks_good_uploads_and_eventbridge_uploads_publish(
    make_conference, run_dag, dag_runs, task_states
):
    conference = make_conference(
        talks=[_talk(FIRST, "First"), _talk(SECOND, "Second"), _talk(ROUTED, "Routed")],
        speakers=SPEAKERS,
        publisher="library",
    )
    sqs = conference.stack.boto3_client("sqs")
    first, second, routed = (f"room 1_{uuid}_000001_000009.mp4" for uuid in (FIRST, SECOND, ROUTED))
    etags = {first: conference.upload(first), second: conference.upload(second)}
    rule = f"{conference.slug}-uploads"
    _route_through_eventbridge(conference, rule)
    try:
        etags[routed] = conference.upload(routed)
    finally:
        events = conference.stack.boto3_client("events")
        events.remove_targets(Rule=rule, Ids=["uploads"])
        events.delete_rule(Name=rule)
    poison = {
        "number as key": _record(conference.raw_bucket, 20260101),
        "uuid ending in a newline": _record(
            conference.raw_bucket, "room+1_44444444-aaaa-4bbb-8ccc-000000000009%0A_000001_000009.mp4"
        ),
        "nested too deep": "[" * 100_000 + "]" * 100_000,
        "someone else's bucket": _record("someone-elses-bucket", "x_abc_000001_000009.mp4"),
        "not JSON": "{not json",
    }
    for body in poison.values():
        sqs.send_message(QueueUrl=conference.queue_url, MessageBody=body)
    before = set(dag_runs(PUBLISH))

    listener = run_dag(LISTENER)

    states = task_states(listener)
    assert listener.state == "success", states
    assert _failed(states) == []
    expected = {
        publish_run_id(uuid, conference.raw_bucket, key, etags[key]): key
        for uuid, key in ((FIRST, first), (SECOND, second), (ROUTED, routed))
    }
    created = {run_id: conf for run_id, (_, conf) in dag_runs(PUBLISH).items() if run_id not in before}
    assert {run_id: conf["key"] for run_id, conf in created.items()} == expected
    assert conference.queue_depth() == 0
    notes = conference.rejected()
    assert sorted(note.get("key") or note["reason"] for note in notes) == [
        "cannot be read: MalformedEvent: ObjectCreated:Put: 'key' is a int, expected a str",
        "room 1_44444444-aaaa-4bbb-8ccc-000000000009\n_000001_000009.mp4",
    ]

    # the upload that came through EventBridge publishes like any other
    [routed_conf] = [conf for conf in created.values() if conf["key"] == routed]
    run = run_dag(PUBLISH, conf=routed_conf)
    assert run.state == "success", task_states(run)
    row = conference.talk(ROUTED)
    link = f"https://{conference.library_bucket}.s3.amazonaws.com/{conference.slug}/{ROUTED}.mp4"
    assert (row["STATUS"], row["LINK"]) == ("published", link)
    [mail] = conference.emails_to("ada@example.org")
    assert link in mail.get_body(("plain",)).get_content()


@pytest.fixture
def short_visibility(dagbag):
    """The listener's messages come back after 3 s instead of 15 min (the shared DAG object is restored)."""
    sensor = dagbag.get_dag(LISTENER).get_task("wait_for_messages")
    saved = sensor.visibility_timeout
    sensor.visibility_timeout = 3
    yield
    sensor.visibility_timeout = saved


@pytest.mark.usefixtures("short_visibility")
def test_a_failing_trigger_holds_back_only_its_message_until_max_receives(
    make_conference, run_dag, dag_runs, task_states, monkeypatch
):
    from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator

    conference = make_conference(talks=[], speakers=SPEAKERS, publisher="library")
    good, stuck = (
        "room_55555555-0000-4000-8000-000000000001_000001_000009.mp4",
        "room_55555555-0000-4000-8000-000000000002_000001_000009.mp4",
    )
    etags = {key: conference.upload(key) for key in (good, stuck)}
    original = TriggerDagRunOperator.execute

    def fail_for_stuck(self, context):
        if self.conf.get("key") == stuck:
            raise RuntimeError("the API server is down for this one")
        return original(self, context)

    monkeypatch.setattr(TriggerDagRunOperator, "execute", fail_for_stuck)
    good_run = publish_run_id(
        "55555555-0000-4000-8000-000000000001", conference.raw_bucket, good, etags[good]
    )
    stuck_run = publish_run_id(
        "55555555-0000-4000-8000-000000000002", conference.raw_bucket, stuck, etags[stuck]
    )

    first = run_dag(LISTENER)

    states = task_states(first)
    assert first.state == "success", states
    [failed] = _failed(states)  # the stuck upload's trigger, and nothing else
    assert failed.startswith("trigger_publish[")
    assert states["delete_messages"] == "success"
    runs = dag_runs(PUBLISH)
    assert good_run in runs
    assert stuck_run not in runs
    assert conference.queue_depth() == 1  # only the stuck upload's message is left
    assert conference.rejected() == []

    # it comes back; received more than max_receives (1) times, it is recorded and deleted, not retried
    config = json.loads(os.environ["AIRFLOW_VAR_TALKBOT_CONFIG"])
    monkeypatch.setenv("AIRFLOW_VAR_TALKBOT_CONFIG", json.dumps({**config, "max_receives": 1}))
    sqs = conference.stack.boto3_client("sqs")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        visible = sqs.get_queue_attributes(
            QueueUrl=conference.queue_url, AttributeNames=["ApproximateNumberOfMessages"]
        )
        if visible["Attributes"]["ApproximateNumberOfMessages"] == "1":
            break
        time.sleep(0.5)

    second = run_dag(LISTENER)

    states = task_states(second)
    assert second.state == "success", states
    assert _failed(states) == []
    assert conference.queue_depth() == 0
    [note] = conference.rejected()
    assert note["receive_count"] == 2
    assert note["reason"].startswith("received 2 times, more than talkbot_config.max_receives (1)")
    assert stuck_run in note["reason"]
    assert stuck in note["body"]
    assert stuck_run not in dag_runs(PUBLISH)
