"""The AWS wiring as code: deploy/aws/*.yaml linted, deployed into moto, and read where moto stops.

moto's CloudFormation creates the buckets, the queues with their redrive policy, the topic and the
IAM managed policies. It does not apply a bucket's ``NotificationConfiguration``, bucket versioning
or lifecycle rules, ``AWS::SQS::QueuePolicy`` or ``AWS::CloudWatch::Alarm``: those are asserted from
the template itself (and the restore test applies the template's versioning the way S3 would).
"""

from __future__ import annotations

import fnmatch
import json
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from cfnlint.decode import cfn_yaml

REPO = Path(__file__).resolve().parents[2]
MAIN = REPO / "deploy" / "aws" / "media-pipelines.yaml"
CONFERENCE = REPO / "deploy" / "aws" / "conference.yaml"
REGION = "us-east-1"
# The talkbot listener records a message as poison after this many receives (its default
# `max_receives`); the queue's redrive must leave it room to do so.
LISTENER_MAX_RECEIVES = 5


def template(path: Path) -> dict:
    return cfn_yaml.loads(path.read_text())


def default(tpl: dict, name: str):
    return tpl["Parameters"][name]["Default"]


def statements(tpl: dict, policy: str) -> dict[str, dict]:
    doc = tpl["Resources"][policy]["Properties"]["PolicyDocument"]
    return {s["Sid"]: s for s in doc["Statement"]}


def test_templates_pass_cfn_lint():
    cfn_lint = shutil.which("cfn-lint", path=str(Path(sys.executable).parent)) or shutil.which("cfn-lint")
    if cfn_lint is None:
        pytest.skip("SKIPPED cfn-lint: not installed (it is in requirements-dev.txt; run make install)")
    result = subprocess.run(
        [cfn_lint, str(MAIN), str(CONFERENCE)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="module")
def deployed():
    """Both stacks created in moto (in process, never a real endpoint): clients and outputs."""
    import boto3
    from moto import mock_aws

    with pytest.MonkeyPatch.context() as mp:
        # The session's stand-in stack points boto3 at the moto server; this test mocks in process.
        mp.delenv("AWS_ENDPOINT_URL", raising=False)
        mp.setenv("AWS_ACCESS_KEY_ID", "testing")
        mp.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        with mock_aws(), warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # moto: "no support for QueuePolicy/Alarm"
            clients = {
                s: boto3.client(s, region_name=REGION) for s in ("cloudformation", "sqs", "sns", "s3", "iam")
            }
            cf = clients["cloudformation"]
            cf.create_stack(
                StackName="media-pipelines",
                TemplateBody=MAIN.read_text(),
                Capabilities=["CAPABILITY_NAMED_IAM"],
            )
            cf.create_stack(StackName="media-pipelines-ws26", TemplateBody=CONFERENCE.read_text())
            stacks = {}
            for name in ("media-pipelines", "media-pipelines-ws26"):
                stack = cf.describe_stacks(StackName=name)["Stacks"][0]
                assert stack["StackStatus"] == "CREATE_COMPLETE", stack
                stacks[name] = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
            yield clients, stacks["media-pipelines"], stacks["media-pipelines-ws26"]


def test_stack_creates_the_queues_topic_buckets_and_policies(deployed):
    clients, outputs, conference = deployed
    main = template(MAIN)
    sqs = clients["sqs"]
    attributes = sqs.get_queue_attributes(QueueUrl=outputs["UploadsQueueUrl"], AttributeNames=["All"])
    redrive = json.loads(attributes["Attributes"]["RedrivePolicy"])
    dlq_arn = sqs.get_queue_attributes(
        QueueUrl=outputs["UploadsDeadLetterQueueUrl"], AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    assert redrive["deadLetterTargetArn"] == dlq_arn
    assert int(redrive["maxReceiveCount"]) == default(main, "MaxReceiveCount")
    assert int(redrive["maxReceiveCount"]) > LISTENER_MAX_RECEIVES
    assert main["Parameters"]["MaxReceiveCount"]["MinValue"] > LISTENER_MAX_RECEIVES

    topics = [t["TopicArn"] for t in clients["sns"].list_topics()["Topics"]]
    assert outputs["AlertTopicArn"] in topics

    buckets = {b["Name"] for b in clients["s3"].list_buckets()["Buckets"]}
    for parameter in ("LibraryBucketName", "LedgerBucketName", "DatasetBucketName", "LogsBucketName"):
        assert default(main, parameter) in buckets
    assert conference["RawBucketName"] == default(template(CONFERENCE), "RawBucketPrefix") + "ws26"
    assert conference["RawBucketName"] in buckets

    iam = clients["iam"]
    created = {p["PolicyName"]: p for p in iam.list_policies(Scope="Local")["Policies"]}
    roles = ("secrets-read", "worker", "triggerer", "apiserver", "scheduler")
    assert {f"media-pipelines-{r}" for r in roles} <= set(created)
    worker = created["media-pipelines-worker"]
    document = iam.get_policy_version(PolicyArn=worker["Arn"], VersionId=worker["DefaultVersionId"])[
        "PolicyVersion"
    ]["Document"]
    document = json.loads(document) if isinstance(document, str) else document
    by_sid = {s["Sid"]: s for s in document["Statement"]}
    assert by_sid["Ledger"]["Resource"] == f"arn:aws:s3:::{default(main, 'LedgerBucketName')}/ledger/*"
    assert by_sid["UploadEvents"]["Resource"] == outputs["UploadsQueueArn"]
    sources = default(main, "SyncSourceBuckets").split(",")
    assert by_sid["ReadDatasetSyncSources"]["Resource"] == [f"arn:aws:s3:::{b}/*" for b in sources]


def test_poison_message_ends_in_the_dead_letter_queue(deployed):
    clients, outputs, _ = deployed
    sqs = clients["sqs"]
    queue, dlq = outputs["UploadsQueueUrl"], outputs["UploadsDeadLetterQueueUrl"]
    max_receives = default(template(MAIN), "MaxReceiveCount")
    sqs.send_message(QueueUrl=queue, MessageBody='{"Records": "not a list"}')

    receive_counts = []
    for _ in range(max_receives + 5):  # bounded: SQS must move it after max_receives
        batch = sqs.receive_message(
            QueueUrl=queue, VisibilityTimeout=0, AttributeNames=["ApproximateReceiveCount"]
        ).get("Messages", [])
        if not batch:
            break
        receive_counts.append(int(batch[0]["Attributes"]["ApproximateReceiveCount"]))
    # The listener sees it LISTENER_MAX_RECEIVES times (and records it) before SQS moves it.
    assert receive_counts == list(range(1, max_receives + 1))
    assert LISTENER_MAX_RECEIVES in receive_counts
    moved = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10).get("Messages", [])
    assert [m["Body"] for m in moved] == ['{"Records": "not a list"}']


def test_raw_bucket_events_go_to_the_uploads_queue(deployed):
    """From the template: moto does not apply bucket notifications."""
    clients, outputs, _ = deployed
    conference, main = template(CONFERENCE), template(MAIN)
    bucket = conference["Resources"]["RawBucket"]["Properties"]
    (rule,) = bucket["NotificationConfiguration"]["QueueConfigurations"]
    assert rule["Event"] == "s3:ObjectCreated:*"
    assert "Filter" not in rule, "every upload must reach the listener, which records rejected names"
    export = rule["Queue"]["Fn::ImportValue"]["Fn::Sub"].replace("${Prefix}", default(conference, "Prefix"))
    exports = {e["Name"]: e["Value"] for e in clients["cloudformation"].list_exports()["Exports"]}
    assert exports[export] == outputs["UploadsQueueArn"]
    assert main["Outputs"]["UploadsQueueArn"]["Export"]["Name"] == {"Fn::Sub": "${Prefix}-uploads-queue-arn"}


def test_queue_policy_lets_only_this_accounts_raw_buckets_send(deployed):
    """From the template: moto skips AWS::SQS::QueuePolicy."""
    _, _, conference_outputs = deployed
    main = template(MAIN)
    policy = main["Resources"]["UploadsQueuePolicy"]["Properties"]
    assert policy["Queues"] == [{"Ref": "UploadsQueue"}]
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Principal"] == {"Service": "s3.amazonaws.com"}
    assert statement["Action"] == "sqs:SendMessage"
    assert statement["Resource"] == {"Fn::GetAtt": ["UploadsQueue", "Arn"]}
    assert statement["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    pattern = statement["Condition"]["ArnLike"]["aws:SourceArn"]["Fn::Sub"]
    pattern = pattern.replace("${AWS::Partition}", "aws").replace(
        "${RawBucketPrefix}", default(main, "RawBucketPrefix")
    )
    assert fnmatch.fnmatch(f"arn:aws:s3:::{conference_outputs['RawBucketName']}", pattern)
    assert not fnmatch.fnmatch(f"arn:aws:s3:::{default(main, 'LibraryBucketName')}", pattern)


def test_dead_letter_alarm_alerts_the_topic():
    alarm = template(MAIN)["Resources"]["DeadLetterAlarm"]["Properties"]
    assert alarm["AlarmActions"] == [{"Ref": "AlertTopic"}]
    assert alarm["Dimensions"][0]["Value"] == {"Fn::GetAtt": ["UploadsDeadLetterQueue", "QueueName"]}
    assert alarm["Threshold"] == 0
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold"


def test_ledger_bucket_is_private_and_named_by_the_output():
    main = template(MAIN)
    ledger = main["Resources"]["LedgerBucket"]["Properties"]
    assert all(ledger["PublicAccessBlockConfiguration"].values())
    assert set(ledger["PublicAccessBlockConfiguration"]) == {
        "BlockPublicAcls",
        "BlockPublicPolicy",
        "IgnorePublicAcls",
        "RestrictPublicBuckets",
    }
    assert main["Outputs"]["LedgerLocation"]["Value"] == {"Fn::Sub": "s3://${LedgerBucket}/ledger/"}


def test_deletes_are_limited_to_the_ledger_sting_cache_and_dataset():
    main = template(MAIN)
    deletes = {
        (policy, sid): s["Resource"]
        for policy in (
            "WorkerPolicy",
            "TriggererPolicy",
            "ApiServerPolicy",
            "SchedulerPolicy",
            "SecretsReadPolicy",
        )
        for sid, s in statements(main, policy).items()
        if any(a in ("s3:DeleteObject", "s3:*", "*") for a in _actions(s))
    }
    assert deletes == {
        ("WorkerPolicy", "StingCache"): {"Fn::Sub": "${LibraryBucket.Arn}/_talkbot/stings/*"},
        ("WorkerPolicy", "Ledger"): {"Fn::Sub": "${LedgerBucket.Arn}/ledger/*"},
        ("WorkerPolicy", "LedgerTransition"): [
            {"Fn::Sub": "${LibraryBucket.Arn}/_talkbot/ledger/*"},
            {"Fn::Sub": "${LibraryBucket.Arn}/_talkbot/rejected/*"},
        ],
        ("WorkerPolicy", "DatasetSync"): {"Fn::Sub": "${DatasetBucket.Arn}/*"},
    }
    api = statements(main, "ApiServerPolicy")
    assert {a for s in api.values() for a in _actions(s)} == {"s3:ListBucket", "s3:GetObject"}


def _actions(statement: dict) -> list[str]:
    actions = statement["Action"]
    return [actions] if isinstance(actions, str) else list(actions)


def test_deleted_dataset_object_can_be_restored_as_the_runbook_says(deployed):
    """Versioning and the noncurrent-version expiry come from the template; the restore is the
    runbook's: delete the delete marker, and the previous version is current again."""
    clients, outputs, _ = deployed
    main = template(MAIN)
    dataset = main["Resources"]["DatasetBucket"]["Properties"]
    assert dataset["VersioningConfiguration"] == {"Status": "Enabled"}
    expiry = next(r for r in dataset["LifecycleConfiguration"]["Rules"] if "NoncurrentVersionExpiration" in r)
    assert expiry["Status"] == "Enabled"
    assert expiry["NoncurrentVersionExpiration"] == {"NoncurrentDays": {"Ref": "DatasetNoncurrentDays"}}
    assert default(main, "DatasetNoncurrentDays") >= 1

    s3, bucket = clients["s3"], outputs["DatasetBucketName"]
    # moto does not apply VersioningConfiguration from a template: apply it as S3 would.
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration=dataset["VersioningConfiguration"])
    key = "tuttle_twins/ML/train/common/S01E01_000042.jpg"
    s3.put_object(Bucket=bucket, Key=key, Body=b"frame 42")
    s3.delete_object(Bucket=bucket, Key=key)  # an approved delete of the sync
    with pytest.raises(s3.exceptions.NoSuchKey):
        s3.get_object(Bucket=bucket, Key=key)

    # Runbook: aws s3api list-object-versions --bucket B --prefix K; then
    # aws s3api delete-object --bucket B --key K --version-id <the delete marker's VersionId>
    markers = s3.list_object_versions(Bucket=bucket, Prefix=key)["DeleteMarkers"]
    (marker,) = [m for m in markers if m["IsLatest"]]
    s3.delete_object(Bucket=bucket, Key=key, VersionId=marker["VersionId"])
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"frame 42"
