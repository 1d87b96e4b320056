"""Fixtures for ``make test-prod``: the Celery topology on PostgreSQL + Redis.

These tests need the PostgreSQL (127.0.0.1:5432) and Redis (127.0.0.1:6379) that this
kind of machine runs; without them every test here is skipped with the reason. ``make
test`` never collects this folder.

The topology reads every connection and variable (``talkbot_config``, ``alerts_sns_topic_arn``)
through providers-amazon's ``SecretsManagerBackend`` from moto's Secrets Manager, as the Helm and
Compose deployments do from AWS: no ``AIRFLOW_CONN_*`` variable reaches its processes.
"""

from __future__ import annotations

import json
import os

import pytest

from devstack.topology import CeleryTopology, services_available


@pytest.fixture(scope="session")
def prod_services():
    ok, why = services_available()
    if not ok:
        pytest.skip(f"SKIPPED production topology: {why}")
    return why


@pytest.fixture(scope="session")
def alert_queue(stack):
    """An SQS queue subscribed to a fresh SNS alert topic: (topic_arn, queue_url)."""
    sns, sqs = stack.boto3_client("sns"), stack.boto3_client("sqs")
    topic = sns.create_topic(Name="prod-alerts")["TopicArn"]
    queue = sqs.create_queue(QueueName="prod-alerts-inbox")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
    return topic, queue


@pytest.fixture(scope="session")
def topology(prod_services, stack, alert_queue, tmp_path_factory):
    """Both pipelines' demo data seeded, then the topology started with two Celery workers."""
    from devstack import demo_dataset_sync, demo_talkbot

    workdir = tmp_path_factory.mktemp("prod")
    demo_dataset_sync.seed(stack, workdir)
    demo_talkbot.seed(stack, workdir)
    variables = {**demo_talkbot.variables(stack), "alerts_sns_topic_arn": alert_queue[0]}
    topo = CeleryTopology(stack, workdir / "topology", workers=2, worker_concurrency=1, secrets_backend=True)
    try:
        topo.start(variables=variables)
        yield topo
    finally:
        topo.stop()
        os.environ.pop("AIRFLOW__CORE__EXECUTOR", None)


def received_alerts(stack, queue_url: str) -> list[str]:
    sqs = stack.boto3_client("sqs")
    bodies = []
    while True:
        batch = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
            "Messages", []
        )
        if not batch:
            return bodies
        bodies += [m["Body"] for m in batch]


def as_json(text: str) -> dict:
    return json.loads(text)
