"""
# Tuttle Twins ML dataset sync

Keeps the image-classification datasets `s3://<bucket>/tuttle_twins/ML/<split>/<class>/<frame>.jpg`
in sync with the episode spreadsheets, applying only the copies and deletes that are needed.

1. **read_manifests** — every `tuttle_twins/manifests/<season>-episodes.json` lists the episodes
   and where each episode's sheet is (Google Sheets URL/id or `s3://…csv`).
2. **load_episode** (one per episode) — reads the sheet, resolves each frame's class
   (reclassification, then supervised, then unsupervised, against `rarity_choices`) and its
   split (a hash of `split_salt` and the frame number against `split_ratios`). An unreadable
   sheet is recorded, its episode's objects are left alone, and the run ends red.
3. **plan_sync** — one listing per source prefix and one of `ML/`, then the four change sets
   (unchanged, copy, move = copy + delete, delete). Stops before any mutation when the plan
   would delete more than `max_delete_fraction` of the existing objects, unless
   `allow_mass_delete`. `dry_run` stops here.
4. **apply** — concurrent server-side copies, then `DeleteObjects` batches, in chunks.
5. **write_report** — `tuttle_twins/sync_runs/<run_id>/report.json` (plan: `plan.csv`) and
   tables in the log: per episode, and objects per split × class after the run.

A second run with unchanged sheets makes no copy and no delete. Trigger with `seasons` or
`episodes` to touch only those episodes. Failures publish to the alert SNS topic.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow.sdk import Param, dag, get_current_context, task, task_group

from include.common.alerts import notify_failure
from include.dataset_sync import steps


@dag(
    schedule="@daily",
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    # Two syncs at once would plan against the same state and race on the same keys.
    max_active_runs=1,
    doc_md=__doc__,
    tags=["dataset-sync", "ml", "s3", "google-sheets"],
    default_args={"owner": "ml-data", "retries": 2, "retry_delay": timedelta(minutes=2)},
    on_failure_callback=notify_failure,
    params={
        "bucket": Param("media.angel-nft.com", type="string", description="Bucket of sources and datasets."),
        "aws_conn_id": Param("aws_default", type="string", description="Airflow connection for S3."),
        "gcp_conn_id": Param(
            "google_cloud_default", type="string", description="Airflow connection for Google Sheets."
        ),
        "seasons": Param(
            [],
            type="array",
            items={"type": "string"},
            description="Only these seasons, e.g. S01 (empty = all).",
        ),
        "episodes": Param(
            [],
            type="array",
            items={"type": "string"},
            description="Only these episodes, e.g. S01E02 (empty = all).",
        ),
        "dry_run": Param(
            False, type="boolean", description="Compute and report the plan; copy and delete nothing."
        ),
        "max_delete_fraction": Param(
            0.2,
            type="number",
            minimum=0,
            maximum=1,
            description="Stop before any change if the plan deletes more than this share of existing objects.",
        ),
        "allow_mass_delete": Param(
            False, type="boolean", description="Apply a plan even if it exceeds max_delete_fraction."
        ),
        "split_ratios": Param(
            [0.7, 0.2, 0.1],
            type="array",
            items={"type": "number"},
            minItems=3,
            maxItems=3,
            description="Shares of train, validation, test (sum 1). Changing them moves frames.",
        ),
        "split_salt": Param(
            "tuttle-twins-v1",
            type="string",
            description="Salt of the split hash. Changing it reshuffles all frames.",
        ),
        "rarity_choices": Param(
            ["Common", "Uncommon", "Rare", "Epic", "Legendary"],
            type="array",
            items={"type": "string"},
            description="Valid classes, in canonical spelling (sheet values match case-insensitively).",
        ),
        "copy_concurrency": Param(
            32, type="integer", minimum=1, maximum=256, description="Parallel CopyObject requests per task."
        ),
        "chunk_size": Param(
            5000,
            type="integer",
            minimum=1,
            description="Objects per mapped apply task (grown to keep <= 1000 tasks).",
        ),
    },
)
def tuttle_twins_dataset_sync():
    @task
    def read_manifests() -> list[dict]:
        context = get_current_context()
        return steps.read_manifests(context["params"], context["run_id"])

    @task(
        map_index_template="{{ task.op_kwargs['episode']['season_code'] }}{{ task.op_kwargs['episode']['episode_code'] }}"
    )
    def load_episode(episode: dict) -> dict:
        context = get_current_context()
        return steps.load_episode(episode, context["params"], context["run_id"])

    @task(trigger_rule="none_failed")
    def plan_sync(loaded: list[dict]) -> dict:
        context = get_current_context()
        return steps.plan_sync(loaded, context["params"], context["run_id"])

    @task
    def select_chunks(plan: dict, kind: str) -> list[str]:
        return steps.select_chunks(plan, kind)

    @task(map_index_template="{{ task.op_kwargs['chunk_key'].rsplit('/', 1)[-1] }}")
    def copy_chunk(chunk_key: str) -> int:
        return steps.copy_chunk(chunk_key, get_current_context()["params"])

    # Deletes wait for every copy, so a move never loses its frame; none_failed lets them run
    # when there was nothing to copy (an empty map is skipped).
    @task(
        map_index_template="{{ task.op_kwargs['chunk_key'].rsplit('/', 1)[-1] }}", trigger_rule="none_failed"
    )
    def delete_chunk(chunk_key: str) -> int:
        return steps.delete_chunk(chunk_key, get_current_context()["params"])

    @task_group(group_id="apply")
    def apply(plan: dict) -> None:
        copies = copy_chunk.expand(chunk_key=select_chunks.override(task_id="copy_chunks")(plan, "copy"))
        deletes = delete_chunk.expand(
            chunk_key=select_chunks.override(task_id="delete_chunks")(plan, "delete")
        )
        copies >> deletes

    @task(trigger_rule="all_done")
    def write_report(loaded: list[dict]) -> dict:
        context = get_current_context()
        return steps.write_report(loaded, context["params"], context["run_id"])

    loaded = load_episode.expand(episode=read_manifests())
    apply(plan_sync(loaded)) >> write_report(loaded)


tuttle_twins_dataset_sync()
