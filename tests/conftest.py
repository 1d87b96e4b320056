"""Test fixtures: an isolated Airflow home, the local stand-in stack, and a DAG runner.

Airflow reads its configuration when it is first imported, so the environment is set
here, at import time, before any test module imports Airflow. Every server the tests
talk to is on 127.0.0.1; nothing here falls back to a real cloud endpoint.
"""

from __future__ import annotations

import contextlib
import copy
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DAGS_FOLDER = REPO / "dags"

_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="airflow-test-home-"))
os.environ.update(
    {
        "AIRFLOW_HOME": str(_AIRFLOW_HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_AIRFLOW_HOME / 'airflow.db'}",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        "AIRFLOW__CORE__ALLOWED_DESERIALIZATION_CLASSES_REGEXP": ".*",
        # Google clients must never look for default credentials on this machine.
        "GOOGLE_APPLICATION_CREDENTIALS": "",
        "NO_GCE_CHECK": "True",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH", "")])),
    }
)
# Never let a test touch real AWS by accident, even before the stack starts.
for _name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
    os.environ.pop(_name, None)
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_AIRFLOW_HOME, ignore_errors=True)


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    """The running local stand-in stack; its connections are in os.environ for the session."""
    from devstack import LocalStack

    with LocalStack(tmp_path_factory.mktemp("stack")) as local:
        previous = {k: os.environ.get(k) for k in local.env}
        local.apply_env()
        yield local
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(scope="session")
def airflow_db():
    """A migrated SQLite metadata database in the session's private AIRFLOW_HOME."""
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        check=True,
        capture_output=True,
        env=os.environ.copy(),
    )
    return _AIRFLOW_HOME


@pytest.fixture(scope="session")
def dagbag(airflow_db):
    """Every DAG in dags/, parsed once by Airflow 3's DagBag."""
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS_FOLDER))


@contextlib.contextmanager
def restored_params(dag):
    """Put back every Param value of ``dag`` and its tasks after a ``dag.test()``.

    dag.test() runs tasks in this process and writes the run's conf into the Param objects, which the DAG
    and its tasks share; the values are restored in place (swapping the DAG's objects for copies would
    leave the tasks holding the changed ones, and one run's conf would become the next run's default).
    """
    holders = [dag.params, *(task.params for task in dag.tasks)]
    saved = [(param, copy.deepcopy(param.value)) for holder in holders for _, param in holder.items()]
    try:
        yield
    finally:
        for param, value in saved:
            param.value = value


@pytest.fixture
def run_dag(stack, airflow_db, dagbag):
    """Run one DAG to completion in-process with ``dag.test()`` and return its DagRun.

    The run may end failed: tests assert on ``dag_run.state`` and on the outcome.
    """

    def _run(dag_id: str, conf: dict | None = None, logical_date=None):
        dag = dagbag.get_dag(dag_id)
        assert dag is not None, f"DAG {dag_id} not found; import errors: {dagbag.import_errors}"
        kwargs = {"run_conf": conf or {}}
        if logical_date is not None:
            kwargs["logical_date"] = logical_date
        with restored_params(dag):
            return dag.test(**kwargs)

    return _run


@pytest.fixture
def s3(stack):
    """A boto3 S3 client against the moto server."""
    return stack.boto3_client("s3")


@pytest.fixture
def unique_name():
    """A short run-unique prefix, so tests never collide on buckets or keys."""
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def task_states():
    """``task_states(dag_run)`` → {task_id or task_id[map_index]: state} from the metadata DB."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    def _states(dag_run) -> dict[str, str]:
        with create_session() as session:
            tis = (
                session.query(TaskInstance)
                .filter(TaskInstance.dag_id == dag_run.dag_id, TaskInstance.run_id == dag_run.run_id)
                .all()
            )
            return {
                (ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]"): getattr(
                    ti.state, "value", ti.state
                )
                for ti in tis
            }

    return _states


@pytest.fixture
def alerts(stack, monkeypatch, unique_name):
    """An SNS alert topic with a subscribed queue; ``alerts()`` → the message bodies that arrived."""
    sns, sqs = stack.boto3_client("sns"), stack.boto3_client("sqs")
    topic = sns.create_topic(Name=f"{unique_name}-alerts")["TopicArn"]
    queue = sqs.create_queue(QueueName=f"{unique_name}-inbox")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
    monkeypatch.setenv("ALERTS_SNS_TOPIC_ARN", topic)
    received: list[str] = []

    def _messages() -> list[str]:
        while True:
            batch = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1, MaxNumberOfMessages=10)
            if not batch.get("Messages"):
                return list(received)
            for message in batch["Messages"]:
                received.append(message["Body"])
                sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])

    return _messages
