"""The validated settings of one sync run, built from the DAG's Params.

One frozen object per run so every task reads the same, checked values; a bad Param
(a ratio that does not sum to 1, an unknown season code) fails the first task with a
message that names it, before anything is read or written.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from include.dataset_sync import layout

DEFAULT_BUCKET = "media.angel-nft.com"
DEFAULT_COPY_CONCURRENCY = 32
DEFAULT_MAX_DELETE_FRACTION = 0.2
DEFAULT_SPLIT_SALT = "tuttle-twins-v1"
# One mapped apply task handles this many objects; with at most 1000 chunks a map stays under 1024.
DEFAULT_CHUNK_SIZE = 5000
MAX_CHUNKS = 1000

_EPISODE_FILTER_RE = re.compile(r"^(S\d+)(E\d+)$")


@dataclass(frozen=True)
class SyncConfig:
    """Everything a sync run needs to know; see the DAG's Params for the meaning of each field."""

    bucket: str = DEFAULT_BUCKET
    aws_conn_id: str = "aws_default"
    gcp_conn_id: str = "google_cloud_default"
    seasons: tuple[str, ...] = ()
    episodes: tuple[str, ...] = ()
    dry_run: bool = False
    max_delete_fraction: float = DEFAULT_MAX_DELETE_FRACTION
    allow_mass_delete: bool = False
    split_ratios: tuple[float, float, float] = layout.DEFAULT_SPLIT_RATIOS
    split_salt: str = DEFAULT_SPLIT_SALT
    rarity_choices: tuple[str, ...] = layout.DEFAULT_RARITY_CHOICES
    copy_concurrency: int = DEFAULT_COPY_CONCURRENCY
    chunk_size: int = DEFAULT_CHUNK_SIZE

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> SyncConfig:
        """Validate the DAG run's Params (missing keys take the defaults); ValueError names the bad one."""
        p = dict(params or {})
        defaults = cls()
        bucket = str(p.get("bucket") or defaults.bucket).strip()
        if not re.match(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$", bucket):
            raise ValueError(f"bucket {bucket!r} is not a valid S3 bucket name")
        seasons = tuple(_codes(p.get("seasons"), "seasons"))
        for code in seasons:
            if not layout.SEASON_RE.match(code):
                raise ValueError(f"seasons: {code!r} is not a season code like S01")
        episodes = tuple(_codes(p.get("episodes"), "episodes"))
        for code in episodes:
            if not _EPISODE_FILTER_RE.match(code):
                raise ValueError(f"episodes: {code!r} is not an episode id like S01E01")
        fraction = float(p.get("max_delete_fraction", defaults.max_delete_fraction))
        if not 0 <= fraction <= 1:
            raise ValueError(f"max_delete_fraction must be between 0 and 1, got {fraction}")
        choices = tuple(str(c).strip() for c in (p.get("rarity_choices") or defaults.rarity_choices))
        if not choices or any(not c or "/" in c for c in choices):
            raise ValueError(f"rarity_choices must be non-empty names without '/': {choices!r}")
        if len({c.lower() for c in choices}) != len(choices):
            raise ValueError(f"rarity_choices differ only by case: {choices!r}")
        concurrency = int(p.get("copy_concurrency", defaults.copy_concurrency))
        if not 1 <= concurrency <= 256:
            raise ValueError(f"copy_concurrency must be between 1 and 256, got {concurrency}")
        chunk_size = int(p.get("chunk_size", defaults.chunk_size))
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be positive, got {chunk_size}")
        salt = str(p.get("split_salt") or defaults.split_salt)
        return cls(
            bucket=bucket,
            aws_conn_id=str(p.get("aws_conn_id") or defaults.aws_conn_id),
            gcp_conn_id=str(p.get("gcp_conn_id") or defaults.gcp_conn_id),
            seasons=seasons,
            episodes=episodes,
            dry_run=bool(p.get("dry_run", False)),
            max_delete_fraction=fraction,
            allow_mass_delete=bool(p.get("allow_mass_delete", False)),
            split_ratios=layout.validate_ratios(p.get("split_ratios") or defaults.split_ratios),
            split_salt=salt,
            rarity_choices=choices,
            copy_concurrency=concurrency,
            chunk_size=chunk_size,
        )

    def selects(self, episode: str) -> bool:
        """Whether the ``seasons``/``episodes`` Params put an episode id (``S01E01``) in this run."""
        match = _EPISODE_FILTER_RE.match(episode)
        season = match.group(1) if match else ""
        if self.seasons and season not in self.seasons:
            return False
        return not self.episodes or episode in self.episodes

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form for the run report."""
        return asdict(self)


def _codes(value: Any, name: str) -> list[str]:
    if value in (None, "", []):
        return []
    if isinstance(value, str):
        value = [v for v in re.split(r"[,\s]+", value) if v]
    if not isinstance(value, list | tuple):
        raise ValueError(f"{name} must be a list of codes, got {value!r}")
    return [str(v).strip().upper() for v in value if str(v).strip()]
