"""What the Datasets views show: the composition now, the last runs' changes, and one run's report.

The overview reads one object (``summaries.DATASET_SUMMARY_KEY``), whatever the number of frames; a run
page reads that run's ``report.json`` (and ``plan.json`` when the report lacks the plan).
"""

from __future__ import annotations

import json
import re
from typing import Any

from include.ui_views import summaries

SPLITS = ("train", "validation", "test")
_EPISODE = re.compile(r"^(S\d+)(E\d+)$")
RUNS_CHARTED = 30


def dataset_summary(client: Any, cache: summaries.SummaryCache, bucket: str) -> dict[str, Any]:
    """The dataset summary of ``bucket``; rebuilt from the run reports when it does not exist yet."""
    found = cache.read(client, bucket, summaries.DATASET_SUMMARY_KEY)
    if found is None:
        summaries.rebuild_dataset_summary(client, bucket)
        found = cache.read(client, bucket, summaries.DATASET_SUMMARY_KEY)
    return found or {"runs": [], "composition": {}, "split_class": {}}


def season_of(episode: str) -> str:
    match = _EPISODE.match(episode)
    return match.group(1) if match else "?"


def composition_rows(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per (episode, split, class) with its frame count, for the composition charts."""
    rows = []
    for episode, splits in sorted((summary.get("composition") or {}).items()):
        for split, classes in splits.items():
            for rarity, frames in classes.items():
                rows.append(
                    {
                        "season": season_of(episode),
                        "episode": episode,
                        "split": split,
                        "class": rarity,
                        "frames": int(frames),
                    }
                )
    if not rows:  # no per-episode listing yet: the report's split × class totals
        for split, classes in (summary.get("split_class") or {}).items():
            for rarity, frames in classes.items():
                rows.append({"season": "all", "episode": "all", "split": split, "class": rarity, "frames": int(frames)})  # fmt: skip
    return rows


def composition_totals(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Frames per split and in all, episodes and seasons counted."""
    per_split = dict.fromkeys(SPLITS, 0)
    for row in rows:
        per_split[row["split"]] = per_split.get(row["split"], 0) + row["frames"]
    return {
        "frames": sum(per_split.values()),
        "per_split": per_split,
        "episodes": len({r["episode"] for r in rows if r["episode"] != "all"}),
        "seasons": len({r["season"] for r in rows if r["season"] not in {"all", "?"}}),
    }


def change_rows(summary: dict[str, Any], last: int = RUNS_CHARTED) -> list[dict[str, Any]]:
    """Non-zero (run, episode, kind) counts of the last ``last`` runs, oldest first, for the charts."""
    rows = []
    for run in (summary.get("runs") or [])[-last:]:
        for episode, counts in sorted((run.get("episodes") or {}).items()):
            for kind in summaries.CHANGE_KINDS:
                if counts.get(kind):
                    rows.append(
                        {
                            "run_id": run["run_id"],
                            "at": run["at"],
                            "episode": episode,
                            "season": season_of(episode),
                            "kind": kind,
                            "count": int(counts[kind]),
                        }
                    )
    return rows


def run_outcome(run: dict[str, Any]) -> str:
    """One word for a run row: guard, failed, dry run, or ok."""
    if run.get("guard_tripped"):
        return "stopped by guard"
    if run.get("failures") or run.get("problems"):
        return "problems"
    if run.get("dry_run"):
        return "dry run"
    if not run.get("planned"):
        return "no plan"
    return "ok, deletes held back" if run.get("held") else "ok"


def run_report(client: Any, bucket: str, run_id: str) -> dict[str, Any] | None:
    """The run's ``report.json`` (with ``plan`` filled from ``plan.json`` when the report has none),
    or None when the run wrote neither."""
    prefix = f"{summaries.SYNC_RUNS_PREFIX}{run_id}/"
    report = _get_json(client, bucket, f"{prefix}report.json")
    plan = None
    if report is None or not report.get("plan"):
        plan = _get_json(client, bucket, f"{prefix}plan.json")
    if report is None and plan is None:
        return None
    report = report or {"run_id": run_id, "planned": bool(plan), "episodes": plan.get("episodes", {}) if plan else {}}  # fmt: skip
    if plan and not report.get("plan"):
        report["plan"] = plan
    report["_written"] = {name: _exists(client, bucket, f"{prefix}{name}") for name in ("plan.csv", "report.json")}  # fmt: skip
    return report


def _get_json(client: Any, bucket: str, key: str) -> dict[str, Any] | None:
    try:
        return json.loads(client.get_object(Bucket=bucket, Key=key)["Body"].read())
    except client.exceptions.NoSuchKey:
        return None


def _exists(client: Any, bucket: str, key: str) -> bool:
    from botocore.exceptions import ClientError

    try:
        client.head_object(Bucket=bucket, Key=key)
    except ClientError:
        return False
    return True
