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

from include.common import s3
from include.common.tasks import fail
from include.dataset_sync import layout
from include.dataset_sync.config import MAX_CHUNKS, SyncConfig
from include.dataset_sync.guards import season_of
from include.dataset_sync.manifest import EpisodeSpec, ManifestError, parse_manifest, season_of_manifest_key

log = logging.getLogger(__name__)

_SEASON_OF_EPISODE = re.compile(r"^(S\d+)E\d+$")


def _results(mapped: Any) -> list[dict[str, Any]]:
    """The mapped load_episode results as a list; slicing Airflow's lazy XCom sequence fetches
    them in one request instead of one per item plus a failing probe past the end."""
    return list(mapped[:]) if mapped else []


def run_prefix(run_id: str) -> str:
    """Where a run's plan, chunks and report live (outside ``ML/``)."""
    return f"{layout.SYNC_RUNS_PREFIX}{run_id}/"


def s3_client(cfg: SyncConfig):
    """The S3 hook and client of a run: the shared factory, pooled for ``copy_concurrency`` threads."""
    hook = s3.hook(cfg.aws_conn_id, cfg.copy_concurrency)
    return hook, hook.get_conn()


# -- read_manifests ------------------------------------------------------------------------
def read_manifests(params: dict[str, Any], run_id: str) -> list[dict[str, Any]]:
    """Parse every season manifest; return the selected episodes (for the episode map).

    What could not be read goes to ``manifests.json`` under the run prefix for the plan and
    the report: a manifest that cannot be parsed protects its whole season (none of its
    objects is deleted, since we no longer know which episodes exist); an episode listed in
    two manifests is ambiguous and protected too. The seasons whose manifest was read and
    the episodes they list are recorded for the season guard. Only that run-scoped summary
    is written, so a retry is an identical overwrite.
    """
    from include.dataset_sync import s3ops

    cfg = SyncConfig.from_params(params)
    _, client = s3_client(cfg)
    found = _read_manifest_specs(client, cfg)
    selected = [
        s
        for eid, s in sorted(found["specs"].items())
        if cfg.selects(eid) and eid not in found["protected_episodes"]
    ]
    relevant_failures = [f for f in found["failed"] if _season_selected(cfg, f["season"])]
    log.info(
        "%d manifest(s), %d episode(s) known, %d selected for this run, %d problem(s)",
        len(found["keys"]),
        len(found["specs"]),
        len(selected),
        len(relevant_failures),
    )
    summary = {
        "manifests": sorted(found["keys"]),
        "episodes": [s.episode_id for s in selected],
        "listed_episodes": sorted(found["specs"]),
        "seasons": sorted(found["seasons"]),
        "failed": relevant_failures,
        "protected_seasons": sorted(found["protected_seasons"]),
        "protected_episodes": sorted(found["protected_episodes"]),
    }
    s3ops.put_json(client, cfg.bucket, f"{run_prefix(run_id)}manifests.json", summary)
    return [s.as_dict() for s in selected]


def _read_manifest_specs(client, cfg: SyncConfig) -> dict[str, Any]:
    """Every manifest's episodes, the seasons read, and what could not be used (see read_manifests)."""
    from include.dataset_sync import s3ops

    keys = s3ops.list_keys(client, cfg.bucket, layout.MANIFEST_PREFIX)
    specs: dict[str, EpisodeSpec] = {}
    failed: list[dict[str, str]] = []
    seasons: set[str] = set()
    protected_seasons: set[str] = set()
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
            protected_seasons.add(season)
            continue
        seasons.add(season)
        for spec in episodes:
            seasons.add(spec.season_code)
            if spec.episode_id in specs:
                error = f"listed in both {specs[spec.episode_id].manifest_key} and {key}"
                failed.append(
                    {"episode": spec.episode_id, "season": spec.season_code, "source": key, "error": error}
                )
                protected_episodes.add(spec.episode_id)
            else:
                specs[spec.episode_id] = spec
    return {
        "keys": keys,
        "specs": specs,
        "seasons": seasons,
        "failed": failed,
        "protected_seasons": protected_seasons,
        "protected_episodes": protected_episodes,
    }


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

    A sheet that cannot be read, lacks required columns or names a tab (gid) the spreadsheet
    does not have is *returned* as failed, not raised, so the other episodes proceed; the
    plan then protects this episode's objects. The targets object is named by run and
    episode, so a retry overwrites it identically.
    """
    cfg = SyncConfig.from_params(params)
    _, client = s3_client(cfg)
    return _load_episode(client, cfg, EpisodeSpec(**episode), run_prefix(run_id))


def _load_episode(client, cfg: SyncConfig, spec: EpisodeSpec, prefix: str) -> dict[str, Any]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from include.common.sheets import SheetLocation, read_rows
    from include.dataset_sync import s3ops
    from include.dataset_sync.sheet import normalise_sheet

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
            source_buckets=cfg.source_buckets,
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
    key = f"{prefix}targets/{spec.episode_id}.parquet"
    s3ops.put_bytes(client, cfg.bucket, key, buffer.getvalue(), "application/vnd.apache.parquet")
    kept_key = f"{prefix}kept/{spec.episode_id}.json"
    s3ops.put_json(client, cfg.bucket, kept_key, result.kept_frames)
    summary.update(
        status="ok",
        targets_key=key,
        kept_key=kept_key,
        rows=len(rows) - 1,
        targets=len(targets),
        invalid=result.invalid.total,
        invalid_reasons=result.invalid.counts,
        invalid_examples=result.invalid.examples,
        kept_invalid_frames=len(result.kept_frames),
        duplicates=result.duplicates.total,
        duplicate_examples=result.duplicates.examples,
    )
    log.info(
        "Episode %s: %d rows, %d target frames, %d invalid rows (their frames are kept), %d duplicate rows",
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
    """List sources and destination, compute the change sets, hold what looks like an accident,
    write the chunks of everything else.

    Nothing is mutated here except objects under this run's prefix, so clearing and
    re-running it simply re-plans against the current state (a partially applied plan
    therefore converges). The guards (``guards``) run before any copy or delete of the run:
    held episodes and seasons are left out of the apply and wait for ``approve_held_changes``
    (their actions are in ``held_plan.csv``: the plan a person approves); ``allow_mass_delete``
    applies them at once; a dry run applies nothing. An error while listing one episode's
    sources protects that episode only (recorded; the run fails at the end).
    """
    import pandas as pd

    from include.dataset_sync import guards, s3ops

    cfg = SyncConfig.from_params(params)
    _, client = s3_client(cfg)
    prefix = run_prefix(run_id)
    manifests = _manifest_summary(client, cfg, run_id)
    loaded = _results(loaded)
    ok = [s for s in loaded if s.get("status") == "ok"]
    protected_eps = {s["episode"] for s in loaded if s.get("status") != "ok"}
    protected_eps |= set(manifests.get("protected_episodes", ()))
    protected_seasons = set(manifests.get("protected_seasons", ()))

    def is_managed(episode: str) -> bool:
        return (
            cfg.selects(episode)
            and episode not in protected_eps
            and guards.season_of(episode) not in protected_seasons
        )

    plan, listing_errors = _plan(client, cfg, ok, is_managed)
    protected_eps |= set(listing_errors)

    holds = guards.find_holds(
        plan.counts,
        plan.deletes,
        manifest_seasons=manifests.get("seasons", ()),
        listed_episodes=manifests.get("listed_episodes", ()),
        valid_rows={s["episode"]: s["targets"] for s in ok if s["episode"] not in listing_errors},
        max_episode_delete_fraction=cfg.max_episode_delete_fraction,
    )
    holds += guards.global_holds(
        plan.counts,
        plan.deletes,
        holds,
        existing_objects=plan.existing_objects,
        max_delete_fraction=cfg.max_delete_fraction,
    )

    def held_mask(frame: pd.DataFrame) -> pd.Series:
        names = {h.episode for h in holds if h.episode}
        seasons = {h.season for h in holds if not h.episode}
        return frame["episode"].isin(names) | frame["episode"].map(guards.season_of).isin(seasons)

    actions = pd.concat(
        [
            plan.copies.rename(columns={"dest_key": "key"}).assign(step="copy"),
            plan.deletes.assign(source="", step="delete"),
        ],
        ignore_index=True,
    )[["step", "action", "episode", "frame", "source", "key"]]
    held_actions = held_mask(actions)
    actions["held"] = held_actions.map({True: "held", False: ""})
    s3ops.put_bytes(client, cfg.bucket, f"{prefix}plan.csv", actions.to_csv(index=False).encode(), "text/csv")
    s3ops.put_bytes(
        client,
        cfg.bucket,
        f"{prefix}held_plan.csv",
        actions[held_actions].to_csv(index=False).encode(),
        "text/csv",
    )
    apply_held_now = cfg.allow_mass_delete
    copies = plan.copies if apply_held_now else plan.copies[~held_mask(plan.copies)]
    deletes = plan.deletes if apply_held_now else plan.deletes[~held_mask(plan.deletes)]
    needs_approval = bool(holds) and not cfg.dry_run and not cfg.allow_mass_delete

    global_tripped = any(h.reason.startswith("the run's deletes outside") for h in holds)
    summary = {
        "run_id": run_id,
        "dry_run": cfg.dry_run,
        "config": cfg.as_dict(),
        "existing_objects": plan.existing_objects,
        "managed_objects": plan.managed_objects,
        "unmanaged_objects": plan.unmanaged_objects,
        "target_frames": plan.target_frames,
        "copies": len(plan.copies),
        "deletes": len(plan.deletes),
        "delete_fraction": plan.delete_fraction,
        "guard": {"tripped": global_tripped, "max_delete_fraction": cfg.max_delete_fraction},
        "held": [h.as_dict() for h in holds],
        "held_actions": int(held_actions.sum()),
        "needs_approval": needs_approval,
        "applied_now": {"copies": len(copies), "deletes": len(deletes)},
        "listing_errors": listing_errors,
        "totals": plan.totals(),
        "episodes": {ep: {k: int(v) for k, v in row.items()} for ep, row in plan.counts.iterrows()},
        "missing_examples": plan.missing_examples,
        "protected_episodes": sorted(protected_eps),
        "protected_seasons": sorted(protected_seasons),
        "plan_key": f"{prefix}plan.csv",
        "held_plan_key": f"{prefix}held_plan.csv",
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
    for hold in holds:
        log.warning(
            "HELD %s: %s (%d deletes of %d objects)", hold.name, hold.reason, hold.deletes, hold.existing
        )
    result = {
        "copy_chunks": [],
        "delete_chunks": [],
        "copies": len(copies),
        "deletes": len(deletes),
        "held": [h.as_dict() for h in holds],
        "needs_approval": needs_approval,
        "plan_uri": f"s3://{cfg.bucket}/{prefix}plan.csv",
        "held_plan_uri": f"s3://{cfg.bucket}/{prefix}held_plan.csv",
    }
    if cfg.dry_run:
        log.info("Dry run: nothing will be copied or deleted, and nothing waits for approval")
        return result
    if holds and cfg.allow_mass_delete:
        log.warning("allow_mass_delete: the held episodes and seasons are applied in this run")
    copy_pairs = list(zip(copies.source.tolist(), copies.dest_key.tolist(), strict=True))
    result["copy_chunks"] = _write_chunks(client, cfg, prefix, "copy", copy_pairs)
    result["delete_chunks"] = _write_chunks(client, cfg, prefix, "delete", deletes.key.tolist())
    return result


def _plan(client, cfg: SyncConfig, ok: list[dict[str, Any]], is_managed) -> tuple[Any, dict[str, str]]:
    """Read the episodes' targets and kept frames, list sources and ``ML/``, make the plan.

    Returns the plan and ``{episode: error}`` for the episodes whose sources could not be
    listed: their targets are left out and their objects are not managed in this plan.
    """
    import json

    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from include.dataset_sync import s3ops
    from include.dataset_sync.planner import TARGET_COLUMNS, make_plan

    tables = [pq.read_table(io.BytesIO(s3ops.get_bytes(client, cfg.bucket, s["targets_key"]))) for s in ok]
    kept = [f for s in ok for f in json.loads(s3ops.get_bytes(client, cfg.bucket, s["kept_key"]))]
    schema = pa.schema([(c, pa.string()) for c in TARGET_COLUMNS])
    targets = (
        pa.concat_tables([t.select(list(TARGET_COLUMNS)) for t in tables]) if tables else schema.empty_table()
    )
    directories = pc.list_element(pc.split_pattern(targets["source"], "/", max_splits=1, reverse=True), 0)
    source_prefixes = [d + "/" for d in pc.unique(directories).to_pylist()]
    sources, failed_prefixes = s3ops.list_sources(client, source_prefixes)
    listing_errors: dict[str, str] = {}
    if failed_prefixes:
        pairs = pa.table({"episode": targets["episode"], "directory": directories}).group_by(
            ["episode", "directory"]
        )
        for row in pairs.aggregate([]).to_pylist():
            for failed, error in failed_prefixes.items():
                if (row["directory"] + "/").startswith(failed):
                    listing_errors.setdefault(row["episode"], f"listing s3://{failed} failed: {error}")
        for episode, error in sorted(listing_errors.items()):
            log.error("Episode %s is protected: %s", episode, error)
        targets = targets.filter(pc.invert(pc.is_in(targets["episode"], pa.array(sorted(listing_errors)))))
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
    plan = make_plan(
        targets,
        existing,
        sources,
        lambda episode: is_managed(episode) and episode not in listing_errors,
        kept_frames=kept,
    )
    return plan, listing_errors


# -- approve_held_changes and apply_held ---------------------------------------------------
def needs_approval(plan: dict[str, Any]) -> bool:
    """Whether the run waits for a person (something held; not a dry run, not allow_mass_delete)."""
    if plan.get("needs_approval"):
        log.warning("%d episode(s)/season(s) held: asking for approval", len(plan["held"]))
    return bool(plan.get("needs_approval"))


def plan_held(plan: dict[str, Any], params: dict[str, Any], run_id: str) -> dict[str, Any]:
    """After an approval: plan the held episodes and seasons again, keep only approved deletes.

    The sheets and manifests are read again, so an episode whose sheet was fixed while the
    approval waited is planned from the fixed sheet; of the new plan's deletes only those
    that were in the approved ``held_plan.csv`` are applied (copies are always safe).
    Everything goes under ``<run>/held/``, named by run, so a retry overwrites it.
    """
    import pandas as pd

    from include.dataset_sync import guards, s3ops

    cfg = SyncConfig.from_params(params)
    _, client = s3_client(cfg)
    prefix = run_prefix(run_id)
    holds = [guards.Hold(**{**h, "examples": tuple(h.get("examples", ()))}) for h in plan["held"]]
    approved_plan = pd.read_csv(
        io.BytesIO(s3ops.get_bytes(client, cfg.bucket, f"{prefix}held_plan.csv")), dtype=str
    )
    approved = set(approved_plan.loc[approved_plan.step == "delete", "key"])
    found = _read_manifest_specs(client, cfg)

    def held(episode: str) -> bool:
        return cfg.selects(episode) and any(h.covers(episode) for h in holds)

    specs = [
        s
        for eid, s in sorted(found["specs"].items())
        if held(eid)
        and eid not in found["protected_episodes"]
        and s.season_code not in found["protected_seasons"]
    ]
    loaded = [_load_episode(client, cfg, spec, f"{prefix}held/") for spec in specs]
    ok = [s for s in loaded if s["status"] == "ok"]
    failed = {s["episode"]: s.get("error", "") for s in loaded if s["status"] != "ok"}

    def is_managed(episode: str) -> bool:
        return (
            held(episode)
            and episode not in failed
            and episode not in found["protected_episodes"]
            and guards.season_of(episode) not in found["protected_seasons"]
        )

    replan, listing_errors = _plan(client, cfg, ok, is_managed)
    in_approved = replan.deletes.key.isin(approved)
    deletes = replan.deletes[in_approved].key.tolist()
    copy_pairs = list(zip(replan.copies.source.tolist(), replan.copies.dest_key.tolist(), strict=True))
    actions = pd.concat(
        [
            replan.copies.rename(columns={"dest_key": "key"}).assign(step="copy"),
            replan.deletes[in_approved].assign(source="", step="delete"),
        ],
        ignore_index=True,
    )[["step", "action", "episode", "frame", "source", "key"]]
    s3ops.put_bytes(
        client, cfg.bucket, f"{prefix}held/plan.csv", actions.to_csv(index=False).encode(), "text/csv"
    )
    summary = {
        "copies": len(copy_pairs),
        "deletes": len(deletes),
        "approved_deletes": len(approved),
        "not_approved_deletes": int((~in_approved).sum()),
        "not_approved_examples": replan.deletes[~in_approved].key.head(5).tolist(),
        "errors": {**failed, **listing_errors},
        "plan_key": f"{prefix}held/plan.csv",
    }
    s3ops.put_json(client, cfg.bucket, f"{prefix}held/applied.json", summary)
    log.info(
        "Approved: %d copies and %d of %d approved deletes to apply; %d new deletes not in the approved plan are left",
        len(copy_pairs),
        len(deletes),
        len(approved),
        summary["not_approved_deletes"],
    )
    return {
        "copy_chunks": _write_chunks(client, cfg, f"{prefix}held/", "copy", copy_pairs),
        "delete_chunks": _write_chunks(client, cfg, f"{prefix}held/", "delete", deletes),
        "copies": len(copy_pairs),
        "deletes": len(deletes),
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
    _, client = s3_client(cfg)
    pairs = [tuple(p) for p in s3ops.get_json(client, cfg.bucket, chunk_key)]
    log.info("Copying %d object(s) from %s with %d threads", len(pairs), chunk_key, cfg.copy_concurrency)
    return s3ops.copy_objects(client, pairs, cfg.bucket, concurrency=cfg.copy_concurrency)


def delete_chunk(chunk_key: str, params: dict[str, Any]) -> int:
    """Delete one chunk of keys in DeleteObjects batches of 1000.

    Runs only after every copy succeeded, so a move never loses its frame. Idempotent:
    deleting a key that is already gone succeeds. Every key must follow the managed layout
    ``tuttle_twins/ML/<split>/<class>/<frame>.jpg``: any other key in a chunk (a chunk file
    edited or corrupted after planning) is refused and named, and the task fails after
    deleting the valid keys.
    """
    from include.dataset_sync import s3ops

    cfg = SyncConfig.from_params(params)
    hook, client = s3_client(cfg)
    keys = s3ops.get_json(client, cfg.bucket, chunk_key)
    valid, refused = check_delete_keys(keys)
    log.info("Deleting %d object(s) from %s", len(valid), chunk_key)
    deleted = s3ops.delete_keys(hook, cfg.bucket, valid)
    if refused:
        fail(
            f"{chunk_key}: refused {len(refused)} key(s) outside the managed layout "
            f"{layout.ML_PREFIX}<split>/<class>/<frame>.jpg, e.g. {refused[:5]}"
        )
    return deleted


def check_delete_keys(keys: list[Any]) -> tuple[list[str], list[str]]:
    """``(keys that follow the managed dataset layout, refused keys)``."""
    valid, refused = [], []
    for key in keys:
        ok = isinstance(key, str) and layout.parse_dest_key(key) is not None
        (valid if ok else refused).append(key if ok else repr(key) if not isinstance(key, str) else key)
    return valid, refused


# -- report --------------------------------------------------------------------------------
APPROVAL_RECORD = "approval.json"


def write_report(loaded: list[dict[str, Any]], params: dict[str, Any], run_id: str) -> dict:
    """Count the datasets as they now are, write ``report.json``, log the tables, fail if anything failed.

    Runs whatever happened upstream and is the DAG's last task, so it decides the run's
    colour: it fails when an episode or manifest could not be read, when no plan was made,
    when held changes were not approved (rejected, timed out, or never asked), or when the
    planned changes are not all in place (an apply task failed). The counts come from a
    fresh listing, so they are the truth after the run. Rewriting the report is harmless.

    ``report.json`` (read by people and by the UI views):

    * ``held``: one entry per held episode or season, ``{"episode": "S01E03" | null,
      "season": "S01", "reason", "deletes", "existing", "examples": [key], "outcome"}``;
      ``outcome`` is one of ``dry run``, ``applied (allow_mass_delete)``, ``approved``,
      ``rejected``, ``timed out``, ``not asked``.
    * ``approval``: the answer (``decision``, ``responded_by``, ``responded_at``) or null.
    * ``invalid_rows``: per episode, ``{"count", "reasons": {reason: count}, "examples":
      [{"row", "frame", "value", "reason"}]}`` (rows left out; their frames were kept).
    * ``episodes``, ``failures``, ``problems``, ``plan``, ``datasets_after_run`` as before.
    """
    from include.dataset_sync import s3ops
    from include.dataset_sync.planner import parse_destination
    from include.dataset_sync.report import episode_table, split_class_table
    from include.ui_views.summaries import note_sync_report

    cfg = SyncConfig.from_params(params)
    _, client = s3_client(cfg)
    prefix = run_prefix(run_id)
    manifests = _manifest_summary(client, cfg, run_id)
    plan = s3ops.get_json_or_none(client, cfg.bucket, f"{prefix}plan.json") or {}
    approval = s3ops.get_json_or_none(client, cfg.bucket, f"{prefix}{APPROVAL_RECORD}")
    held_applied = s3ops.get_json_or_none(client, cfg.bucket, f"{prefix}held/applied.json")
    listed = s3ops.list_keys(client, cfg.bucket, layout.ML_PREFIX)
    dest = parse_destination(listed)
    grouped = dest.group_by(["split", "rarity"]).aggregate([("key", "count")]).to_pylist()
    split_class: dict[str, dict[str, int]] = {}
    for row in grouped:
        split_class.setdefault(row["split"], {})[row["rarity"]] = row["key_count"]

    held, held_problem = _held_outcome(plan, approval, held_applied)
    held_names = {h["episode"] or h["season"] for h in held}
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
    for episode, stats in episodes.items():
        if episode in held_names or season_of(episode) in held_names:
            stats["status"] = "HELD"
    failures = (
        [{"episode": s["episode"], "error": s.get("error", "")} for s in loaded if s.get("status") != "ok"]
        + [
            {"episode": f["episode"] or f["season"], "error": f"{f['source']}: {f['error']}"}
            for f in manifests.get("failed", [])
        ]
        + [{"episode": e, "error": error} for e, error in sorted(plan.get("listing_errors", {}).items())]
    )

    problems = _plan_problems(client, cfg, plan, set(listed), approved=bool(held_applied))
    if held_problem:
        problems.append(held_problem)
    if held_applied and held_applied.get("errors"):
        problems.append(
            f"after the approval, these held episodes could not be planned: {held_applied['errors']}"
        )
    report = {
        "run_id": run_id,
        "problems": problems,
        "dry_run": cfg.dry_run,
        "planned": bool(plan),
        "plan": {k: v for k, v in plan.items() if k not in {"episodes", "config", "held"}},
        "held": held,
        "approval": approval,
        "held_applied": held_applied,
        "invalid_rows": invalid_rows(loaded),
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
        fail(" | ".join(problems))
    return {"episodes": len(episodes), "failures": 0, "held": len(held)}


def invalid_rows(loaded: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per episode with invalid rows: count, count per reason, and examples (row, frame, value, reason)."""
    rows: dict[str, dict[str, Any]] = {}
    for summary in loaded:
        if not summary.get("invalid"):
            continue
        examples = [e for shown in summary.get("invalid_examples", {}).values() for e in shown]
        rows[summary["episode"]] = {
            "count": summary["invalid"],
            "reasons": summary.get("invalid_reasons", {}),
            "examples": sorted(examples, key=lambda e: e.get("row", 0))[:10],
        }
    return rows


def _held_outcome(
    plan: dict[str, Any], approval: dict[str, Any] | None, held_applied: dict[str, Any] | None
) -> tuple[list[dict[str, Any]], str]:
    """The ``held`` entries with their outcome, and the problem to report (empty if none)."""
    holds = plan.get("held", [])
    if not holds:
        return [], ""
    if plan.get("dry_run"):
        outcome = "dry run"
    elif plan.get("config", {}).get("allow_mass_delete"):
        outcome = "applied (allow_mass_delete)"
    elif approval is None:
        outcome = "not asked"
    else:
        outcome = approval["decision"]
    held = [{**h, "outcome": outcome} for h in holds]
    if outcome in {"dry run", "applied (allow_mass_delete)"} or (outcome == "approved" and held_applied):
        return held, ""
    names = ", ".join(h["episode"] or h["season"] for h in holds)
    why = {
        "not asked": "no answer was recorded: the approval was not reached or its task failed; "
        "clear approve_held_changes to be asked again",
        "approved": "approved, but the held changes were not applied",
    }.get(outcome, outcome)
    return held, f"held episode(s)/season(s) {names} were left untouched ({why}); see held in report.json"


def _plan_problems(
    client, cfg: SyncConfig, plan: dict[str, Any], listed: set[str], *, approved: bool
) -> list[str]:
    """Why the datasets may not match the applied part of the plan (empty when they do)."""
    import pandas as pd

    from include.dataset_sync import s3ops

    if not plan:
        return ["no plan was made (plan_sync failed); nothing was changed"]
    if plan["dry_run"]:
        return []
    actions = pd.read_csv(
        io.BytesIO(s3ops.get_bytes(client, cfg.bucket, plan["plan_key"])), dtype=str, keep_default_na=False
    )
    if not plan["config"].get("allow_mass_delete"):
        actions = actions[actions.held != "held"]
    if approved:
        held_key = f"{run_prefix(plan['run_id'])}held/plan.csv"
        held = pd.read_csv(io.BytesIO(s3ops.get_bytes(client, cfg.bucket, held_key)), dtype=str)
        actions = pd.concat([actions, held], ignore_index=True)
    not_copied = actions[(actions.step == "copy") & ~actions.key.isin(listed)]
    not_deleted = actions[(actions.step == "delete") & actions.key.isin(listed)]
    if len(not_copied) or len(not_deleted):
        return [
            f"{len(not_copied)} planned copies and {len(not_deleted)} planned deletes are not in place "
            f"(an apply task failed?), e.g. {[*not_copied.key[:3], *not_deleted.key[:3]]}; the next run resumes"
        ]
    return []
