"""DAG integrity and policy: every file in dags/ imports cleanly and follows the team's rules."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from tests.conftest import DAGS_FOLDER, REPO

ALLOWED_TAGS = {"dataset-sync", "talkbot", "s3", "google-sheets", "youtube", "ml", "video", "email"}
EXPECTED_DAGS = {
    "tuttle_twins_dataset_sync",
    "talkbot_sqs_listener",
    "talkbot_publish_video",
    "talkbot_reconcile",
}
# The only exemptions from the retry policy: human-in-the-loop approvals, which must have retries=0.
ASK_ONCE = {("tuttle_twins_dataset_sync", "approve_held_changes")}
# Heavy libraries a DAG file must not pull in while the scheduler parses it.
FORBIDDEN_AT_PARSE = ("pandas", "pyarrow", "googleapiclient", "ffmpeg", "imageio_ffmpeg")
DAG_FILES = sorted(p for p in DAGS_FOLDER.glob("*.py") if not p.name.startswith("_"))

# Runs in a fresh interpreter that already has airflow.sdk imported (what a DAG processor has).
_PARSE_PROBE = """
import json, runpy, socket, sys
import airflow.sdk  # noqa: F401

calls = []
def _refuse(*args, **kwargs):
    calls.append(repr(args[:2]))
    raise OSError("network access at DAG parse time")
socket.socket.connect = _refuse
socket.socket.connect_ex = _refuse
socket.create_connection = _refuse
socket.getaddrinfo = _refuse

runpy.run_path(sys.argv[1])
print(json.dumps({"modules": [m for m in sys.argv[2].split(",") if m in sys.modules], "network": calls}))
"""


def test_expected_dags_exist(dagbag):
    assert not dagbag.import_errors
    assert set(dagbag.dag_ids) >= EXPECTED_DAGS


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}, "\n".join(f"{f}: {e}" for f, e in dagbag.import_errors.items())
    assert dagbag.dag_ids, "dags/ holds no DAG"


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda p: p.name)
def test_file_name_is_dag_id(dagbag, path: Path):
    ids = [dag_id for dag_id, dag in dagbag.dags.items() if Path(dag.fileloc).name == path.name]
    assert ids == [path.stem], f"{path.name} defines {ids}; one DAG per file, named like the file"


def test_policies(dagbag):
    problems = []
    for dag_id, dag in dagbag.dags.items():
        if not (dag.doc_md or "").strip():
            problems.append(f"{dag_id}: no doc_md")
        if not dag.tags or not set(dag.tags) <= ALLOWED_TAGS:
            problems.append(f"{dag_id}: tags {sorted(dag.tags)} not from {sorted(ALLOWED_TAGS)}")
        if dag.start_date is None:
            problems.append(f"{dag_id}: no explicit start_date")
        if not dag.on_failure_callback and not all(t.on_failure_callback for t in dag.tasks):
            problems.append(f"{dag_id}: failures raise no alert (on_failure_callback)")
        for task in dag.tasks:
            if task.owner in (None, "", "airflow"):
                problems.append(f"{dag_id}.{task.task_id}: owner {task.owner!r}")
            if (dag_id, task.task_id) in ASK_ONCE:
                # A person is asked once: retrying would ask again (or re-open an answered request).
                if task.retries != 0:
                    problems.append(f"{dag_id}.{task.task_id}: a human-in-the-loop task must have retries=0")
            elif (task.retries or 0) < 2:
                problems.append(f"{dag_id}.{task.task_id}: retries {task.retries} < 2")
            if not task.retry_delay or task.retry_delay < timedelta(seconds=1):
                problems.append(f"{dag_id}.{task.task_id}: no retry_delay")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda p: p.name)
def test_parse_is_light_and_offline(path: Path):
    result = subprocess.run(
        [sys.executable, "-c", _PARSE_PROBE, str(path), ",".join(FORBIDDEN_AT_PARSE)],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["modules"] == [], f"{path.name} imports {report['modules']} at parse time"
    assert report["network"] == [], f"{path.name} opens network connections at parse time"
