"""File names, S3 event parsing over a corpus of real-shaped messages, and deterministic run ids."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from include.video_publishing.config import ConfigError, parse_config
from include.video_publishing.events import conferences_named, parse_body, plan_intake
from include.video_publishing.naming import (
    RUN_ID,
    TalkNameError,
    object_identity,
    parse_talk_key,
    publish_run_id,
)

CORPUS = Path(__file__).parent / "corpus"
AIRFLOW_RUN_ID = re.compile(r"^[A-Za-z0-9_.~:+-]+$")  # Airflow's default allowed_run_id_pattern


def body(name: str) -> str:
    return (CORPUS / name).read_text()


def message(name: str, n: int = 0) -> dict:
    return {"MessageId": f"m{n}-{name}", "ReceiptHandle": f"rh{n}", "Body": body(name)}


CONFIG_RAW = {
    "queue_url": "http://127.0.0.1/queue/uploads",
    "conferences": {
        "ws26": {
            "raw_bucket": "ws26-raw",
            "raw_prefix": "talks/",
            "library_bucket": "ws26-library",
            "library_prefix": "ws26/",
            "talk_sheet": "s3://ws26-sheets/talks.csv",
            "speaker_sheet": "s3://ws26-sheets/speakers.csv",
        }
    },
}
CONFIG = parse_config(CONFIG_RAW)


# --- names ---------------------------------------------------------------------------------------------


def test_seed_example_name():
    talk = parse_talk_key("ws18/keynote_f0bd7b1d-d8b3-4a3c-803f-d32f56e08638_000109_012312.mp4")
    assert talk.uuid == "f0bd7b1d-d8b3-4a3c-803f-d32f56e08638"
    assert talk.start == 69.0
    assert talk.end == 1 * 3600 + 23 * 60 + 12
    assert talk.duration == talk.end - talk.start


def test_leading_part_may_hold_underscores_and_spaces():
    talk = parse_talk_key("a b_c_d_abc-123_000000_000130.MP4")
    assert (talk.uuid, talk.start, talk.end) == ("abc-123", 0.0, 90.0)


@pytest.mark.parametrize(
    ("key", "complaint"),
    [
        ("talks/test.mp4", "separators"),
        ("talks/x_uuid_000109.mp4", "separators"),
        ("talks/x_uuid_000109_012312.mov", "not an .mp4"),
        ("talks/x_uuid_0109_012312.mp4", "start time '0109' is not HHMMSS"),
        ("talks/x_uuid_000109_01231a.mp4", "end time '01231a' is not HHMMSS"),
        ("talks/x_uuid_006100_012312.mp4", "above 59"),
        ("talks/x_uuid_000200_000100.mp4", "not after start"),
        ("talks/x_uuid_000100_000100.mp4", "not after start"),
        ("talks/x_u%d_000100_000200.mp4", "talk uuid"),
        ("talks/x__000100_000200.mp4", "talk uuid"),
    ],
)
def test_bad_names_say_what_is_wrong(key, complaint):
    with pytest.raises(TalkNameError, match=re.escape(complaint)):
        parse_talk_key(key)


def test_run_id_is_deterministic_valid_and_version_specific():
    a = publish_run_id("f0bd7b1d", "raw", "x_f0bd7b1d_000001_000010.mp4", '"etag1"')
    assert a == publish_run_id("f0bd7b1d", "raw", "x_f0bd7b1d_000001_000010.mp4", "etag1")  # quotes ignored
    assert a != publish_run_id("f0bd7b1d", "raw", "x_f0bd7b1d_000001_000010.mp4", "etag2")
    assert a != publish_run_id("f0bd7b1d", "raw2", "x_f0bd7b1d_000001_000010.mp4", "etag1")
    assert AIRFLOW_RUN_ID.match(a)
    assert len(a) <= 250
    assert a == f"talk__f0bd7b1d__{object_identity('raw', 'x_f0bd7b1d_000001_000010.mp4', 'etag1')}"


# --- event bodies --------------------------------------------------------------------------------------


def test_seed_example_message_is_an_upload_of_test_mp4():
    uploads, reasons = parse_body(body("seed_example.json"))
    assert reasons == []
    assert [(u.bucket, u.key, u.etag, u.version_id) for u in uploads] == [
        ("ds-ajm-videos", "test.mp4", "ca69605b2d5e5ade854af8381beff3d2", "Y1h8ir9D3i_fpDEgFAjPqFTHB6BRWTEj")
    ]


def test_test_event_is_ignored_with_reason():
    uploads, reasons = parse_body(body("test_event.json"))
    assert uploads == []
    assert reasons == ["s3:TestEvent for bucket ws26-raw"]


def test_malformed_json_is_a_reason_not_an_exception():
    uploads, reasons = parse_body(body("malformed.txt"))
    assert uploads == []
    assert reasons[0].startswith("malformed JSON")


@pytest.mark.parametrize("text", ["", "[]", "42", '{"foo": 1}', '{"Records": "no"}', '{"Records": [7]}'])
def test_other_shapes_are_reasons(text):
    uploads, reasons = parse_body(text)
    assert uploads == []
    assert len(reasons) == 1


def test_several_records_every_upload_kind_and_no_deletes():
    uploads, reasons = parse_body(body("several_records.json"))
    assert [u.event_name for u in uploads] == [
        "ObjectCreated:Put",
        "ObjectCreated:Post",
        "ObjectCreated:Copy",
        "ObjectCreated:CompleteMultipartUpload",
    ]
    assert uploads[0].key == "talks/main hall_0b6c3e1a-7d7e-4b8a-9d2f-1c2b3a4d5e6f_000010_000050.mp4"
    assert uploads[3].etag == "ddd444-12"
    assert len(reasons) == 1
    assert "ObjectRemoved:Delete is not an upload" in reasons[0]


def test_url_encoded_unicode_key_with_plus():
    [upload], _ = parse_body(body("unicode_key.json"))
    assert upload.key == "talks/Grüße aus Köln & more_abcdef12-0000-4000-8000-000000000001_000005_000105.mp4"
    assert upload.version_id == "v1"


def test_sns_wrapped_event():
    [upload], reasons = parse_body(body("sns_wrapped.json"))
    assert reasons == []
    assert upload.key == "talks/sns_99999999-2222-3333-4444-555555555555_000000_000030.mp4"


# --- planning a batch ----------------------------------------------------------------------------------


def test_plan_triggers_conforming_uploads_and_records_the_rest():
    batch = [
        message("test_event.json", 1),
        message("several_records.json", 2),
        message("unicode_key.json", 3),
        message("seed_example.json", 4),
        message("malformed.txt", 5),
        message("sns_wrapped.json", 6),
    ]
    intake = plan_intake(batch, CONFIG)
    keys = [t["conf"]["key"] for t in intake.triggers]
    assert keys == [
        "talks/main hall_0b6c3e1a-7d7e-4b8a-9d2f-1c2b3a4d5e6f_000010_000050.mp4",
        "talks/room2_11111111-2222-3333-4444-555555555555_000000_001500.mp4",
        "talks/room3_22222222-2222-3333-4444-555555555555_000001_000100.mp4",
        "talks/room4_33333333-2222-3333-4444-555555555555_010000_011000.mp4",
        "talks/Grüße aus Köln & more_abcdef12-0000-4000-8000-000000000001_000005_000105.mp4",
        "talks/sns_99999999-2222-3333-4444-555555555555_000000_000030.mp4",
    ]
    first = intake.triggers[0]
    assert first["trigger_run_id"] == publish_run_id(
        "0b6c3e1a-7d7e-4b8a-9d2f-1c2b3a4d5e6f", "ws26-raw", keys[0], "aaa111"
    )
    assert first["conf"] == {
        "bucket": "ws26-raw",
        "key": keys[0],
        "etag": "aaa111",
        "version_id": "",
        "sequencer": "0062E99A88DC407460",
    }
    reasons = " | ".join(i["reason"] for i in intake.ignored)
    assert "s3:TestEvent" in reasons
    assert "malformed JSON" in reasons
    assert "s3://ds-ajm-videos/test.mp4: no conference uses this bucket" in reasons
    assert "ObjectRemoved:Delete" in reasons
    assert intake.rejected == []


def test_duplicate_delivery_in_one_batch_triggers_once():
    intake = plan_intake([message("unicode_key.json", 1), message("unicode_key.json", 2)], CONFIG)
    assert len(intake.triggers) == 1


def test_bad_name_of_a_configured_conference_is_rejected_other_files_ignored():
    records = {
        "Records": [
            {
                "eventSource": "aws:s3",
                "eventName": "ObjectCreated:Put",
                "s3": {"bucket": {"name": "ws26-raw"}, "object": {"key": key, "eTag": "e1"}},
            }
            for key in ("talks/keynote_final.mp4", "talks/notes.txt", "other/x_u1_000001_000002.mp4")
        ]
    }
    intake = plan_intake([{"MessageId": "m", "ReceiptHandle": "r", "Body": json.dumps(records)}], CONFIG)
    assert intake.triggers == []
    assert [(r["key"], r["conference"]) for r in intake.rejected] == [("talks/keynote_final.mp4", "ws26")]
    assert "separators" in intake.rejected[0]["reason"]
    reasons = [i["reason"] for i in intake.ignored]
    assert reasons == [
        "s3://ws26-raw/talks/notes.txt: not an .mp4 video",
        "s3://ws26-raw/other/x_u1_000001_000002.mp4: no conference uses this bucket",
    ]


# --- names that break run ids --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    [
        "talks/x_abc-123\n_000001_000010.mp4",  # "$" would match before the final newline
        "talks/x_abc\t123_000001_000010.mp4",
        "talks/x_abc-123_000001_000010\n.mp4",
        "talks/x_abc-123_\u0660\u0660\u0660\u0661\u0660\u0669_000010.mp4",  # Arabic-Indic digits are \\d
    ],
)
def test_control_characters_and_unicode_digits_are_refused(key):
    with pytest.raises(TalkNameError):
        parse_talk_key(key)


def test_run_id_pattern_is_airflows_default_and_refuses_what_airflow_refuses():
    from airflow.configuration import conf

    assert f"^{RUN_ID.pattern}$" == conf.get_default_value("scheduler", "allowed_run_id_pattern")
    with pytest.raises(TalkNameError, match="Airflow refuses"):
        publish_run_id("abc\n", "raw", "k.mp4", "e")
    with pytest.raises(TalkNameError, match="Airflow refuses"):
        publish_run_id("a..b", "raw", "k.mp4", "e")


def test_uuid_ending_in_a_newline_is_a_rejected_name_not_a_run():
    [plan] = plan_intake([message("uuid_newline.json")], CONFIG).messages
    assert plan.triggers == []
    assert plan.poison is None
    [rejected] = plan.rejected
    assert rejected["key"] == "talks/x_66666666-2222-3333-4444-555555555555\n_000000_000030.mp4"
    assert "talk uuid '66666666-2222-3333-4444-555555555555\\n'" in rejected["reason"]
    assert plan.conferences == ["ws26"]


# --- EventBridge ---------------------------------------------------------------------------------------


def test_eventbridge_object_created_is_the_same_upload_as_a_notification_record():
    [upload], reasons = parse_body(body("eventbridge_object_created.json"))
    assert reasons == []
    assert upload.bucket == "ws26-raw"
    assert (
        upload.key == "talks/eb hall+1_44444444-2222-3333-4444-555555555555_000000_000030.mp4"
    )  # not decoded
    assert (upload.etag, upload.version_id, upload.size) == (
        "ggg777",
        "uhggCJ2_B6gU2JaXWXebnXFDstO0ID6G",
        198524144,
    )
    assert upload.event_name == "ObjectCreated:CompleteMultipartUpload"
    [from_eventbridge] = plan_intake([message("eventbridge_object_created.json")], CONFIG).triggers
    [from_record] = plan_intake([message("eventbridge_same_as_record.json")], CONFIG).triggers
    assert from_eventbridge == from_record
    assert from_eventbridge["conf"]["version_id"] == "uhggCJ2_B6gU2JaXWXebnXFDstO0ID6G"


def test_eventbridge_event_inside_sns_and_other_detail_types():
    wrapped = {"Type": "Notification", "Message": body("eventbridge_object_created.json")}
    [upload], _ = parse_body(json.dumps(wrapped))
    assert upload.key.startswith("talks/eb hall+1_")
    uploads, reasons = parse_body(body("eventbridge_object_deleted.json"))
    assert uploads == []
    assert reasons == [
        "s3://ws26-raw/talks/old_55555555-2222-3333-4444-555555555555_000000_000030.mp4: "
        "EventBridge 'Object Deleted' is not an upload"
    ]


def test_eventbridge_event_without_detail_is_poison():
    event = json.loads(body("eventbridge_object_created.json"))
    del event["detail"]["object"]
    [plan] = plan_intake(
        [{"MessageId": "m", "ReceiptHandle": "r", "Body": json.dumps(event)}], CONFIG
    ).messages
    assert plan.poison == "cannot be read: MalformedEvent: detail: 'object' is missing, expected a dict"
    assert plan.conferences == ["ws26"]


# --- one message never blocks another ------------------------------------------------------------------


GOOD = "talks/Grüße aus Köln & more_abcdef12-0000-4000-8000-000000000001_000005_000105.mp4"


def test_a_number_as_key_poisons_only_its_own_message():
    intake = plan_intake([message("poison_number_key.json", 1), message("unicode_key.json", 2)], CONFIG)
    poison, good = intake.messages
    assert (
        poison.poison == "cannot be read: MalformedEvent: ObjectCreated:Put: 'key' is a int, expected a str"
    )
    assert (poison.triggers, poison.run_ids, poison.conferences) == ([], [], ["ws26"])
    assert [t["conf"]["key"] for t in intake.triggers] == [GOOD]
    assert good.run_ids == [intake.triggers[0]["trigger_run_id"]]


def test_json_nested_too_deep_for_the_parser_poisons_only_its_own_message():
    deep = {"MessageId": "deep", "ReceiptHandle": "r", "Body": "[" * 100_000 + "]" * 100_000}
    intake = plan_intake([deep, message("unicode_key.json", 2)], CONFIG)
    poison = intake.messages[0]
    assert poison.poison.startswith("cannot be read: RecursionError: ")
    assert poison.conferences == []
    assert [t["conf"]["key"] for t in intake.triggers] == [GOOD]


@pytest.mark.parametrize("bad", [None, 42, {"Records": []}])
def test_a_body_that_is_not_text_never_raises(bad):
    [plan] = plan_intake([{"MessageId": "m", "Body": bad}], CONFIG).messages
    assert plan.triggers == []
    assert plan.poison or plan.ignored


def test_every_exception_while_planning_is_caught(monkeypatch):
    from include.video_publishing import events

    def explode(upload, config, plan):
        raise OSError("disk on fire")

    monkeypatch.setattr(events, "_plan_upload", explode)
    [plan] = plan_intake([message("unicode_key.json")], CONFIG).messages
    assert plan.poison == "cannot be read: OSError: disk on fire"
    assert plan.conferences == ["ws26"]  # found in the body text


def test_conferences_named_needs_the_whole_bucket_name():
    assert conferences_named('{"name": "ws26-raw"}', CONFIG) == ["ws26"]
    assert conferences_named('{"name": "ws26-raw-old"}', CONFIG) == []
    assert conferences_named('{"name": "my-ws26-raw"}', CONFIG) == []


def test_message_of_no_configured_conference_names_none():
    [plan] = plan_intake([message("other_bucket.json")], CONFIG).messages
    assert (plan.conferences, plan.triggers, plan.poison) == ([], [], None)
    assert plan.ignored == [
        "s3://someone-elses-bucket/x_77777777-2222-3333-4444-555555555555_000000_000030.mp4: "
        "no conference uses this bucket"
    ]


@pytest.mark.parametrize(
    ("count", "triggered"), [(None, True), ("1", True), ("5", True), ("6", False), ("not a number", True)]
)
def test_a_message_received_more_than_max_receives_times_is_poison(count, triggered):
    received = message("unicode_key.json")
    if count is not None:
        received["Attributes"] = {"ApproximateReceiveCount": count}
    [plan] = plan_intake([received], CONFIG).messages
    assert bool(plan.triggers) == triggered
    if not triggered:
        assert plan.poison.startswith("received 6 times, more than talkbot_config.max_receives (5)")
        assert plan.run_ids == []


def test_max_receives_is_configurable_and_validated():
    raw = json.loads(json.dumps(CONFIG_RAW))
    assert parse_config(raw).max_receives == 5
    raw["max_receives"] = 2
    assert parse_config(raw).max_receives == 2
    for bad, complaint in ((0, "must be >= 1, got 0"), ("3", "must be int, got str"), (True, "must be int")):
        raw["max_receives"] = bad
        with pytest.raises(ConfigError, match=re.escape(f"talkbot_config.max_receives: {complaint}")):
            parse_config(raw)


def test_eventbridge_null_version_is_no_version():
    event = json.loads(body("eventbridge_object_created.json"))
    event["detail"]["object"]["version-id"] = "null"  # what an unversioned bucket's event carries
    [upload], _ = parse_body(json.dumps(event))
    assert upload.version_id is None


def test_event_sequencer_travels_to_the_publish_run():
    """Two versions uploaded within one second of LastModified are ordered by S3's sequencer: the listener
    passes it to the publish run (Param ``sequencer``) when the event has one."""
    record = json.loads(body("seed_example.json"))
    record["Records"][0]["s3"]["object"]["sequencer"] = "0062E99A88DC407460"
    record["Records"][0]["s3"]["bucket"]["name"] = "ws26-raw"
    record["Records"][0]["s3"]["object"]["key"] = (
        "talks/room9_44444444-2222-3333-4444-555555555555_000000_000030.mp4"
    )
    intake = plan_intake([{"MessageId": "m", "ReceiptHandle": "r", "Body": json.dumps(record)}], CONFIG)
    [trigger] = intake.triggers
    assert trigger["conf"]["sequencer"] == "0062E99A88DC407460"
