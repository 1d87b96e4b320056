"""Talkbot fixtures: an isolated conference per test on the stand-ins, and helpers to inspect outcomes."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from devstack import demo_talkbot
from tests.conftest import restored_params

PUBLISH = "talkbot_publish_video"
LISTENER = "talkbot_sqs_listener"
RECONCILE = "talkbot_reconcile"
LEDGER_PREFIX = "talkbot/"


@dataclass
class Conference:
    """One test's conference: names, config, and accessors for everything a user would look at."""

    stack: Any
    workdir: Path
    slug: str
    raw_bucket: str
    library_bucket: str
    queue_url: str
    entry: dict[str, Any]
    ledger_bucket: str
    extra_conferences: dict[str, Any] = field(default_factory=dict)

    def apply(self) -> None:
        config = {
            "queue_url": self.queue_url,
            "ledger": f"s3://{self.ledger_bucket}/{LEDGER_PREFIX}",
            "conferences": {self.slug: self.entry, **self.extra_conferences},
        }
        os.environ["AIRFLOW_VAR_TALKBOT_CONFIG"] = json.dumps(config)

    def upload(self, key: str, duration: float = 20.0) -> str:
        return demo_talkbot.upload_talk(self.stack, self.workdir, self.raw_bucket, key, duration)

    def talk_rows(self) -> list[dict[str, str]]:
        location = self.entry["talk_sheet"]
        if location.startswith("s3://"):
            rows = demo_talkbot.read_csv(self.stack.boto3_client("s3"), location)
        else:
            spreadsheet_id = location.split("/d/")[1].split("/")[0]
            rows = self.stack.google.get_sheet(spreadsheet_id)
        header = rows[0]
        return [dict(zip(header, row + [""] * (len(header) - len(row)), strict=True)) for row in rows[1:]]

    def talk(self, uuid: str) -> dict[str, str]:
        return next(row for row in self.talk_rows() if row["UUID"] == uuid)

    def ledger(self, uuid: str) -> list[dict[str, Any]]:
        """The version records of a talk in the private ledger, oldest first."""
        return self._records(f"{LEDGER_PREFIX}ledger/{uuid}/")

    def talk_record(self, uuid: str) -> dict[str, Any]:
        """The talk's own ledger record (versions, videos, what was sent to YouTube)."""
        [record] = self._records(f"{LEDGER_PREFIX}talks/{uuid}.json") or [{}]
        return record

    def rejected(self) -> list[dict[str, Any]]:
        return self._records(f"{LEDGER_PREFIX}rejected/")

    def _records(self, prefix: str) -> list[dict[str, Any]]:
        s3 = self.stack.boto3_client("s3")
        listing = s3.list_objects_v2(Bucket=self.ledger_bucket, Prefix=prefix)
        records = [
            json.loads(s3.get_object(Bucket=self.ledger_bucket, Key=o["Key"])["Body"].read())
            for o in listing.get("Contents", [])
        ]
        return sorted(records, key=lambda r: r.get("created_at") or "")

    def queue_depth(self) -> int:
        attributes = self.stack.boto3_client("sqs").get_queue_attributes(
            QueueUrl=self.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(
            attributes["ApproximateNumberOfMessagesNotVisible"]
        )

    def emails_to(self, address: str) -> list[Any]:
        """Emails this conference sent to ``address`` (every conference has its own sender)."""
        sender = self.entry["email"]["from"]
        return [m for m in self.stack.smtp.messages if address in str(m["To"]) and sender in str(m["From"])]

    def youtube_uploads(self, uuid_title: str) -> list[dict]:
        return [u for u in self.stack.google.youtube.uploads if u["snippet"].get("title") == uuid_title]


@pytest.fixture
def quick_retries(dagbag):
    """One retry after one second for the talkbot DAGs while a test runs, so failure paths finish in seconds.

    ``dag.test()`` honours retry delays; the production delays (minutes) would only slow tests. The DAG
    objects are shared (session ``dagbag``), so the production values are put back afterwards.
    """
    saved = []
    for dag_id in (PUBLISH, LISTENER, RECONCILE):
        for task in dagbag.get_dag(dag_id).tasks:
            saved.append((task, task.retries, task.retry_delay, task.retry_exponential_backoff))
            task.retries = 1
            task.retry_delay = timedelta(seconds=1)
            task.retry_exponential_backoff = False
    yield
    for task, retries, delay, backoff in saved:
        task.retries, task.retry_delay, task.retry_exponential_backoff = retries, delay, backoff


@pytest.fixture
def make_conference(stack, unique_name, tmp_path_factory, quick_retries):
    """``make_conference(talks, speakers, google=..., publisher=...)`` → a fresh, applied Conference."""
    created: list[Conference] = []
    workdir = tmp_path_factory.mktemp("talkbot")

    def _make(
        talks, speakers, *, google: bool = False, publisher: str = "youtube", branding: bool = False, **extra
    ) -> Conference:
        """``branding``: a 2 s sting and a watermark PNG in ``s3://<library>/_assets/``, named in the config."""
        n = len(created)
        slug = f"{unique_name}c{n}"
        raw, library = f"{slug}-raw", f"{slug}-library"
        queue_url = demo_talkbot.create_queue(stack, f"{slug}-uploads", raw)
        entry = demo_talkbot.create_conference(
            stack,
            slug=slug,
            raw_bucket=raw,
            library_bucket=library,
            talks=talks,
            speakers=speakers,
            talk_sheet_in_google=google,
            publisher=publisher,
            **extra,
        )
        if branding:
            from devstack.media import make_sting, make_watermark

            s3 = stack.boto3_client("s3")
            s3.upload_file(str(make_sting(workdir / "sting.mp4")), library, "_assets/sting.mp4")
            s3.upload_file(str(make_watermark(workdir / "logo.png")), library, "_assets/logo.png")
            entry.update(
                sting=f"s3://{library}/_assets/sting.mp4", watermark=f"s3://{library}/_assets/logo.png"
            )
        ledger_bucket = f"{slug}-private"
        stack.boto3_client("s3").create_bucket(Bucket=ledger_bucket)
        conference = Conference(stack, workdir, slug, raw, library, queue_url, entry, ledger_bucket)
        conference.apply()
        created.append(conference)
        return conference

    yield _make
    os.environ.pop("AIRFLOW_VAR_TALKBOT_CONFIG", None)


@pytest.fixture
def dag_runs(airflow_db):
    """``dag_runs(dag_id)`` → {run_id: (state, conf)} from the metadata DB (runs created by triggers)."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    def _runs(dag_id: str) -> dict[str, tuple[str, dict]]:
        with create_session() as session:
            return {
                r.run_id: (getattr(r.state, "value", r.state), dict(r.conf or {}))
                for r in session.query(DagRun).filter(DagRun.dag_id == dag_id)
            }

    return _runs


@pytest.fixture
def clear_and_retry(dagbag):
    """``clear_and_retry(dag_run, conf)``: clear every task of a finished run and run them again.

    ``dag.test()`` with the run's own logical date and run_after finds the same run, clears its task
    instances and executes the whole DAG again — what "Clear" on the run does in the UI. Params are restored
    afterwards, as ``run_dag`` does (dag.test writes the conf into the shared Param objects).
    """

    def _retry(dag_run, conf: dict):
        dag = dagbag.get_dag(dag_run.dag_id)
        with restored_params(dag):
            return dag.test(run_conf=conf, logical_date=dag_run.logical_date, run_after=dag_run.run_after)

    return _retry


SMALL_CHUNK = 64 * 1024  # Facebook stand-in chunk size for tests: a short video takes several chunks


@pytest.fixture
def small_facebook_chunks(stack):
    store = stack.facebook.store
    saved = store.chunk_size
    store.chunk_size = SMALL_CHUNK
    yield store
    store.chunk_size = saved
    store._failures.clear()
