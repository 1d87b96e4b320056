"""One function per task of ``tuttle_twins_dataset_sync``; the DAG file only wires them.

Tasks pass small dicts through XCom and everything large through S3 under
``tuttle_twins/sync_runs/<run_id>/`` (targets per episode, the plan, apply chunks, the
report), so any worker can run any task. Objects there are named by run id and content,
which makes every write a deterministic overwrite under clear-and-retry.

Importing this module is cheap (standard library and the pure modules only): pandas,
pyarrow, boto3 and the Google client are imported inside the functions.
"""

from __future__ import annotations

import io
import logging
import math
import re
from typing import Any

from include.dataset_sync import layout
from include.dataset_sync.config import MAX_CHUNKS, SyncConfig
from include.dataset_sync.manifest import EpisodeSpec, ManifestError, parse_manifest, season_of_manifest_key

log = logging.getLogger(__name__)

_SEASON_OF_EPISODE = re.compile(r"^(S\d+)E\d+$")


def _results(mapped: Any) -> list[dict[str, Any]]:
    """The mapped load_episode results as a list; slicing Airflow's lazy XCom sequence fetches
    them in one request instead of one per item plus a failing probe past the end."""
    return list(mapped[:]) if mapped else []


def _fail(message: str) -> Exception:
    """The run must end failed (mass-delete guard, unreadable sheets) and retrying will not help."""
    from airflow.sdk.exceptions import AirflowFailException

    return AirflowFailException(message)


def run_prefix(run_id: str) -> str:
    """Where a run's plan, chunks and report live (outside ``ML/``)."""
    return f"{layout.SYNC_RUNS_PREFIX}{run_id}/"


def _client(cfg: SyncConfig):
    from include.dataset_sync import s3ops

    hook = s3ops.s3_hook(cfg.aws_conn_id, cfg.copy_concurrency)
    return hook, hook.get_conn()


# -- read_manifests ------------------------------------------------------------------------
def read_manifests(params: dict[str, Any], run_id: str) -> list[dict[str, Any]]:
    """Parse every season manifest; return the selected episodes (for the episode map).

    What could not be read goes to ``manifests.json`` under the run prefix for the plan and
    the report: a manifest that cannot be parsed protects its whole season (none of its
    objects is deleted, since we no longer know which episodes exist); an episode listed in
    two manifests is ambiguous and protected too. Only that run-scoped summary is written,
    so a retry is an identical overwrite.
    """
    from include.dataset_sync import s3ops

    cfg = SyncConfig.from_params(params)
    _, client = _client(cfg)
    keys = s3ops.list_keys(client, cfg.bucket, layout.MANIFEST_PREFIX)
    specs: dict[str, EpisodeSpec] = {}
    failed: list[dict[str, str]] = []
    protected_seasons: list[str] = []
    protected_episodes: set[str] = set()
    for key in sorted(keys):
        season = season_of_manifest_key(key)
        if season is None:
            log.info("Ignoring %s: not named <season_code>-episodes.json", key)
            continue
        try:
            episodes = parse_manifest(s3ops.get_bytes(client, cfg.bucket, key), key)
        except ManifestError as err:
            log.error("Manifest unusable, season %s is protected: %s", season, err)
            failed.append({"episode": "", "season": season, "source": key, "error": str(err)})
            protected_seasons.append(season)
            continue
        for spec in episodes:
            if spec.episode_id in specs:
                error = f"listed in both {specs[spec.episode_id].manifest_key} and {key}"
                failed.append(
                    {"episode": spec.episode_id, "season": spec.season_code, "source": key, "error": error}
                )
                protected_episodes.add(spec.episode_id)
            else:
                specs[spec.episode_id] = spec
    selected = [s for eid, s in sorted(specs.items()) if cfg.selects(eid) and eid not in protected_episodes]
    relevant_failures = [f for f in failed if _season_selected(cfg, f["season"])]
    log.info(
        "%d manifest(s), %d episode(s) known, %d selected for this run, %d problem(s)",
        len(keys),
        len(specs),
        len(selected),
        len(relevant_failures),
    )
    summary = {
        "manifests": sorted(keys),
        "episodes": [s.episode_id for s in selected],
        "failed": relevant_failures,
        "protected_seasons": sorted(set(protected_seasons)),
        "protected_episodes": sorted(protected_episodes),
    }
    s3ops.put_json(client, cfg.bucket, f"{run_prefix(run_id)}manifests.json", summary)
    return [s.as_dict() for s in selected]


def _manifest_summary(client, cfg: SyncConfig, run_id: str) -> dict[str, Any]:
    from include.dataset_sync import s3ops

    return s3ops.get_json_or_none(client, cfg.bucket, f"{run_prefix(run_id)}manifests.json") or {}


def _season_selected(cfg: SyncConfig, season: str) -> bool:
    if cfg.seasons and season not in cfg.seasons:
        return False
    return not cfg.episodes or any(e.startswith(season + "E") for e in cfg.episodes)


# -- load_episode --------------------------------------------------------------------------
def load_episode(episode: dict[str, Any], params: dict[str, Any], run_id: str) -> dict[str, Any]:
    """Read one episode sheet, write its target frames to S3, return a small summary.

    A sheet that cannot be read or lacks required columns is *returned* as failed, not
    raised, so the other episodes proceed; the plan then protects this episode's objects.
    The targets object is named by run and episode, so a retry overwrites it identically.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from include.common.sheets import SheetLocation, read_rows
    from include.dataset_sync import s3ops
    from include.dataset_sync.sheet import normalise_sheet

    cfg = SyncConfig.from_params(params)
    spec = EpisodeSpec(**episode)
    summary: dict[str, Any] = {"episode": spec.episode_id, "status": "failed", "sheet": spec.sheet_location}
    try:
        location = SheetLocation.parse(spec.sheet_location, tab=spec.sheet_name)
        rows = read_rows(location, gcp_conn_id=cfg.gcp_conn_id, aws_conn_id=cfg.aws_conn_id)
        result = normalise_sheet(
            rows,
            bucket=cfg.bucket,
            season_code=spec.season_code,
            episode_code=spec.episode_code,
            img_size=spec.img_size,
            rarity_choices=cfg.rarity_choices,
            split_salt=cfg.split_salt,
            split_ratios=cfg.split_ratios,
        )
    except Exception as err:
        log.exception("Episode %s: sheet %s cannot be used", spec.episode_id, spec.sheet_location)
        summary["error"] = f"{type(err).__name__}: {err}"
        return summary

    targets = result.targets
    table = pa.table(
        {
            "episode": pa.array([spec.episode_id] * len(targets), type=pa.string()),
            "frame": pa.array([t.frame for t in targets], type=pa.string()),
            "rarity": pa.array([t.rarity for t in targets], type=pa.string()),
            "split": pa.array([t.split for t in targets], type=pa.string()),
            "source": pa.array([t.source for t in targets], type=pa.string()),
            "dest_key": pa.array([t.dest_key for t in targets], type=pa.string()),
            "row_number": pa.array([t.row_number for t in targets], type=pa.int32()),
        }
    )
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    key = f"{run_prefix(run_id)}targets/{spec.episode_id}.parquet"
    _, client = _client(cfg)
    s3ops.put_bytes(client, cfg.bucket, key, buffer.getvalue(), "application/vnd.apache.parquet")
    summary.update(
        status="ok",
        targets_key=key,
        rows=len(rows) - 1,
        targets=len(targets),
        invalid=result.invalid.total,
        invalid_reasons=result.invalid.counts,
        invalid_examples=result.invalid.examples,
        duplicates=result.duplicates.total,
        duplicate_examples=result.duplicates.examples,
    )
    log.info(
        "Episode %s: %d rows, %d target frames, %d invalid rows, %d duplicate rows",
        spec.episode_id,
        len(rows) - 1,
        len(targets),
        result.invalid.total,
        result.duplicates.total,
    )
    for reason, examples in result.invalid.examples.items():
        log.warning(
            "Episode %s: %d row(s) left out, %s: %s",
            spec.episode_id,
            result.invalid.counts[reason],
            reason,
            examples,
        )
    return summary


# -- plan_sync -----------------------------------------------------------------------------
def plan_sync(loaded: list[dict[str, Any]], params: dict[str, Any], run_id: str) -> dict[str, Any]:
    """List sources and destination, compute the change sets, stop on a mass delete, write chunks.

    Nothing is mutated here except objects under this run's prefix, so clearing and
    re-running it simply re-plans against the current state (a partially applied plan
    therefore converges). The guard runs before any copy or delete of the run.
    """
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from include.dataset_sync import s3ops
    from include.dataset_sync.planner import TARGET_COLUMNS, make_plan

    cfg = SyncConfig.from_params(params)
    _, client = _client(cfg)
    prefix = run_prefix(run_id)
    manifests = _manifest_summary(client, cfg, run_id)
    loaded = _results(loaded)
    ok = [s for s in loaded if s.get("status") == "ok"]
    protected_eps = {s["episode"] for s in loaded if s.get("status") != "ok"}
    protected_eps |= set(manifests.get("protected_episodes", ()))
    protected_seasons = set(manifests.get("protected_seasons", ()))

    tables = [pq.read_table(io.BytesIO(s3ops.get_bytes(client, cfg.bucket, s["targets_key"]))) for s in ok]
    schema = pa.schema([(c, pa.string()) for c in TARGET_COLUMNS])
    targets = (
        pa.concat_tables([t.select(list(TARGET_COLUMNS)) for t in tables]) if tables else schema.empty_table()
    )
    directories = pc.list_element(pc.split_pattern(targets["source"], "/", max_splits=1, reverse=True), 0)
    source_prefixes = [d + "/" for d in pc.unique(directories).to_pylist()]
    sources = s3ops.list_sources(client, source_prefixes)
    existing = s3ops.list_keys(client, cfg.bucket, layout.ML_PREFIX)
    log.info(
        "Planning %d target frames of %d episode(s) against %d objects under %s (%d source prefix(es), %d sources)",
        targets.num_rows,
        len(ok),
        len(existing),
        layout.ML_PREFIX,
        len(source_prefixes),
        len(sources),
    )

    def is_managed(episode: str) -> bool:
        match = _SEASON_OF_EPISODE.match(episode)
        season = match.group(1) if match else ""
        return cfg.selects(episode) and episode not in protected_eps and season not in protected_seasons

    plan = make_plan(targets, existing, sources, is_managed)
    actions = pd.concat(
        [
            plan.copies.rename(columns={"dest_key": "key"}).assign(step="copy"),
            plan.deletes.assign(source="", step="delete"),
        ],
        ignore_index=True,
    )[["step", "action", "episode", "frame", "source", "key"]]
    s3ops.put_bytes(client, cfg.bucket, f"{prefix}plan.csv", actions.to_csv(index=False).encode(), "text/csv")

    deleted = len(plan.deletes)
    allowed = math.floor(cfg.max_delete_fraction * plan.existing_objects)
    guard_tripped = deleted > allowed and not cfg.allow_mass_delete
    guard_message = (
        f"The plan deletes {deleted} of {plan.existing_objects} existing destination objects "
        f"({plan.delete_fraction:.1%}; {int((plan.deletes.action == 'move').sum())} of them are moves), more than "
        f"max_delete_fraction={cfg.max_delete_fraction} allows ({allowed}). Nothing was copied or deleted. "
        "Check the sheets and manifests (see plan.csv); to proceed anyway trigger with allow_mass_delete=true."
    )
    summary = {
        "run_id": run_id,
        "dry_run": cfg.dry_run,
        "config": cfg.as_dict(),
        "existing_objects": plan.existing_objects,
        "managed_objects": plan.managed_objects,
        "unmanaged_objects": plan.unmanaged_objects,
        "target_frames": plan.target_frames,
        "copies": len(plan.copies),
        "deletes": deleted,
        "delete_fraction": plan.delete_fraction,
        "guard": {
            "tripped": guard_tripped,
            "allowed_deletes": allowed,
            "message": guard_message if guard_tripped else "",
        },
        "totals": plan.totals(),
        "episodes": {ep: {k: int(v) for k, v in row.items()} for ep, row in plan.counts.iterrows()},
        "missing_examples": plan.missing_examples,
        "protected_episodes": sorted(protected_eps),
        "protected_seasons": sorted(protected_seasons),
        "plan_key": f"{prefix}plan.csv",
    }
    s3ops.put_json(client, cfg.bucket, f"{prefix}plan.json", summary)
    log.info(
        "Plan: %d unchanged, %d to copy, %d to move, %d to delete, %d missing sources (written to s3://%s/%splan.csv)",
        summary["totals"]["unchanged"],
        summary["totals"]["copied"],
        summary["totals"]["moved"],
        summary["totals"]["deleted"],
        summary["totals"]["missing"],
        cfg.bucket,
        prefix,
    )
    if guard_tripped:
        if cfg.dry_run:
            log.warning("Dry run; a real run would stop here: %s", guard_message)
        else:
            raise _fail(guard_message)
    if cfg.dry_run:
        log.info("Dry run: nothing will be copied or deleted")
        return {"copy_chunks": [], "delete_chunks": [], "copies": len(plan.copies), "deletes": deleted}

    copy_pairs = list(zip(plan.copies.source.tolist(), plan.copies.dest_key.tolist(), strict=True))
    delete_keys = plan.deletes.key.tolist()
    return {
        "copy_chunks": _write_chunks(client, cfg, prefix, "copy", copy_pairs),
        "delete_chunks": _write_chunks(client, cfg, prefix, "delete", delete_keys),
        "copies": len(copy_pairs),
        "deletes": len(delete_keys),
    }


def select_chunks(plan: dict[str, Any], kind: str) -> list[str]:
    """The chunk keys of one kind (``copy`` or ``delete``) from plan_sync's result."""
    return list(plan[f"{kind}_chunks"])


def chunk_size_for(total: int, preferred: int, kind: str) -> int:
    """Objects per apply chunk: the preferred size, grown so there are never more than
    MAX_CHUNKS chunks (Airflow maps at most 1024), and for deletes rounded up to whole
    DeleteObjects batches of 1000 so chunking never adds a request."""
    from include.dataset_sync.s3ops import DELETE_BATCH

    size = max(preferred, math.ceil(total / MAX_CHUNKS), 1)
    if kind == "delete":
        size = math.ceil(size / DELETE_BATCH) * DELETE_BATCH
    return size


def _write_chunks(client, cfg: SyncConfig, prefix: str, kind: str, items: list) -> list[str]:
    from include.dataset_sync import s3ops

    size = chunk_size_for(len(items), cfg.chunk_size, kind)
    keys = []
    for number, start in enumerate(range(0, len(items), size)):
        key = f"{prefix}chunks/{kind}-{number:04d}.json"
        s3ops.put_json(client, cfg.bucket, key, items[start : start + size])
        keys.append(key)
    log.info("%d %s action(s) in %d chunk(s) of up to %d", len(items), kind, len(keys), size)
    return keys


# -- apply ---------------------------------------------------------------------------------
def copy_chunk(chunk_key: str, params: dict[str, Any]) -> int:
    """Server-side copy of one chunk of ``(source, destination)`` pairs, concurrently.

    Idempotent: copying the same source onto the same key again gives the same object.
    """
    from include.dataset_sync import s3ops

    cfg = SyncConfig.from_params(params)
    _, client = _client(cfg)
    pairs = [tuple(p) for p in s3ops.get_json(client, cfg.bucket, chunk_key)]
    log.info("Copying %d object(s) from %s with %d threads", len(pairs), chunk_key, cfg.copy_concurrency)
    return s3ops.copy_objects(client, pairs, cfg.bucket, concurrency=cfg.copy_concurrency)


def delete_chunk(chunk_key: str, params: dict[str, Any]) -> int:
    """Delete one chunk of keys in DeleteObjects batches of 1000.

    Runs only after every copy succeeded, so a move never loses its frame. Idempotent:
    deleting a key that is already gone succeeds.
    """
    from include.dataset_sync import s3ops

    cfg = SyncConfig.from_params(params)
    hook, client = _client(cfg)
    keys = s3ops.get_json(client, cfg.bucket, chunk_key)
    log.info("Deleting %d object(s) from %s", len(keys), chunk_key)
    return s3ops.delete_keys(hook, cfg.bucket, keys)


# -- report --------------------------------------------------------------------------------
def write_report(loaded: list[dict[str, Any]], params: dict[str, Any], run_id: str) -> dict:
    """Count the datasets as they now are, write ``report.json``, log the tables, fail if anything failed.

    Runs whatever happened upstream and is the DAG's last task, so it decides the run's
    colour: it fails when an episode or manifest could not be read, when no plan was made
    or the guard stopped it, or when the planned changes are not all in place (an apply
    task failed). The counts come from a fresh listing, so they are the truth after the
    run. Rewriting the report is harmless.
    """
    from include.dataset_sync import s3ops
    from include.dataset_sync.planner import parse_destination
    from include.dataset_sync.report import episode_table, split_class_table
    from include.ui_views.summaries import note_sync_report

    cfg = SyncConfig.from_params(params)
    _, client = _client(cfg)
    prefix = run_prefix(run_id)
    manifests = _manifest_summary(client, cfg, run_id)
    plan = s3ops.get_json_or_none(client, cfg.bucket, f"{prefix}plan.json") or {}
    listed = s3ops.list_keys(client, cfg.bucket, layout.ML_PREFIX)
    dest = parse_destination(listed)
    grouped = dest.group_by(["split", "rarity"]).aggregate([("key", "count")]).to_pylist()
    split_class: dict[str, dict[str, int]] = {}
    for row in grouped:
        split_class.setdefault(row["split"], {})[row["rarity"]] = row["key_count"]

    loaded = _results(loaded)
    episodes: dict[str, dict[str, Any]] = {}
    for summary in loaded:
        stats = dict(plan.get("episodes", {}).get(summary["episode"], {}))
        stats.update(
            invalid=summary.get("invalid", 0),
            duplicates=summary.get("duplicates", 0),
            status="ok" if summary.get("status") == "ok" else "FAILED",
        )
        episodes[summary["episode"]] = stats
    for episode, counts in plan.get("episodes", {}).items():
        episodes.setdefault(episode, {**counts, "status": "not in manifests"})
    failures = [
        {"episode": s["episode"], "error": s.get("error", "")} for s in loaded if s.get("status") != "ok"
    ] + [
        {"episode": f["episode"] or f["season"], "error": f"{f['source']}: {f['error']}"}
        for f in manifests.get("failed", [])
    ]

    problems = _plan_problems(client, cfg, plan, set(listed))
    report = {
        "run_id": run_id,
        "problems": problems,
        "dry_run": cfg.dry_run,
        "planned": bool(plan),
        "plan": {k: v for k, v in plan.items() if k not in {"episodes", "config"}},
        "episodes": episodes,
        "episode_details": loaded,
        "failures": failures,
        "datasets_after_run": split_class,
    }
    s3ops.put_json(client, cfg.bucket, f"{prefix}report.json", report)
    note_sync_report(client, cfg.bucket, report, dest)
    log.info("Per episode (rows of the sheets and frames in the datasets):\n%s", episode_table(episodes))
    log.info("Datasets after the run (objects per class and split):\n%s", split_class_table(split_class))
    log.info("Report: s3://%s/%sreport.json", cfg.bucket, prefix)
    if failures:
        lines = "; ".join(f"{f['episode']}: {f['error']}" for f in failures[:10])
        problems.append(
            f"{len(failures)} episode(s)/manifest(s) could not be read; their objects were left untouched: {lines}"
        )
    if problems:
        raise _fail(" | ".join(problems))
    return {"episodes": len(episodes), "failures": 0}


def _plan_problems(client, cfg: SyncConfig, plan: dict[str, Any], listed: set[str]) -> list[str]:
    """Why the datasets may not match the sheets after this run (empty when they do)."""
    import pandas as pd

    from include.dataset_sync import s3ops

    if not plan:
        return ["no plan was made (plan_sync failed); nothing was changed"]
    if plan["guard"]["tripped"]:
        return [] if plan["dry_run"] else [plan["guard"]["message"]]
    if plan["dry_run"]:
        return []
    actions = pd.read_csv(io.BytesIO(s3ops.get_bytes(client, cfg.bucket, plan["plan_key"])), dtype=str)
    not_copied = actions[(actions.step == "copy") & ~actions.key.isin(listed)]
    not_deleted = actions[(actions.step == "delete") & actions.key.isin(listed)]
    if len(not_copied) or len(not_deleted):
        return [
            f"{len(not_copied)} planned copies and {len(not_deleted)} planned deletes are not in place "
            f"(an apply task failed?), e.g. {[*not_copied.key[:3], *not_deleted.key[:3]]}; the next run resumes"
        ]
    return []
