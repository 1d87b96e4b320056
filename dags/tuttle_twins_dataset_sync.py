"""
# Tuttle Twins ML dataset sync

Keeps the image-classification datasets `s3://<bucket>/tuttle_twins/ML/<split>/<class>/<frame>.jpg`
in sync with the episode spreadsheets, applying only the copies and deletes that are needed,
and holding back for a person whatever looks like a sheet accident.

1. **read_manifests** — every `tuttle_twins/manifests/<season>-episodes.json` lists the episodes
   and where each episode's sheet is (any Google Sheets link or id, or `s3://…csv`). A link's
   `#gid=<n>` selects that tab; the entry's `SHEET_NAME` wins over it; otherwise the first tab.
2. **load_episode** (one per episode) — reads the sheet, resolves each frame's class
   (reclassification, then supervised, then unsupervised, against `rarity_choices`) and its
   split (a hash of `split_salt` and the frame number against `split_ratios`). A row with an
   invalid class or source (a bucket outside `source_buckets`, a bucket root) is left out and
   reported, and **its frame keeps its objects**. An unreadable sheet (or a gid that names no
   tab) is recorded, its episode's objects are left alone, and the run ends red.
3. **plan_sync** — one listing per source prefix and one of `ML/`, then the four change sets
   (unchanged, copy, move = copy + delete, delete). A listing error protects only the episodes
   that read from that prefix. **Guards** hold, untouched:
   - an episode whose plan deletes more than `max_episode_delete_fraction` of its objects
     (moves do not count), or whose sheet has no valid row while it has objects;
   - a season whose manifest is gone while its objects exist;
   - when the other episodes' deletes exceed `max_delete_fraction` of all objects, every
     episode with deletes.
   `dry_run` stops here (it never waits); `allow_mass_delete` applies held changes too.
4. **apply** — the episodes that are not held: concurrent server-side copies, then
   `DeleteObjects` batches, in chunks. Every delete key must follow the managed layout.
5. **approve_held_changes** (only when something is held) — waits for a person in
   *Browse → Required Actions* (or the API), with an SNS alert that links there. The request
   lists what is held and why, delete counts against existing objects, example keys and
   `plan.csv`. **Approve**: **plan_held** plans the held episodes again (a sheet fixed meanwhile
   is read as fixed) and **apply_held** applies only deletes that were in the approved plan.
   **Reject**, or no answer within `approval_timeout_minutes`: nothing held is touched, the task
   fails (a person is asked once: `retries=0`), the run fails, the alert fires. Approvers: the
   Variable `dataset_sync_approvers`. One run is active at a time, so **the next scheduled run
   starts only after the answer or the timeout**.
6. **write_report** — `tuttle_twins/sync_runs/<run_id>/report.json` (`held` with outcomes,
   `invalid_rows` per episode, `approval`) and tables in the log.

A second run with unchanged sheets makes no copy and no delete. Trigger with `seasons` or
`episodes` to touch only those episodes. A backfill reads the sheets as they are now (there
is no history of the sheets), one run at a time: its first run makes the changes, the others
find nothing to do. Connections are fixed: `aws_default`, `google_cloud_default`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow.sdk import Param, dag, get_current_context, task, task_group

from include.common.alerts import notify_failure
from include.dataset_sync import config, steps
from include.dataset_sync.approval import HeldChangesApproval


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
        "bucket": Param(config.DEFAULT_BUCKET, type="string", description="Bucket of sources and datasets."),
        "source_buckets": Param(
            [],
            type="array",
            items={"type": "string"},
            description="Buckets a sheet's S3_BASE_URI may copy from, besides the dataset bucket.",
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
            config.DEFAULT_MAX_DELETE_FRACTION,
            type="number",
            minimum=0,
            maximum=1,
            description="Hold every episode with deletes if they delete more than this share of all objects.",
        ),
        "max_episode_delete_fraction": Param(
            config.DEFAULT_MAX_EPISODE_DELETE_FRACTION,
            type="number",
            minimum=0,
            maximum=1,
            description="Hold an episode whose plan deletes more than this share of its objects.",
        ),
        "allow_mass_delete": Param(
            False, type="boolean", description="Apply held episodes and seasons too, without approval."
        ),
        "approval_timeout_minutes": Param(
            config.DEFAULT_APPROVAL_TIMEOUT_MINUTES,
            type="number",
            exclusiveMinimum=0,
            description="How long held changes wait for an answer; then the run fails, nothing held changes.",
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
            config.DEFAULT_SPLIT_SALT,
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
            config.DEFAULT_COPY_CONCURRENCY,
            type="integer",
            minimum=1,
            maximum=256,
            description="Parallel CopyObject requests per task.",
        ),
        "chunk_size": Param(
            config.DEFAULT_CHUNK_SIZE,
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

    # Asks only when something is held; skipping it skips the approval and what follows it,
    # while write_report (all_done) still runs.
    @task.short_circuit(ignore_downstream_trigger_rules=False, trigger_rule="none_failed")
    def needs_approval(plan: dict) -> bool:
        return steps.needs_approval(plan)

    @task
    def plan_held(plan: dict) -> dict:
        context = get_current_context()
        return steps.plan_held(plan, context["params"], context["run_id"])

    @task(trigger_rule="all_done")
    def write_report(loaded: list[dict]) -> dict:
        context = get_current_context()
        return steps.write_report(loaded, context["params"], context["run_id"])

    loaded = load_episode.expand(episode=read_manifests())
    plan = plan_sync(loaded)
    # A person is asked once: the one task exempt from the retry policy (see test_dag_integrity).
    approval = HeldChangesApproval(task_id="approve_held_changes", retries=0)
    apply(plan) >> needs_approval(plan) >> approval
    held = plan_held(plan)
    approval >> held
    apply.override(group_id="apply_held")(held) >> write_report(loaded)


tuttle_twins_dataset_sync()
