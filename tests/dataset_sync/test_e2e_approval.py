"""End to end on ``airflow standalone``: held changes wait for a person, who answers through the API.

Approvals need a scheduler and an API server on one metadata database (``dag.test()`` never
resolves a human-in-the-loop task), so this module starts ``airflow standalone`` (LocalExecutor,
SQLite) once, against the session's moto and Google stand-ins, with only the dataset sync DAG
in its DAG folder. Runs are triggered and answered over the REST API, as a person's browser
would; the outcome is read from the bucket, the alert queue and ``report.json``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from include.dataset_sync import layout
from tests.conftest import DAGS_FOLDER
from tests.dataset_sync.conftest import HEADER, Season, expected_key, sheet_row

pytestmark = pytest.mark.e2e
DAG_ID = "tuttle_twins_dataset_sync"
APPROVAL = "approve_held_changes"
RUN_TIMEOUT_S = 600
FINISHED = {"success", "failed"}


class Airflow:
    """A running standalone and the few REST calls the tests make."""

    def __init__(self, port: int, passwords: dict[str, str], env: dict[str, str], log_path) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.passwords = passwords
        self.env = env
        self.log_path = log_path
        self._tokens: dict[str, str] = {}

    def token(self, user: str) -> str:
        if user not in self._tokens:
            body = {"username": user, "password": self.passwords[user]}
            self._tokens[user] = self._call("POST", "/auth/token", body, auth=False)["access_token"]
        return self._tokens[user]

    def _call(self, method: str, path: str, body=None, *, user: str = "admin", auth: bool = True):
        headers = {"Content-Type": "application/json"}
        if auth:
            headers["Authorization"] = f"Bearer {self.token(user)}"
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data=data, headers=headers, method=method)
        # The API server shares two busy cores with everything else: reads are retried when it is
        # slow to answer; writes get one long attempt (they are not repeated).
        attempts = 5 if method == "GET" else 1
        for attempt in range(1, attempts + 1):
            try:
                with urllib.request.urlopen(request, timeout=120) as response:
                    return json.load(response)
            except (TimeoutError, urllib.error.URLError) as err:
                if isinstance(err, urllib.error.HTTPError) or attempt == attempts:
                    raise
                time.sleep(3)
        raise AssertionError("unreachable")

    def status(self, method: str, path: str, body=None, *, user: str = "admin") -> int:
        try:
            self._call(method, path, body, user=user)
        except urllib.error.HTTPError as err:
            return err.code
        return 200

    def trigger(self, conf: dict) -> str:
        run_id = f"test__{uuid.uuid4().hex[:12]}"
        self._call(
            "POST",
            f"/api/v2/dags/{DAG_ID}/dagRuns",
            {"dag_run_id": run_id, "logical_date": None, "conf": conf},
        )
        return run_id

    def runs(self) -> list[dict]:
        """Every run of the DAG, oldest logical date first."""
        return self._call("GET", f"/api/v2/dags/{DAG_ID}/dagRuns?limit=100&order_by=logical_date")["dag_runs"]

    def run(self, run_id: str) -> dict:
        return self._call("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}")

    def task_state(self, run_id: str, task_id: str) -> str | None:
        try:
            return self._call("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{task_id}")[
                "state"
            ]
        except urllib.error.HTTPError as err:
            if err.code == 404:
                return None
            raise

    def explain(self, run_id: str) -> str:
        """Each task's state, and the end of the log of every task that did not succeed: the assertion
        message of a run that ended unexpectedly (CI shows nothing else)."""
        tis = self._call("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances?limit=100")
        lines = []
        for ti in tis["task_instances"]:
            lines.append(f"{ti['task_id']}[{ti['map_index']}]: {ti['state']} (try {ti['try_number']})")
            if ti["state"] in ("success", "skipped") or not ti["try_number"]:
                continue
            path = f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{ti['task_id']}/logs/{ti['try_number']}"
            if ti["map_index"] >= 0:
                path += f"?map_index={ti['map_index']}"
            try:
                content = self._call("GET", path).get("content", [])
            except (urllib.error.URLError, TimeoutError) as err:
                lines.append(f"  (log unavailable: {err})")
                continue
            events = [e.get("event", "") if isinstance(e, dict) else str(e) for e in content]
            lines.extend(f"  {event}" for event in events[-25:])
        return "\n".join(lines)

    def hitl_path(self, run_id: str) -> str:
        return f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{APPROVAL}/-1/hitlDetails"

    def hitl(self, run_id: str) -> dict:
        return self._call("GET", self.hitl_path(run_id))

    def answer(self, run_id: str, option: str, user: str = "admin") -> dict:
        return self._call("PATCH", self.hitl_path(run_id), {"chosen_options": [option]}, user=user)

    def wait(self, condition, what: str, timeout: float = RUN_TIMEOUT_S):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = condition()
            if value:
                return value
            time.sleep(2)
        raise TimeoutError(f"waited {timeout:.0f} s for {what}")

    def wait_awaiting_input(self, run_id: str) -> None:
        def check():
            state = self.task_state(run_id, APPROVAL)
            run_state = self.run(run_id)["state"]
            if run_state in FINISHED:
                raise AssertionError(f"run {run_id} ended {run_state} before asking for approval")
            return state == "awaiting_input"

        self.wait(check, f"{APPROVAL} of {run_id} to await input")
        self.wait(lambda: self.pause_settled(run_id), f"the scheduler to see {APPROVAL} of {run_id} pause")

    def pause_settled(self, run_id: str) -> bool:
        """Whether the scheduler has processed the executor's "finished" event of the process that
        paused the approval task.

        Airflow 3.3.2 race: pausing and resuming share one try number, so one executor key. When an
        answer (or the timeout sweep) requeues the task before the scheduler has read the paused
        process's exit, LocalExecutor's ``running.discard(key)`` for that exit drops the new process
        too, and the scheduler marks the task failed ("state changed externally"). The window is one
        scheduler loop (1-5 s here under load). A person answers after reading the request; this
        test answers as soon as that window has passed, not inside it.
        """
        marker = f"TaskInstance Finished: dag_id={DAG_ID}, task_id={APPROVAL}, run_id={run_id},"
        return marker in self.log_path.read_text(errors="replace")

    def wait_finished(self, run_id: str) -> dict:
        return self.wait(
            lambda: (r := self.run(run_id))["state"] in FINISHED and r, f"run {run_id} to finish"
        )


@pytest.fixture(scope="module")
def airflow(stack, tmp_path_factory):
    """``airflow standalone`` with the dataset sync DAG only, an alert topic and approver ``admin``."""
    from devstack.demo import (
        airflow as airflow_cli,
    )
    from devstack.demo import (
        airflow_environment,
        start_standalone,
        stop_standalone,
        wait_healthy,
    )
    from devstack.net import free_port

    state = tmp_path_factory.mktemp("standalone")
    home, dags = state / "home", state / "dags"
    home.mkdir()
    dags.mkdir()
    (dags / f"{DAG_ID}.py").symlink_to(DAGS_FOLDER / f"{DAG_ID}.py")
    sns, sqs = stack.boto3_client("sns"), stack.boto3_client("sqs")
    topic = sns.create_topic(Name=f"sync-alerts-{uuid.uuid4().hex[:8]}")["TopicArn"]
    queue = sqs.create_queue(QueueName=f"sync-alerts-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    # The scheduled run that unpausing creates syncs the default bucket: make it exist.
    s3 = stack.boto3_client("s3")
    if "media.angel-nft.com" not in {b["Name"] for b in s3.list_buckets()["Buckets"]}:
        s3.create_bucket(Bucket="media.angel-nft.com")

    port = free_port()
    env = airflow_environment(stack, home, port)
    env.update(
        {
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin,bystander:admin",
            # The scheduler's sweep of expired approvals (default every 15 s).
            "AIRFLOW__SCHEDULER__TRIGGER_TIMEOUT_CHECK_INTERVAL": "2",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            # Task processes talk to the API server, which shares two busy cores with other test
            # runs: wait longer than the default before a task start counts as failed.
            "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "60",
            "AIRFLOW_VAR_ALERTS_SNS_TOPIC_ARN": topic,
            "AIRFLOW_VAR_DATASET_SYNC_APPROVERS": '["admin"]',
        }
    )
    airflow_cli(env, "db", "migrate")
    log_path = state / "standalone.log"
    process = start_standalone(env, log_path)
    try:
        wait_healthy(port, process, log_path)
        passwords_file = home / "simple_auth_manager_passwords.json.generated"
        api = Airflow(port, {}, env, log_path)
        api.wait(passwords_file.exists, "the generated passwords")
        api.passwords = json.loads(passwords_file.read_text())
        api.wait(lambda: api.status("GET", f"/api/v2/dags/{DAG_ID}") == 200, f"{DAG_ID} to be parsed", 180)
        # Unpausing a @daily DAG makes the scheduler create the latest interval's run (default
        # bucket). It is not part of these tests and would hold the one active-run slot: end it.
        scheduled = api.wait(
            lambda: [r for r in api.runs() if r["run_type"] == "scheduled"], "the scheduled run", 120
        )
        for run in scheduled:
            api._call("PATCH", f"/api/v2/dags/{DAG_ID}/dagRuns/{run['dag_run_id']}", {"state": "success"})
        api.alert_queue = queue
        api.sqs = sqs
        yield api
    finally:
        stop_standalone(process, home)


def alerts(api: Airflow) -> list[str]:
    """Every alert message received so far on the queue subscribed to the topic (drains the queue)."""
    found = []
    while True:
        batch = api.sqs.receive_message(QueueUrl=api.alert_queue, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        messages = batch.get("Messages", [])
        if not messages:
            return found
        for message in messages:
            found.append(json.loads(message["Body"])["Message"])
            api.sqs.delete_message(QueueUrl=api.alert_queue, ReceiptHandle=message["ReceiptHandle"])


def run_json(season: Season, run_id: str, name: str) -> dict:
    return json.loads(season.body(f"{layout.SYNC_RUNS_PREFIX}{run_id}/{name}"))


def bodies(season: Season, keys) -> dict[str, bytes]:
    return {k: season.body(k) for k in keys}


def synced_episode(season: Season, episode: str, numbers, rarity: str = "Rare") -> list[str]:
    season.put_frames(episode, numbers)
    keys = [expected_key(episode, n, rarity) for n in numbers]
    for key in keys:
        season.put_dest(key, f"dataset copy of {key}".encode())
    return keys


def season_of_six(season: Season) -> dict[str, list[str]]:
    """S01 with 6 episodes of 10 frames, all in sync, sheets in the Google stand-in; S02 with 1."""
    keys = {}
    for e in range(1, 7):
        episode = f"S01E{e:02d}"
        keys[episode] = synced_episode(season, episode, range(1, 11))
        season.put_google_sheet(episode, [sheet_row(episode, n, unsup="Rare") for n in range(1, 11)])
    season.put_manifest("S01")
    keys["S02E01"] = synced_episode(season, "S02E01", range(1, 6))
    season.put_csv_sheet("S02E01", [sheet_row("S02E01", n, unsup="Rare") for n in range(1, 6)])
    season.put_manifest("S02")
    return keys


def test_held_episode_and_season_rejected_then_approved(airflow, season):
    keys = season_of_six(season)
    # Accidents: E03's sheet is emptied (header kept); S02's manifest is deleted. E05 gets a
    # class typo. E01 gets a real edit: frame 1 leaves, frame 11 arrives.
    season.google.put_sheet(f"{season.name}-S01E03-sheet", [HEADER])
    season.s3.delete_object(Bucket=season.bucket, Key="tuttle_twins/manifests/S02-episodes.json")
    e05 = [sheet_row("S01E05", n, unsup="Rare") for n in range(1, 11)]
    e05[3] = sheet_row("S01E05", 4, unsup="Rair")
    season.google.put_sheet(f"{season.name}-S01E05-sheet", [HEADER, *e05])
    season.put_frames("S01E01", [11])
    season.google.put_sheet(
        f"{season.name}-S01E01-sheet", [HEADER, *[sheet_row("S01E01", n, unsup="Rare") for n in range(2, 12)]]
    )
    held_keys = [*keys["S01E03"], *keys["S02E01"]]
    held_before = bodies(season, held_keys)
    alerts(airflow)

    # 1. Rejected: healthy episodes applied, held ones byte-identical, run failed, alert.
    run_id = airflow.trigger(season.conf())
    airflow.wait_awaiting_input(run_id)
    request = airflow.hitl(run_id)
    assert request["assigned_users"] == [{"id": "admin", "name": "admin"}]
    assert "S01E03" in request["subject"]
    assert "S02" in request["subject"]
    assert "| S01E03 | its sheet has no valid target row" in request["body"]
    assert "| S02 (season) | its manifest tuttle_twins/manifests/S02-episodes.json is gone" in request["body"]
    assert "| 10 | 10 |" in request["body"]  # E03: 10 deletes of its 10 objects
    assert sum(key in request["body"] for key in keys["S01E03"]) == 3  # three example keys
    assert f"s3://{season.bucket}/tuttle_twins/sync_runs/{run_id}/plan.csv" in request["body"]
    waiting = airflow.wait(lambda: [m for m in alerts(airflow) if run_id in m], "the approval alert", 60)
    assert "required_actions" in waiting[0]
    assert run_id in waiting[0]
    # While the person thinks, the healthy episodes are already in place.
    now = season.snapshot()
    assert expected_key("S01E01", 11, "Rare") in now
    assert keys["S01E01"][0] not in now
    assert keys["S01E05"][3] in now  # the typo's frame is kept
    # Only the assigned approver may answer.
    assert (
        airflow.status("PATCH", airflow.hitl_path(run_id), {"chosen_options": ["Approve"]}, user="bystander")
        == 403
    )
    airflow.answer(run_id, "Reject")
    run = airflow.wait_finished(run_id)

    assert run["state"] == "failed", airflow.explain(run_id)
    assert airflow.task_state(run_id, APPROVAL) == "failed"
    assert bodies(season, held_keys) == held_before
    report = run_json(season, run_id, "report.json")
    assert {(h["episode"], h["season"], h["outcome"]) for h in report["held"]} == {
        ("S01E03", "S01", "rejected"),
        (None, "S02", "rejected"),
    }
    assert report["approval"]["responded_by"]["id"] == "admin"
    typo = report["invalid_rows"]["S01E05"]
    assert typo["count"] == 1
    assert typo["examples"][0] == {
        "row": 5,
        "frame": "TT_S01_E05_FRM-00-00-00-04",
        "value": "Rair",
        "reason": "class 'Rair' is not one of the rarity choices",
    }
    failure = airflow.wait(lambda: [m for m in alerts(airflow) if run_id in m], "the failure alert", 120)
    assert DAG_ID in failure[0]

    # 2. Approved, after someone restored half of E03's sheet while the approval waited:
    # only deletes of the approved plan that are still wanted happen.
    run_id = airflow.trigger(season.conf())
    airflow.wait_awaiting_input(run_id)
    season.google.put_sheet(
        f"{season.name}-S01E03-sheet", [HEADER, *[sheet_row("S01E03", n, unsup="Rare") for n in range(1, 6)]]
    )
    airflow.answer(run_id, "Approve")
    run = airflow.wait_finished(run_id)

    assert run["state"] == "success", airflow.explain(run_id)
    after = season.snapshot()
    assert set(keys["S01E03"][:5]) <= set(after)
    assert not set(keys["S01E03"][5:]) & set(after)
    assert not set(keys["S02E01"]) & set(after)
    assert bodies(season, keys["S01E03"][:5]) == {k: held_before[k] for k in keys["S01E03"][:5]}
    report = run_json(season, run_id, "report.json")
    assert {h["outcome"] for h in report["held"]} == {"approved"}
    assert report["held_applied"]["deletes"] == 10  # 5 of E03 + 5 of S02, of 15 approved
    assert report["held_applied"]["approved_deletes"] == 15


def test_timed_out_approval_touches_nothing(airflow, season):
    keys = synced_episode(season, "S01E01", range(1, 11))
    season.put_csv_sheet("S01E01", [sheet_row("S01E01", n, unsup="Rare") for n in range(1, 11)])
    season.put_manifest()
    season.put_csv_sheet("S01E01", [sheet_row("S01E01", 1, unsup="Rare")])  # 9 of 10 would go
    before = bodies(season, keys)
    alerts(airflow)

    # 12 seconds: longer than the window of the race described in Airflow.pause_settled.
    run_id = airflow.trigger(season.conf(approval_timeout_minutes=0.2))
    run = airflow.wait_finished(run_id)

    assert run["state"] == "failed", airflow.explain(run_id)
    assert airflow.task_state(run_id, APPROVAL) == "failed"
    assert bodies(season, keys) == before
    report = run_json(season, run_id, "report.json")
    assert [(h["episode"], h["deletes"], h["outcome"]) for h in report["held"]] == [
        ("S01E01", 9, "timed out")
    ]
    messages = airflow.wait(lambda: [m for m in alerts(airflow) if run_id in m], "the alerts", 120)
    assert any("required_actions" in m for m in messages)


def test_backfill_changes_in_the_first_run_at_most(airflow, season):
    synced_episode(season, "S01E01", range(1, 9))
    season.put_frames("S01E01", [9, 10])  # two new frames the sheet now lists
    season.put_csv_sheet("S01E01", [sheet_row("S01E01", n, unsup="Rare") for n in range(1, 11)])
    season.put_manifest()
    today = datetime.now(UTC).date()
    first, last = today - timedelta(days=4), today - timedelta(days=2)

    command = [
        sys.executable,
        "-m",
        "airflow",
        "backfill",
        "create",
        "--dag-id",
        DAG_ID,
        "--from-date",
        first.isoformat(),
        "--to-date",
        last.isoformat(),
        "--dag-run-conf",
        json.dumps(season.conf()),
        "--max-active-runs",
        "1",
    ]
    # On SQLite the command's write can meet the scheduler's at once ("database is locked": a read
    # lock cannot be upgraded while another writer holds one, so SQLite does not wait). Airflow then
    # removes the partial backfill so that the person can run the command again, as done here.
    for _attempt in range(4):
        result = subprocess.run(
            command,
            env={**airflow.env, "PYTHONPATH": os.environ["PYTHONPATH"]},
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode == 0 or "database is locked" not in result.stderr:
            break
        time.sleep(5)
    assert result.returncode == 0, result.stderr[-2000:]

    def backfill_runs():
        runs = airflow.runs()
        mine = [
            r
            for r in runs
            if r["run_type"] == "backfill" and (r["conf"] or {}).get("bucket") == season.bucket
        ]
        return mine if len(mine) == 3 and all(r["state"] in FINISHED for r in mine) else None

    runs = airflow.wait(backfill_runs, "three backfill runs")
    assert [r["state"] for r in runs] == ["success"] * 3
    plans = [run_json(season, r["dag_run_id"], "plan.json") for r in runs]
    assert [p["applied_now"] for p in plans] == [
        {"copies": 2, "deletes": 0},
        {"copies": 0, "deletes": 0},
        {"copies": 0, "deletes": 0},
    ]
    # Nothing under ML/ changed after the first run ended.
    first_end = datetime.fromisoformat(runs[0]["end_date"].replace("Z", "+00:00"))
    assert max(modified for _, modified in season.snapshot().values()) <= first_end
    assert len(season.snapshot(layout.ML_PREFIX)) == 10
