"""The guards on small plans, the approval text, the delete-key check and the new Params."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from include.dataset_sync import layout
from include.dataset_sync.approval import approval_body
from include.dataset_sync.config import SyncConfig, approvers
from include.dataset_sync.guards import find_holds, global_holds
from include.dataset_sync.planner import make_plan
from include.dataset_sync.steps import check_delete_keys


def frame(ep: str, n: int) -> str:
    return f"TT_{ep[:3]}_{ep[3:]}_FRM-{n:04d}"


def dataset(episodes: dict[str, int]) -> list[str]:
    """Every frame of each episode already in place under train/Rare."""
    return [
        layout.dest_key("train", "Rare", frame(ep, n)) for ep, count in episodes.items() for n in range(count)
    ]


def targets(ep: str, numbers) -> list[dict]:
    rows = []
    for n in numbers:
        f = frame(ep, n)
        rows.append(
            {
                "episode": ep,
                "frame": f,
                "rarity": "Rare",
                "split": "train",
                "source": f"b/{ep}/{f}.jpg",
                "dest_key": layout.dest_key("train", "Rare", f),
            }
        )
    return rows


def plan_of(wanted: list[dict], existing: list[str]):
    import pandas as pd

    frame_ = pd.DataFrame(wanted, columns=["episode", "frame", "rarity", "split", "source", "dest_key"])
    return make_plan(frame_, existing, [t["source"] for t in wanted], lambda e: True)


def holds_of(plan, *, seasons=("S01",), listed=None, valid_rows=None, fraction=0.2):
    return find_holds(
        plan.counts,
        plan.deletes,
        manifest_seasons=seasons,
        listed_episodes=listed if listed is not None else set(plan.counts.index),
        valid_rows=valid_rows or {},
        max_episode_delete_fraction=fraction,
    )


def test_one_emptied_sheet_of_five_is_held_though_the_dataset_guard_would_pass():
    existing = dataset({f"S01E0{e}": 100 for e in range(1, 6)})
    wanted = [t for e in range(1, 6) if e != 3 for t in targets(f"S01E0{e}", range(100))]
    plan = plan_of(wanted, existing)
    assert len(plan.deletes) == 100  # 20 % of 500: the global guard alone would let it through

    holds = holds_of(plan, valid_rows={"S01E03": 0})
    assert [(h.episode, h.deletes, h.existing) for h in holds] == [("S01E03", 100, 100)]
    assert "no valid target row" in holds[0].reason
    assert len(holds[0].examples) == 3
    assert global_holds(plan.counts, plan.deletes, holds, existing_objects=500, max_delete_fraction=0.2) == []


def test_episode_fraction_is_a_strict_limit_and_moves_do_not_count():
    existing = dataset({"S01E01": 10})
    plan = plan_of(targets("S01E01", range(8)), existing)  # 2 of 10 deleted: exactly 20 %
    assert holds_of(plan) == []
    plan = plan_of(targets("S01E01", range(7)), existing)  # 3 of 10
    [hold] = holds_of(plan)
    assert "deletes 3 of its 10 objects (30%)" in hold.reason
    moved = [
        {**t, "rarity": "Epic", "dest_key": layout.dest_key("train", "Epic", t["frame"])}
        for t in targets("S01E01", range(10))
    ]
    plan = plan_of(moved, existing)  # everything reclassified: 10 moves, no loss
    assert len(plan.deletes) == 10
    assert holds_of(plan) == []


def test_season_without_manifest_and_episode_left_out_of_its_manifest():
    existing = dataset({"S01E01": 4, "S01E02": 4, "S02E01": 3, "S02E02": 2})
    plan = plan_of(targets("S01E01", range(4)), existing)
    holds = holds_of(plan, seasons={"S01"}, listed={"S01E01"})
    assert [(h.season, h.episode, h.deletes, h.existing) for h in holds] == [
        ("S01", "S01E02", 4, 4),
        ("S02", None, 5, 5),
    ]
    assert "in no manifest" in holds[0].reason
    assert "S02-episodes.json is gone" in holds[1].reason
    assert holds[1].covers("S02E02")
    assert not holds[1].covers("S01E02")


def test_global_guard_holds_every_episode_with_deletes_that_is_not_held_yet():
    existing = dataset({"S01E01": 10, "S01E02": 10})
    plan = plan_of([*targets("S01E01", range(9)), *targets("S01E02", range(9))], existing)
    assert holds_of(plan) == []  # 1 of 10 each
    holds = global_holds(plan.counts, plan.deletes, [], existing_objects=20, max_delete_fraction=0.05)
    assert [(h.episode, h.deletes) for h in holds] == [("S01E01", 1), ("S01E02", 1)]
    assert "exceed max_delete_fraction=0.05" in holds[0].reason


def test_approval_text_names_holds_counts_examples_and_the_plan():
    plan = {
        "held": [
            {
                "episode": "S01E03",
                "season": "S01",
                "reason": "its sheet has no valid target row",
                "deletes": 100,
                "existing": 100,
                "examples": ["tuttle_twins/ML/train/Rare/TT_S01_E03_FRM-0001.jpg"],
            },
            {
                "episode": None,
                "season": "S02",
                "reason": "its manifest is gone",
                "deletes": 5,
                "existing": 5,
                "examples": [],
            },
        ],
        "plan_uri": "s3://b/tuttle_twins/sync_runs/r1/plan.csv",
        "held_plan_uri": "s3://b/tuttle_twins/sync_runs/r1/held_plan.csv",
    }
    body = approval_body(plan, "r1", datetime(2026, 1, 2, 3, 4, tzinfo=UTC))
    assert "| S01E03 | its sheet has no valid target row | 100 | 100 |" in body
    assert "| S02 (season) | its manifest is gone | 5 | 5 |" in body
    assert "S01E03: `tuttle_twins/ML/train/Rare/TT_S01_E03_FRM-0001.jpg`" in body
    assert "s3://b/tuttle_twins/sync_runs/r1/plan.csv" in body
    assert "no answer by 2026-01-02 03:04 UTC" in body


def test_delete_keys_outside_the_managed_layout_are_refused():
    good = layout.dest_key("test", "Epic", "TT_S01_E01_FRM-0001")
    bad = [
        "tuttle_twins/S01E01/default_eng/v1/frames/thumbnails/TT_S01_E01_FRM-0001.jpg",
        "tuttle_twins/ML/README.md",
        "tuttle_twins/manifests/S01-episodes.json",
        7,
    ]
    assert check_delete_keys([good, *bad]) == ([good], [*bad[:3], "7"])


def test_new_params_and_fixed_connections():
    cfg = SyncConfig.from_params(
        {"aws_conn_id": "evil", "source_buckets": ["archive.example"], "approval_timeout_minutes": 0.5}
    )
    assert (cfg.aws_conn_id, cfg.gcp_conn_id) == ("aws_default", "google_cloud_default")
    assert cfg.source_buckets == ("archive.example",)
    assert cfg.approval_timeout_minutes == 0.5
    with pytest.raises(ValueError, match="max_episode_delete_fraction"):
        SyncConfig.from_params({"max_episode_delete_fraction": 1.5})
    with pytest.raises(ValueError, match="source_buckets: 'Not A Bucket'"):
        SyncConfig.from_params({"source_buckets": ["Not A Bucket"]})
    with pytest.raises(ValueError, match="approval_timeout_minutes"):
        SyncConfig.from_params({"approval_timeout_minutes": 0})


def test_approvers_from_the_environment(monkeypatch):
    monkeypatch.setenv("DATASET_SYNC_APPROVERS", "alice, bob")
    assert approvers() == [{"id": "alice", "name": "alice"}, {"id": "bob", "name": "bob"}]
    monkeypatch.setenv("DATASET_SYNC_APPROVERS", "")
    assert approvers() == []


def test_a_timeout_enforced_by_the_scheduler_is_recorded_as_timed_out(monkeypatch):
    # The scheduler may fail the deferred approval before the trigger's own timeout event arrives; the
    # task then resumes with ``__fail__`` and never reaches execute_complete.
    from airflow.sdk.bases.operator import TRIGGER_FAIL_REPR, TriggerFailureReason
    from airflow.sdk.exceptions import TaskDeferralTimeout

    from include.dataset_sync import approval

    recorded = []
    monkeypatch.setattr(approval, "_record", lambda context, decision, event: recorded.append(decision))
    task = approval.HeldChangesApproval(task_id="approve_held_changes")
    with pytest.raises(TaskDeferralTimeout):
        task.resume_execution(TRIGGER_FAIL_REPR, {"error": TriggerFailureReason.TRIGGER_TIMEOUT}, {})
    assert recorded == ["timed out"]
    assert task.retries == 0


def test_held_changes_without_a_recorded_answer_say_how_to_ask_again():
    from include.dataset_sync.steps import _held_outcome

    plan = {"held": [{"episode": "S01E03", "season": "S01", "deletes": 10}], "dry_run": False, "config": {}}

    held, problem = _held_outcome(plan, None, None)
    assert [h["outcome"] for h in held] == ["not asked"]
    assert "S01E03" in problem
    assert "no answer was recorded" in problem
    assert "clear approve_held_changes" in problem

    held, problem = _held_outcome(plan, {"decision": "approved"}, {"deletes": 10})
    assert [h["outcome"] for h in held] == ["approved"]
    assert problem == ""
