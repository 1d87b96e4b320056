"""Where frames live in the bucket, and which dataset split a frame belongs to.

Pure functions, no I/O: the single place that knows the key layout of sources
(``tuttle_twins/<season><episode>/default_eng/v1/frames/<img_size>/<frame>.jpg``), of the
datasets (``tuttle_twins/ML/<split>/<class>/<frame>.jpg``) and the split rule.

The split of a frame depends only on a salt and the frame number: the first 8 bytes of
``blake2b(salt + "\\0" + frame)`` read as an integer and divided by 2**64 give a number in
[0, 1) that is compared with the cumulative ratios. Adding, removing or reclassifying
another frame can therefore never move this one, and the hash (unlike Python's ``hash``
or a library's internal hash) is the same on every machine and every release.
"""

from __future__ import annotations

import hashlib
import re

from include.common import s3

SPLITS: tuple[str, ...] = ("train", "validation", "test")
DEFAULT_SPLIT_RATIOS: tuple[float, float, float] = (0.7, 0.2, 0.1)
DEFAULT_RARITY_CHOICES: tuple[str, ...] = ("Common", "Uncommon", "Rare", "Epic", "Legendary")
DEFAULT_IMG_SIZE = "thumbnails"

ROOT = "tuttle_twins/"
ML_PREFIX = "tuttle_twins/ML/"
MANIFEST_PREFIX = "tuttle_twins/manifests/"
SYNC_RUNS_PREFIX = "tuttle_twins/sync_runs/"

# ``TT_S01_E01_FRM-00-00-08-12``: the season and episode codes are the 2nd and 3rd fields.
FRAME_RE = re.compile(r"^[A-Za-z0-9]+_(S\d+)_(E\d+)_[^/\s]+$")
SEASON_RE = re.compile(r"^S\d+$")
EPISODE_RE = re.compile(r"^E\d+$")
MANIFEST_KEY_RE = re.compile(r"^tuttle_twins/manifests/(S\d+)-episodes\.json$")
# The same rule, whole key at once, for vectorised matching of a destination listing (RE2 syntax).
DEST_KEY_PATTERN = r"^tuttle_twins/ML/(train|validation|test)/[^/]+/[A-Za-z0-9]+_S\d+_E\d+_[^/\s]+\.jpg$"


def episode_id(season_code: str, episode_code: str) -> str:
    """``S01`` + ``E01`` → ``S01E01``, the id used everywhere for one episode."""
    return f"{season_code}{episode_code}"


def frame_episode(frame: str) -> str | None:
    """The episode id a frame number belongs to (``TT_S01_E01_FRM-…`` → ``S01E01``), or None."""
    match = FRAME_RE.match(frame)
    return episode_id(match.group(1), match.group(2)) if match else None


def default_source_base(bucket: str, season_code: str, episode_code: str, img_size: str) -> str:
    """``bucket/prefix/`` of an episode's frames when the sheet leaves ``S3_BASE_URI`` empty."""
    return f"{bucket}/{ROOT}{season_code}{episode_code}/default_eng/v1/frames/{img_size}/"


def normalise_base_uri(text: str) -> str:
    """``s3://bucket/prefix`` or ``bucket/prefix/`` → ``bucket/prefix/``; ValueError if no bucket."""
    value = text.strip()
    if value.lower().startswith("s3://"):
        bucket, prefix = s3.parse_url("s3://" + value[5:], field="S3_BASE_URI")
    else:
        bucket, _, prefix = value.lstrip("/").partition("/")
    if not bucket or " " in bucket:
        raise ValueError(f"S3_BASE_URI {text!r} does not start with a bucket name")
    prefix = prefix.strip("/")
    return f"{bucket}/{prefix}/" if prefix else f"{bucket}/"


def dest_key(split: str, rarity: str, frame: str) -> str:
    """Destination key of a frame in the datasets."""
    return f"{ML_PREFIX}{split}/{rarity}/{frame}.jpg"


def parse_dest_key(key: str) -> tuple[str, str, str] | None:
    """``(split, class, frame)`` of a key that follows the dataset layout, else None (left alone)."""
    if not key.startswith(ML_PREFIX) or not key.endswith(".jpg"):
        return None
    parts = key[len(ML_PREFIX) : -len(".jpg")].split("/")
    if len(parts) != 3 or parts[0] not in SPLITS or not parts[1] or not FRAME_RE.match(parts[2]):
        return None
    return parts[0], parts[1], parts[2]


def split_fraction(salt: str, frame: str) -> float:
    """The frame's stable position in [0, 1)."""
    digest = hashlib.blake2b(f"{salt}\0{frame}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def assign_split(salt: str, frame: str, ratios: tuple[float, float, float] = DEFAULT_SPLIT_RATIOS) -> str:
    """``train``, ``validation`` or ``test`` for a frame, from its hash against the cumulative ratios."""
    position = split_fraction(salt, frame)
    bound = 0.0
    for split, ratio in zip(SPLITS, ratios, strict=True):
        bound += ratio
        if position < bound:
            return split
    return SPLITS[-1]


def validate_ratios(ratios: object) -> tuple[float, float, float]:
    """Three non-negative numbers (train, validation, test) that sum to 1 (±0.001)."""
    try:
        values = tuple(float(r) for r in ratios)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        raise ValueError(f"split ratios must be three numbers, got {ratios!r}") from None
    if len(values) != 3 or any(v < 0 for v in values) or abs(sum(values) - 1.0) > 1e-3:
        raise ValueError(
            f"split ratios (train, validation, test) must be 3 numbers >= 0 summing to 1: {ratios!r}"
        )
    return values  # type: ignore[return-value]
