"""Small summary objects the UI views read instead of one object per talk or per frame.

**Talks**: one JSON per conference in the ledger's own private location,
``s3://<ledger bucket>/<ledger prefix>summaries/<conference>.json`` (beside ``ledger/`` and ``talks/``),
holding a projection of every version record of that conference keyed by its object identity.
``Ledger.update`` hands each stored record to ``note_ledger_record``.

**Datasets**: one JSON per dataset bucket, ``s3://<bucket>/tuttle_twins/sync_summary.json``: the current
composition (frames per episode × split × class, from the listing the report was counted from) and the
last ``RUN_LIMIT`` runs' changes. ``write_report`` hands each report to ``note_sync_report``.

Both are caches of the records they summarise, never the truth:

- writes go through ``update_object`` (conditional put, re-read on conflict), and each merge is a pure
  function of the summary and the record: replaying the same record leaves the same bytes, so a task
  retry or a duplicate call is harmless (idempotent);
- a record only replaces the summary's entry when it is at least as new (``updated_at``, then the length
  of its history), so a slow writer cannot put an older state back; two writes of one record within the
  same second with the same history length can still leave the earlier one, until that record's next
  write or a rebuild;
- a failure to write the summary is logged and never fails the ledger write or the sync report;
- ``rebuild_talk_summaries`` / ``rebuild_dataset_summary`` recompute them from the ledger records and
  the run reports (the UI calls them when a summary is missing), so a lost or stale summary heals.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from include.common.s3 import update_object

log = logging.getLogger(__name__)

SUMMARY_VERSION = 1
HISTORY_KEPT = 20
RUN_LIMIT = 200
DATASET_SUMMARY_KEY = "tuttle_twins/sync_summary.json"
SYNC_RUNS_PREFIX = "tuttle_twins/sync_runs/"
ML_PREFIX = "tuttle_twins/ML/"
# A summary is shown to every UI user: never copy upload session URIs or anything credential-like.
_PRIVATE_FIELD = re.compile(r"session|token|secret|password|credential", re.IGNORECASE)
CHANGE_KINDS = ("copied", "moved", "deleted", "missing", "invalid", "held")


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


# --------------------------------------------------------------------------------------------- talks
def talk_summary_key(ledger_prefix: str, conference: str) -> str:
    """Key of one conference's talk summary under the ledger's prefix (beside its ``ledger/``)."""
    return f"{ledger_prefix}summaries/{conference}.json"


def talk_entry(record: dict[str, Any]) -> dict[str, Any]:
    """What the views need of one ledger record: everything but private fields, a short history."""
    entry = _public(record)
    if isinstance(entry.get("history"), list):
        entry["history"] = entry["history"][-HISTORY_KEPT:]
    return entry


def _public(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _public(v) for k, v in value.items() if not _PRIVATE_FIELD.search(str(k))}
    if isinstance(value, list):
        return [_public(v) for v in value]
    return value


def _talk_order(entry: dict[str, Any]) -> tuple[str, int]:
    return str(entry.get("updated_at") or ""), len(entry.get("history") or [])


def merge_talk_entries(body: bytes | None, conference: str, entries: Iterable[dict[str, Any]]) -> bytes:
    """The summary ``body`` with ``entries`` merged in (newer-or-equal wins); pure, so safe to re-apply."""
    summary = json.loads(body) if body else {}
    if summary.get("version") != SUMMARY_VERSION:
        summary = {"version": SUMMARY_VERSION, "conference": conference, "records": {}}
    records = summary["records"]
    for entry in entries:
        identity = entry.get("identity")
        if not identity:
            continue
        old = records.get(identity)
        if old is None or _talk_order(entry) >= _talk_order(old):
            records[identity] = entry
    summary["updated_at"] = max((str(r.get("updated_at") or "") for r in records.values()), default="")
    return json.dumps(summary, sort_keys=True, separators=(",", ":")).encode()


def note_ledger_record(ledger: Any, record: dict[str, Any]) -> dict[str, Any]:
    """Fold a just-stored ledger record into its conference's summary; returns ``record`` unchanged.

    Called by ``Ledger.update`` after every write. Never raises: the record is already stored and the
    summary heals on the next write or a rebuild.
    """
    conference = record.get("conference")
    if not conference:
        return record  # not registered yet (inspect writes the conference on its first update)
    key = talk_summary_key(ledger.prefix, conference)
    entry = talk_entry(record)
    try:
        update_object(
            ledger.client,
            ledger.bucket,
            key,
            lambda body: merge_talk_entries(body, conference, [entry]),
            content_type="application/json",
        )
    except Exception:
        log.warning("talk summary s3://%s/%s not updated (the UI may lag until the next write)", ledger.bucket, key, exc_info=True)  # fmt: skip
    return record


def rebuild_talk_summaries(ledger: Any, ensure: Iterable[str] = (), workers: int = 16) -> dict[str, int]:
    """Recompute every conference's talk summary from the ``Ledger``'s version records (its old location
    in the library bucket too, the new one winning); returns records per conference.

    One listing plus one GET per record (in ``workers`` threads); entries written meanwhile by the
    pipeline are kept when newer (the same merge as ``note_ledger_record``). The conferences named in
    ``ensure`` get a summary even without records, so a conference with no upload yet is not rebuilt on
    every page view.
    """
    from include.video_publishing.ledger import LEGACY_PREFIX  # here: the ledger module imports this one

    client = ledger.client
    places = [(ledger.legacy_bucket, f"{LEGACY_PREFIX}ledger/")] if ledger.legacy_bucket else []
    places.append((ledger.bucket, f"{ledger.prefix}ledger/"))
    keys = [(b, k) for b, p in places for k in _list_keys(client, b, p) if k.endswith(".json")]
    log.info("rebuilding talk summaries from %d ledger record(s) of s3://%s/%s", len(keys), ledger.bucket, ledger.prefix)  # fmt: skip

    def read(place: tuple[str, str]) -> dict[str, Any] | None:
        try:
            return json.loads(client.get_object(Bucket=place[0], Key=place[1])["Body"].read())
        except (client.exceptions.NoSuchKey, ValueError):
            return None

    with ThreadPoolExecutor(max_workers=workers) as pool:
        records = [r for r in pool.map(read, keys) if r and r.get("conference") and r.get("identity")]
    by_conference: dict[str, dict[str, dict[str, Any]]] = {c: {} for c in ensure}
    for record in records:  # listed old location first: a record in the new one replaces its old copy
        by_conference.setdefault(record["conference"], {})[record["identity"]] = talk_entry(record)
    for conference, entries in by_conference.items():
        merged = list(entries.values())
        update_object(
            client,
            ledger.bucket,
            talk_summary_key(ledger.prefix, conference),
            lambda body, c=conference, e=merged: merge_talk_entries(body, c, e),
            content_type="application/json",
        )
    return {c: len(e) for c, e in by_conference.items()}


# ------------------------------------------------------------------------------------------ datasets
def run_entry(report: dict[str, Any], at: str) -> dict[str, Any]:
    """One run's changes as the views chart them: totals and per-episode counts of ``CHANGE_KINDS``."""
    episodes: dict[str, dict[str, int]] = {}
    invalid_rows = report.get("invalid_rows") or {}
    for episode, stats in (report.get("episodes") or {}).items():
        counts = {kind: _int(stats.get(kind)) for kind in CHANGE_KINDS if kind != "held"}
        listed = invalid_rows.get(episode) if isinstance(invalid_rows, dict) else None
        if isinstance(listed, dict):
            counts["invalid"] = max(counts["invalid"], _int(listed.get("count")))
        counts["held"] = 0
        episodes[episode] = counts
    held = held_items(report)
    for item in held:
        target = item["target"]
        matched = [e for e in episodes if e == target or e.startswith(target)] or [target]
        for episode in matched:
            episodes.setdefault(episode, dict.fromkeys(CHANGE_KINDS, 0))["held"] += item["deletes"] or 1
    totals = {kind: sum(c.get(kind, 0) for c in episodes.values()) for kind in CHANGE_KINDS}
    plan = report.get("plan") or {}
    guard = plan.get("guard") or {}
    return {
        "run_id": report.get("run_id"),
        "at": at,
        "dry_run": bool(report.get("dry_run")),
        "planned": bool(report.get("planned")),
        "guard_tripped": bool(guard.get("tripped")),
        "failures": len(report.get("failures") or []),
        "problems": list(report.get("problems") or []),
        "held": held,
        "totals": totals,
        "episodes": {e: {k: v for k, v in c.items() if v} for e, c in episodes.items()},
    }


def held_items(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The report's ``held`` list (episodes or seasons whose deletes were held back), normalised."""
    items = []
    for item in report.get("held") or []:
        if not isinstance(item, dict):
            continue
        target = item.get("episode") or item.get("season") or "?"
        items.append(
            {
                "target": str(target),
                "reason": str(item.get("reason") or ""),
                "deletes": _int(item.get("deletes")),
                "existing": _int(item.get("existing")),
                "outcome": str(item.get("outcome") or ""),
            }
        )
    return items


def composition_of(dest: Any) -> dict[str, dict[str, dict[str, int]]]:
    """Frames per episode → split → class of a parsed destination listing (a pyarrow table with
    ``episode``, ``split``, ``rarity`` and ``key`` columns, as ``planner.parse_destination`` returns)."""
    grouped = dest.group_by(["episode", "split", "rarity"]).aggregate([("key", "count")]).to_pylist()
    composition: dict[str, dict[str, dict[str, int]]] = {}
    for row in grouped:
        composition.setdefault(row["episode"], {}).setdefault(row["split"], {})[row["rarity"]] = int(
            row["key_count"]
        )
    return composition


def merge_run(
    body: bytes | None,
    entry: dict[str, Any],
    composition: dict[str, Any] | None,
    split_class: dict[str, Any] | None,
) -> bytes:
    """The dataset summary ``body`` with one run (replacing that run id) and, when given, the
    composition counted after it; pure, so safe to re-apply."""
    summary = json.loads(body) if body else {}
    if summary.get("version") != SUMMARY_VERSION:
        summary = {"version": SUMMARY_VERSION, "runs": [], "composition": {}, "split_class": {}}
    runs = [r for r in summary["runs"] if r.get("run_id") != entry["run_id"]]
    previous = next((r for r in summary["runs"] if r.get("run_id") == entry["run_id"]), None)
    if previous:
        entry = {**entry, "at": previous["at"]}  # a re-written report keeps its run's place in time
    runs.append(entry)
    runs.sort(key=lambda r: r.get("at") or "")  # stable: of two runs in one millisecond, the later call last
    summary["runs"] = runs[-RUN_LIMIT:]
    newest = summary["runs"][-1]["run_id"] == entry["run_id"]
    if composition is not None and (newest or not summary.get("composition")):
        summary["composition"] = composition
        summary["composition_run_id"] = entry["run_id"]
    if split_class is not None and (newest or not summary.get("split_class")):
        summary["split_class"] = split_class
    summary["updated_at"] = max(r.get("at") or "" for r in summary["runs"])
    return json.dumps(summary, sort_keys=True, separators=(",", ":")).encode()


def note_sync_report(client: Any, bucket: str, report: dict[str, Any], dest: Any = None) -> dict[str, Any]:
    """Fold a just-written sync report (and the destination listing it counted) into the dataset
    summary; returns ``report`` unchanged. Never raises: the report is stored and a rebuild heals."""
    try:
        entry = run_entry(report, datetime.now(UTC).isoformat(timespec="milliseconds"))
        composition = composition_of(dest) if dest is not None else None
        update_object(
            client,
            bucket,
            DATASET_SUMMARY_KEY,
            lambda body: merge_run(body, entry, composition, report.get("datasets_after_run")),
            content_type="application/json",
        )
    except Exception:
        log.warning("dataset summary s3://%s/%s not updated (the UI may lag until the next run)", bucket, DATASET_SUMMARY_KEY, exc_info=True)  # fmt: skip
    return report


def rebuild_dataset_summary(client: Any, bucket: str, list_dataset: bool = True, workers: int = 16) -> int:
    """Recompute the dataset summary from the run reports (and, with ``list_dataset``, the composition
    from a listing of ``tuttle_twins/ML/``); returns the number of runs found."""
    keys = [k for k in _list_keys(client, bucket, SYNC_RUNS_PREFIX) if k.endswith("/report.json")]

    def read(key: str) -> tuple[dict[str, Any], str] | None:
        try:
            obj = client.get_object(Bucket=bucket, Key=key)
            return json.loads(obj["Body"].read()), obj["LastModified"].astimezone(UTC).isoformat(
                timespec="seconds"
            )
        except (client.exceptions.NoSuchKey, ValueError):
            return None

    with ThreadPoolExecutor(max_workers=workers) as pool:
        reports = sorted((r for r in pool.map(read, keys) if r), key=lambda r: r[1])[-RUN_LIMIT:]
    composition = None
    if list_dataset:
        from include.dataset_sync.planner import parse_destination

        composition = composition_of(parse_destination(_list_keys(client, bucket, ML_PREFIX)))
    body: bytes | None = None
    for number, (report, at) in enumerate(reports, start=1):
        last = number == len(reports)
        body = merge_run(
            body, run_entry(report, at), composition if last else None, report.get("datasets_after_run")
        )
    if body is None:
        body = json.dumps(
            {"version": SUMMARY_VERSION, "runs": [], "composition": composition or {}, "split_class": {}},
            sort_keys=True,
        ).encode()
    client.put_object(Bucket=bucket, Key=DATASET_SUMMARY_KEY, Body=body, ContentType="application/json")
    log.info("rebuilt s3://%s/%s from %d run report(s)", bucket, DATASET_SUMMARY_KEY, len(reports))
    return len(reports)


# ---------------------------------------------------------------------------------------------- reads
class SummaryCache:
    """Parsed summaries by location, revalidated with ``If-None-Match`` so an unchanged object costs
    one small 304 round trip instead of a download and a parse."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[tuple[str, str], tuple[str, Any]] = {}

    def read(self, client: Any, bucket: str, key: str) -> Any | None:
        """The parsed JSON object, or None when it does not exist."""
        from botocore.exceptions import ClientError

        cached = self._items.get((bucket, key))
        kwargs = {"IfNoneMatch": cached[0]} if cached else {}
        try:
            obj = client.get_object(Bucket=bucket, Key=key, **kwargs)
        except client.exceptions.NoSuchKey:
            return None
        except ClientError as err:
            if cached and err.response.get("Error", {}).get("Code") in {"304", "NotModified"}:
                return cached[1]
            raise
        value = json.loads(obj["Body"].read())
        with self._lock:
            self._items[(bucket, key)] = (obj["ETag"], value)
        return value


def _list_keys(client: Any, bucket: str, prefix: str) -> list[str]:
    keys: list[str] = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys.extend(obj["Key"] for obj in page.get("Contents", []))
    return keys


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0
