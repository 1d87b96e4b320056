"""Fixtures of the dataset-sync tests: a seeded season in a run-unique bucket, and an S3 call log."""

from __future__ import annotations

import csv
import io
import json
import threading
from dataclasses import dataclass, field

import pytest

from include.dataset_sync import layout
from include.dataset_sync.sheet import SHEET_COLUMNS

HEADER = list(SHEET_COLUMNS)
SALT = "tuttle-twins-v1"
MUTATIONS = {"CopyObject", "DeleteObjects", "DeleteObject", "PutObject"}


def frame_name(episode: str, n: int) -> str:
    """``S01E01``, 7 → ``TT_S01_E01_FRM-00-00-00-07``."""
    return f"TT_{episode[:3]}_{episode[3:]}_FRM-00-00-{n // 24:02d}-{n % 24:02d}"


def sheet_row(
    episode: str, n: int, *, unsup: str = "", sup: str = "", reclass: str = "", base: str = ""
) -> list[str]:
    return [base, str(n), frame_name(episode, n), unsup, sup, reclass, "[Emily, Space Tunnel]"]


def source_key(episode: str, n: int) -> str:
    return f"tuttle_twins/{episode}/default_eng/v1/frames/thumbnails/{frame_name(episode, n)}.jpg"


def expected_key(episode: str, n: int, rarity: str) -> str:
    frame = frame_name(episode, n)
    return layout.dest_key(layout.assign_split(SALT, frame), rarity, frame)


@dataclass
class Season:
    """A bucket with source frames, sheets and a manifest; helpers to edit them like a person."""

    s3: object
    google: object
    bucket: str
    name: str
    sheets: dict[str, str] = field(default_factory=dict)  # episode -> location

    def put_frames(self, episode: str, numbers) -> None:
        for n in numbers:
            self.s3.put_object(
                Bucket=self.bucket, Key=source_key(episode, n), Body=f"jpeg {episode} {n}".encode()
            )

    def put_csv_sheet(self, episode: str, rows: list[list[str]], header=HEADER) -> str:
        buffer = io.StringIO()
        csv.writer(buffer).writerows([header, *rows])
        key = f"sheets/{episode}.csv"
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=buffer.getvalue().encode())
        self.sheets[episode] = f"s3://{self.bucket}/{key}"
        return self.sheets[episode]

    def put_google_sheet(self, episode: str, rows: list[list[str]]) -> str:
        sheet_id = f"{self.name}-{episode}-sheet"
        self.google.put_sheet(sheet_id, [HEADER, *rows])
        self.sheets[episode] = f"https://docs.google.com/spreadsheets/d/{sheet_id}/edit#gid=0"
        return sheet_id

    def put_manifest(self, season: str = "S01", episodes: list[str] | None = None) -> None:
        entries = [
            {"episode_code": e[3:], "GOOGLE_SPREADSHEET_URL": self.sheets[e], "NOTES": "ignored"}
            for e in (episodes or sorted(self.sheets))
            if e.startswith(season)
        ]
        body = json.dumps({"season_code": season, "episodes": entries})
        self.s3.put_object(
            Bucket=self.bucket, Key=f"tuttle_twins/manifests/{season}-episodes.json", Body=body
        )

    def put_dest(self, key: str, body: bytes = b"old") -> None:
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=body)

    def snapshot(self, prefix: str = layout.ML_PREFIX) -> dict[str, tuple[str, object]]:
        """key → (ETag, LastModified) of every object under the prefix."""
        found = {}
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            for obj in page.get("Contents", ()):
                found[obj["Key"]] = (obj["ETag"], obj["LastModified"])
        return found

    def body(self, key: str) -> bytes:
        return self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()

    def conf(self, **overrides) -> dict:
        """Run conf naming every Param a test varies: in-process ``dag.test()`` runs share Param
        objects, and Airflow's merge of a run's conf writes into them, so an omitted key would
        keep the previous run's value."""
        defaults = {
            "bucket": self.bucket,
            "seasons": [],
            "episodes": [],
            "dry_run": False,
            "max_delete_fraction": 0.2,
            "max_episode_delete_fraction": 0.2,
            "allow_mass_delete": False,
            "source_buckets": [],
            "approval_timeout_minutes": 720,
        }
        return {**defaults, **overrides}

    def run_json(self, dag_run, name: str) -> dict:
        prefix = f"{layout.SYNC_RUNS_PREFIX}{dag_run.run_id}/"
        return json.loads(self.body(prefix + name))


@pytest.fixture
def season(stack, s3, unique_name) -> Season:
    bucket = f"{unique_name}-media"
    s3.create_bucket(Bucket=bucket)
    return Season(s3=s3, google=stack.google, bucket=bucket, name=unique_name)


class CallLog:
    """Every boto3 call made in this process (Airflow's ``dag.test`` runs tasks in-process)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict]] = []
        self._lock = threading.Lock()

    def record(self, operation: str, params: dict) -> None:
        with self._lock:
            self.calls.append((operation, params))

    def clear(self) -> None:
        with self._lock:
            self.calls.clear()

    def count(self, operation: str, bucket: str, key_prefix: str = "") -> int:
        """Calls of an operation on a bucket; with key_prefix, only those touching keys under it."""
        total = 0
        for name, params in list(self.calls):
            if name != operation or params.get("Bucket") != bucket:
                continue
            if not key_prefix:
                total += 1
            elif "Key" in params:
                total += params["Key"].startswith(key_prefix)
            elif "Delete" in params:
                total += any(o["Key"].startswith(key_prefix) for o in params["Delete"]["Objects"])
            elif "Prefix" in params:
                total += params["Prefix"].startswith(key_prefix)
        return total

    def mutations(self, bucket: str, key_prefix: str) -> int:
        return sum(self.count(op, bucket, key_prefix) for op in MUTATIONS)


@pytest.fixture
def s3_calls(monkeypatch) -> CallLog:
    from botocore.client import BaseClient

    log = CallLog()
    original = BaseClient._make_api_call

    def recording(self, operation_name, api_params):
        log.record(operation_name, dict(api_params))
        return original(self, operation_name, api_params)

    monkeypatch.setattr(BaseClient, "_make_api_call", recording)
    return log
