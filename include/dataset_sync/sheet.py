"""One episode sheet → the frames that episode should have in the datasets.

The sheet is the only source of truth and people edit it freely, so normalisation
separates what is fatal for the episode (a missing required column: the whole sheet is
unusable and nothing of the episode may be deleted) from what is a problem of one row
(no valid class, a frame number of another episode, a source outside the allowed buckets,
a duplicate): such rows are left out of the targets and reported with a count and
examples, and the rest of the episode is synced.

An invalid row whose frame number is a frame of the episode still names that frame, so the
frame is *kept*: its existing dataset objects stay where they are (a typo in a class cell
must not delete the frame), exactly like a frame whose source image is missing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from include.dataset_sync import layout

COL_BASE_URI = "S3_BASE_URI"
COL_ROW_INDEX = "ROW_INDEX"
COL_FRAME = "FRAME NUMBER"
COL_UNSUPERVISED = "UNSUPERVISED CLASSIFICATION"
COL_SUPERVISED = "SUPERVISED CLASSIFICATION"
COL_RECLASS = "JONNY's RECLASSIFICATION"
COL_METADATA = "METADATA"
# Every documented column, in the order of the seed's sheets (for writing sheets and exports).
SHEET_COLUMNS = (
    COL_BASE_URI,
    COL_ROW_INDEX,
    COL_FRAME,
    COL_UNSUPERVISED,
    COL_SUPERVISED,
    COL_RECLASS,
    COL_METADATA,
)
# The columns the sync reads; ROW_INDEX and METADATA are informational and may be absent.
REQUIRED_COLUMNS = (COL_BASE_URI, COL_FRAME, COL_UNSUPERVISED, COL_SUPERVISED, COL_RECLASS)
# Class columns in priority order: the first non-empty one decides.
CLASS_COLUMNS = (COL_RECLASS, COL_SUPERVISED, COL_UNSUPERVISED)
MAX_EXAMPLES = 5


class SheetFormatError(ValueError):
    """The sheet as a whole cannot be used (no header, required columns missing)."""


@dataclass(frozen=True)
class TargetFrame:
    """One frame the datasets must contain."""

    frame: str
    rarity: str
    split: str
    source: str  # "bucket/key" of the source jpg
    dest_key: str
    row_number: int  # 1-based sheet row, header = 1


@dataclass
class RowProblems:
    """Rows left out of the datasets, by reason: count and a few examples each.

    An example is ``{"row": <1-based sheet row>, "frame": <frame number or "">,
    "value": <the offending cell>, "reason": <what is wrong with it>}``.
    """

    counts: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[dict]] = field(default_factory=dict)

    def add(self, reason: str, example: dict) -> None:
        self.counts[reason] = self.counts.get(reason, 0) + 1
        shown = self.examples.setdefault(reason, [])
        if len(shown) < MAX_EXAMPLES:
            shown.append(example)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass
class EpisodeTargets:
    """What an episode sheet asks for, plus what was left out and why."""

    episode_id: str
    targets: list[TargetFrame]
    invalid: RowProblems
    duplicates: RowProblems
    blank_rows: int = 0
    kept_frames: list[str] = field(default_factory=list)  # frames of invalid rows: their objects stay


def _header_key(name: str) -> str:
    return re.sub(r"\s+", " ", str(name).replace("\u2019", "'").replace("_", " ")).strip().upper()


def locate_columns(header: Sequence[str]) -> dict[str, int]:
    """Position of each known column, matched case-insensitively (spaces/underscores alike).

    Raises SheetFormatError naming the missing required columns and the header found.
    """
    found: dict[str, int] = {}
    for position, name in enumerate(header):
        found.setdefault(_header_key(name), position)
    columns: dict[str, int] = {}
    missing = []
    for column in (*REQUIRED_COLUMNS, COL_ROW_INDEX, COL_METADATA):
        position = found.get(_header_key(column))
        if position is not None:
            columns[column] = position
        elif column in REQUIRED_COLUMNS:
            missing.append(column)
    if missing:
        raise SheetFormatError(f"sheet lacks required column(s) {missing}; header is {list(header)}")
    return columns


def resolve_class(values: Sequence[str], choices: dict[str, str]) -> tuple[str | None, str]:
    """Final class from (reclassification, supervised, unsupervised) cells.

    ``choices`` maps lower-cased names to canonical spelling. Returns ``(class, "")`` or
    ``(None, reason)``: the first non-empty cell decides; if it is not a choice the row is
    invalid (a later column never overrides an explicit but misspelt reclassification).
    """
    for value in values:
        text = value.strip()
        if text:
            canonical = choices.get(text.lower())
            if canonical is None:
                return None, f"class {text!r} is not one of the rarity choices"
            return canonical, ""
    return None, "no classification"


def source_base(
    text: str, default_base: str, allowed_buckets: set[str]
) -> tuple[str, tuple[str, str] | None]:
    """``("bucket/prefix/", None)`` for a row's S3_BASE_URI (empty = ``default_base``), or
    ``("", (reason, detail))`` when the row may not copy from it."""
    if not text:
        return default_base, None
    try:
        base = layout.normalise_base_uri(text)
    except ValueError as err:
        return "", ("bad S3_BASE_URI", str(err))
    source_bucket, _, source_prefix = base.partition("/")
    if not source_prefix:
        return "", ("S3_BASE_URI is a bucket root", f"{text!r} names no folder inside the bucket")
    if source_bucket not in allowed_buckets:
        detail = f"bucket {source_bucket!r} is not in source_buckets {sorted(allowed_buckets)}"
        return "", ("source bucket not allowed", detail)
    return base, None


def check_row(
    frame: str,
    class_cells: Sequence[str],
    base_text: str,
    *,
    episode_id: str,
    choices: dict[str, str],
    default_base: str,
    allowed_buckets: set[str],
) -> tuple[str, str, tuple[str, str, str] | None]:
    """``(class, source base, None)`` for a usable row, else ``("", "", (reason, bad value, detail))``."""
    if not frame:
        return "", "", ("no frame number", "", "no frame number")
    if layout.frame_episode(frame) != episode_id:
        reason = f"frame number is not a frame of {episode_id}"
        return "", "", (reason, frame, reason)
    rarity, why = resolve_class(class_cells, choices)
    if rarity is None:
        bad = next((v.strip() for v in class_cells if v.strip()), "")
        return "", "", (why if why == "no classification" else "class not in rarity choices", bad, why)
    base, problem = source_base(base_text, default_base, allowed_buckets)
    if problem:
        return "", "", (problem[0], base_text, problem[1])
    return rarity, base, None


def normalise_sheet(
    rows: Sequence[Sequence[str]],
    *,
    bucket: str,
    season_code: str,
    episode_code: str,
    img_size: str = layout.DEFAULT_IMG_SIZE,
    rarity_choices: Sequence[str] = layout.DEFAULT_RARITY_CHOICES,
    split_salt: str,
    split_ratios: tuple[float, float, float] = layout.DEFAULT_SPLIT_RATIOS,
    source_buckets: Sequence[str] = (),
) -> EpisodeTargets:
    """Turn the rows of one sheet (header first) into target frames of the episode.

    Row-level problems are collected, not raised: a class that is not a rarity choice,
    a missing or malformed frame number, a frame of another episode, a bad S3_BASE_URI,
    an S3_BASE_URI that is only a bucket root or names a bucket outside ``source_buckets``
    (the dataset ``bucket`` is always allowed). A frame listed twice keeps its first row;
    later rows are reported as duplicates. Completely blank rows are skipped silently.
    """
    episode_id = layout.episode_id(season_code, episode_code)
    if not rows:
        raise SheetFormatError("sheet is empty (no header row)")
    columns = locate_columns(rows[0])
    choices = {c.lower(): c for c in rarity_choices}
    default_base = layout.default_source_base(bucket, season_code, episode_code, img_size)
    width = len(rows[0])
    allowed_buckets = {bucket, *source_buckets}
    invalid = RowProblems()
    kept: list[str] = []
    duplicates = RowProblems()
    seen: dict[str, TargetFrame] = {}
    targets: list[TargetFrame] = []
    blank = 0

    def cell(row: Sequence[str], column: str) -> str:
        position = columns.get(column)
        return str(row[position]).strip() if position is not None and position < len(row) else ""

    for number, row in enumerate(rows[1:], start=2):
        if not any(str(c).strip() for c in row[:width]):
            blank += 1
            continue
        frame = cell(row, COL_FRAME)
        if frame.lower().endswith(".jpg"):  # people paste file names as often as frame numbers
            frame = frame[: -len(".jpg")]

        rarity, base, problem = check_row(
            frame,
            [cell(row, c) for c in CLASS_COLUMNS],
            cell(row, COL_BASE_URI),
            episode_id=episode_id,
            choices=choices,
            default_base=default_base,
            allowed_buckets=allowed_buckets,
        )
        if problem:
            reason, value, detail = problem
            invalid.add(reason, {"row": number, "frame": frame, "value": value, "reason": detail})
            if layout.frame_episode(frame) == episode_id:
                kept.append(frame)
            continue
        if frame in seen:
            first = seen[frame]
            same = first.rarity == rarity and first.source == base + frame + ".jpg"
            duplicates.add(
                "repeated frame" if same else "repeated frame with a different class or source",
                {
                    "row": number,
                    "frame": frame,
                    "value": rarity,
                    "reason": f"first at row {first.row_number}",
                },
            )
            continue
        split = layout.assign_split(split_salt, frame, split_ratios)
        target = TargetFrame(
            frame=frame,
            rarity=rarity,
            split=split,
            source=f"{base}{frame}.jpg",
            dest_key=layout.dest_key(split, rarity, frame),
            row_number=number,
        )
        seen[frame] = target
        targets.append(target)
    listed = set(seen)
    return EpisodeTargets(
        episode_id=episode_id,
        targets=targets,
        invalid=invalid,
        duplicates=duplicates,
        blank_rows=blank,
        kept_frames=sorted({f for f in kept if f not in listed}),
    )
