"""The four change sets: what to leave, copy, move and delete to match the sheets.

Vectorised with pyarrow compute (hash joins via ``is_in``) so a million target frames
against a million existing objects plans in about a second; only the small results
(the actions, the per-episode counts) become pandas frames. Imported only inside tasks.

Rules, in the words of the issue:

* A destination object is *managed* only if its key follows the layout
  (``tuttle_twins/ML/<split>/<class>/<frame>.jpg`` with a frame number that names its
  episode) and its episode is selected by the run and not protected. Protected episodes
  are those whose sheet (or whose season's manifest) could not be read: none of their
  objects is touched. Everything else under ``ML/`` is left alone.
* unchanged: the target key already exists.
* copy: the target key is missing and the frame has no other managed object.
* move: the target key is missing and the frame has an object elsewhere (class or split
  changed): copy from the source, then delete the old object.
* delete: a managed object that is no target (its frame left the sheets, the episode left
  every manifest, or it is a surplus copy of a frame that is already in place).
* A target whose source object does not exist is reported as missing and not copied, and
  the frame's existing objects are kept: a missing source more likely means frames not
  uploaded yet than a frame that should vanish, and the dataset copy may be the only one.
* A frame named by an invalid sheet row (a class typo, a source outside the allowed
  buckets) is kept the same way (``kept_frames``).

``counts`` also holds, per episode, ``existing`` (its managed objects before the run) and
``deleted`` (objects that leave the datasets, moves excluded): the per-episode guard
compares the two.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from include.dataset_sync import layout

TARGET_COLUMNS = ("episode", "frame", "rarity", "split", "source", "dest_key")
COUNT_NAMES = ("unchanged", "copied", "moved", "deleted", "missing", "kept_without_source", "kept_invalid")
# Per-episode figures of the plan that are not actions (kept out of the action totals).
STAT_NAMES = ("existing",)


@dataclass
class Plan:
    """The change sets, ready to apply, and the counts the report shows."""

    copies: pd.DataFrame  # episode, frame, source, dest_key, action ("copy" | "move")
    deletes: pd.DataFrame  # episode, frame, key, action ("delete" | "move")
    counts: pd.DataFrame  # index episode; columns COUNT_NAMES
    missing_examples: dict[str, list[str]] = field(default_factory=dict)
    existing_objects: int = 0
    managed_objects: int = 0
    unmanaged_objects: int = 0
    target_frames: int = 0

    @property
    def mutations(self) -> int:
        return len(self.copies) + len(self.deletes)

    @property
    def delete_fraction(self) -> float:
        return len(self.deletes) / self.existing_objects if self.existing_objects else 0.0

    def totals(self) -> dict[str, int]:
        return {name: int(self.counts[name].sum()) for name in (*COUNT_NAMES, *STAT_NAMES)}


def _layout_keys(keys: pa.Array | Iterable[str]) -> pa.Array:
    """The keys of a ``tuttle_twins/ML/`` listing that follow the dataset layout."""
    arr = _as_array(keys)
    follows = pc.match_substring_regex(arr, layout.DEST_KEY_PATTERN)
    return arr if arr.null_count == 0 and pc.all(follows).as_py() else arr.filter(follows)


def _parse_layout_keys(arr: pa.Array) -> pa.Table:
    parts = pc.split_pattern(pc.utf8_slice_codeunits(arr, len(layout.ML_PREFIX)), "/", max_splits=2)
    frame = pc.utf8_slice_codeunits(pc.list_element(parts, 2), 0, -len(".jpg"))
    codes = pc.split_pattern(frame, "_", max_splits=3)
    episode = pc.binary_join_element_wise(pc.list_element(codes, 1), pc.list_element(codes, 2), "")
    return pa.table(
        {
            "key": arr,
            "split": pc.list_element(parts, 0),
            "rarity": pc.list_element(parts, 1),
            "frame": frame,
            "episode": episode,
        }
    )


def parse_destination(keys: pa.Array | Iterable[str]) -> pa.Table:
    """Layout-following keys among a listing of ``tuttle_twins/ML/``: key, split, rarity, frame, episode."""
    return _parse_layout_keys(_layout_keys(keys))


def make_plan(
    targets: pa.Table | pd.DataFrame,
    existing_keys: pa.Array | Iterable[str],
    existing_sources: pa.Array | Iterable[str],
    is_managed: Callable[[str], bool],
    kept_frames: pa.Array | Iterable[str] = (),
) -> Plan:
    """Compute the change sets.

    ``targets``: one row per wanted frame (TARGET_COLUMNS). Frame numbers must be unique:
    ``normalise_sheet`` keeps one row per frame and only accepts frames of its own episode,
    so the concatenation of distinct episodes is unique by construction.
    ``existing_keys``: the listing of ``tuttle_twins/ML/``. ``existing_sources``:
    ``bucket/key`` of every source object found. ``is_managed(episode_id)``: whether objects
    of that episode may be deleted in this run (selected and not protected). ``kept_frames``:
    frames of invalid sheet rows, whose existing objects stay.

    Only the objects that are not a target key (normally about the churn, 1 %) are parsed
    into split/class/frame/episode; the rest is settled by one hash join on the key.
    """
    tgt = _as_table(targets)
    keys = _layout_keys(existing_keys)
    # One hash join answers both "is this object a target" and "does this target exist".
    target_row = pc.index_in(keys, value_set=_as_array(tgt["dest_key"]))
    in_place = pc.is_valid(target_row)
    present = np.zeros(tgt.num_rows, dtype=bool)
    present[target_row.drop_null().to_numpy()] = True
    wanted = tgt.filter(pa.array(~present))
    # Probe the (large) source listing against the (small) wanted set, not the other way round.
    sources = _as_array(existing_sources)
    found = sources.filter(pc.is_in(sources, value_set=_as_array(wanted["source"])))
    src_ok = pc.is_in(wanted["source"], value_set=found)
    to_copy = wanted.filter(src_ok)
    missing = wanted.filter(pc.invert(src_ok))

    others = _parse_layout_keys(keys.filter(pc.invert(in_place)))
    episodes = pc.unique(others["episode"]).to_pylist()
    managed_eps = pa.array([e for e in episodes if is_managed(e)], type=pa.string())
    stale = others.filter(pc.is_in(others["episode"], value_set=managed_eps))
    keep_missing = pc.is_in(stale["frame"], value_set=_as_array(missing["frame"]))
    keep_invalid = pc.and_(
        pc.invert(keep_missing), pc.is_in(stale["frame"], value_set=_as_array(kept_frames))
    )
    keep = pc.or_(keep_missing, keep_invalid)
    kept = stale.filter(keep_missing)
    kept_invalid = stale.filter(keep_invalid)
    to_delete = stale.filter(pc.invert(keep))

    is_move = pc.is_in(to_copy["frame"], value_set=_as_array(to_delete["frame"]))
    delete_is_move = pc.is_in(to_delete["frame"], value_set=_as_array(to_copy["frame"]))

    copies = pd.DataFrame(
        {
            "episode": to_copy["episode"].to_pandas(),
            "frame": to_copy["frame"].to_pandas(),
            "source": to_copy["source"].to_pandas(),
            "dest_key": to_copy["dest_key"].to_pandas(),
            "action": pd.Series(pc.if_else(is_move, "move", "copy").to_pandas()),
        }
    )
    deletes = pd.DataFrame(
        {
            "episode": to_delete["episode"].to_pandas(),
            "frame": to_delete["frame"].to_pandas(),
            "key": to_delete["key"].to_pandas(),
            "action": pd.Series(pc.if_else(delete_is_move, "move", "delete").to_pandas()),
        }
    )
    counts = pd.DataFrame(
        {
            "unchanged": _count_by(tgt["episode"].filter(pa.array(present))),
            "copied": _count_by(to_copy["episode"].filter(pc.invert(is_move))),
            "moved": _count_by(to_copy["episode"].filter(is_move)),
            "deleted": _count_by(to_delete["episode"].filter(pc.invert(delete_is_move))),
            "missing": _count_by(missing["episode"]),
            "kept_without_source": _count_by(kept["episode"]),
            "kept_invalid": _count_by(kept_invalid["episode"]),
            "existing": _count_by(stale["episode"]),  # plus the unchanged ones, added below
        },
        columns=[*COUNT_NAMES, *STAT_NAMES],
    )
    for episode in pc.unique(tgt["episode"]).to_pylist():
        if episode not in counts.index:
            counts.loc[episode] = 0
    counts = counts.fillna(0).astype("int64").sort_index()
    counts["existing"] += counts["unchanged"]
    counts.index.name = "episode"

    missing_examples: dict[str, list[str]] = {}
    for episode, source in zip(missing["episode"].to_pylist(), missing["source"].to_pylist(), strict=True):
        shown = missing_examples.setdefault(episode, [])
        if len(shown) < 5:
            shown.append(source)
    unchanged = int(present.sum())
    return Plan(
        copies=copies,
        deletes=deletes,
        counts=counts,
        missing_examples=missing_examples,
        existing_objects=len(keys),
        managed_objects=unchanged + stale.num_rows,
        unmanaged_objects=others.num_rows - stale.num_rows,
        target_frames=tgt.num_rows,
    )


def _as_table(targets: pa.Table | pd.DataFrame) -> pa.Table:
    if isinstance(targets, pd.DataFrame):
        targets = pa.Table.from_pandas(targets[list(TARGET_COLUMNS)], preserve_index=False)
    missing = [c for c in TARGET_COLUMNS if c not in targets.column_names]
    if missing:
        raise ValueError(f"targets lack column(s) {missing}")
    # Columns stay as read (chunked per episode file): copying a million strings costs time and memory.
    return targets.select(list(TARGET_COLUMNS))


def _as_array(values: pa.Array | pa.ChunkedArray | Iterable[str]) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if not isinstance(values, pa.Array):
        values = pa.array(list(values), type=pa.string())
    if pa.types.is_large_string(values.type) or pa.types.is_string_view(values.type):
        values = values.cast(pa.string())
    return values


def _count_by(episodes: pa.Array) -> pd.Series:
    if len(episodes) == 0:
        return pd.Series(dtype="int64")
    counted = pc.value_counts(episodes)
    return pd.Series(
        counted.field("counts").to_numpy(), index=counted.field("values").to_pylist(), dtype="int64"
    )
