"""The validated settings of one sync run, built from the DAG's Params.

One frozen object per run so every task reads the same, checked values; a bad Param
(a ratio that does not sum to 1, an unknown season code) fails the first task with a
message that names it, before anything is read or written.

The connection ids are fixed here, not Params: whoever may trigger a run must not be able
to point it at another connection. Deployments point ``aws_default`` and
``google_cloud_default`` at their accounts (secrets backend or ``AIRFLOW_CONN_*``).
Who may approve held changes is deployment configuration too (``approvers``).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from include.dataset_sync import layout

DEFAULT_BUCKET = "media.angel-nft.com"
AWS_CONN_ID = "aws_default"
GCP_CONN_ID = "google_cloud_default"
# Airflow Variable (JSON list or comma-separated user ids) naming who may answer an approval;
# unset or empty: anyone the auth manager lets answer required actions of this DAG.
APPROVERS_VARIABLE = "dataset_sync_approvers"
APPROVERS_ENV = "DATASET_SYNC_APPROVERS"
DEFAULT_COPY_CONCURRENCY = 32
DEFAULT_MAX_DELETE_FRACTION = 0.2
DEFAULT_MAX_EPISODE_DELETE_FRACTION = 0.2
DEFAULT_APPROVAL_TIMEOUT_MINUTES = 720.0
DEFAULT_SPLIT_SALT = "tuttle-twins-v1"
# One mapped apply task handles this many objects; with at most 1000 chunks a map stays under 1024.
DEFAULT_CHUNK_SIZE = 5000
MAX_CHUNKS = 1000

_EPISODE_FILTER_RE = re.compile(r"^(S\d+)(E\d+)$")
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")


@dataclass(frozen=True)
class SyncConfig:
    """Everything a sync run needs to know; see the DAG's Params for the meaning of each field."""

    bucket: str = DEFAULT_BUCKET
    aws_conn_id: str = AWS_CONN_ID
    gcp_conn_id: str = GCP_CONN_ID
    seasons: tuple[str, ...] = ()
    episodes: tuple[str, ...] = ()
    dry_run: bool = False
    max_delete_fraction: float = DEFAULT_MAX_DELETE_FRACTION
    max_episode_delete_fraction: float = DEFAULT_MAX_EPISODE_DELETE_FRACTION
    allow_mass_delete: bool = False
    approval_timeout_minutes: float = DEFAULT_APPROVAL_TIMEOUT_MINUTES
    source_buckets: tuple[str, ...] = ()
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
        if not _BUCKET_RE.match(bucket):
            raise ValueError(f"bucket {bucket!r} is not a valid S3 bucket name")
        seasons = tuple(_codes(p.get("seasons"), "seasons"))
        for code in seasons:
            if not layout.SEASON_RE.match(code):
                raise ValueError(f"seasons: {code!r} is not a season code like S01")
        episodes = tuple(_codes(p.get("episodes"), "episodes"))
        for code in episodes:
            if not _EPISODE_FILTER_RE.match(code):
                raise ValueError(f"episodes: {code!r} is not an episode id like S01E01")
        fraction = _fraction(p, "max_delete_fraction", defaults.max_delete_fraction)
        episode_fraction = _fraction(p, "max_episode_delete_fraction", defaults.max_episode_delete_fraction)
        timeout = float(p.get("approval_timeout_minutes", defaults.approval_timeout_minutes))
        if not timeout > 0:
            raise ValueError(f"approval_timeout_minutes must be positive, got {timeout}")
        source_buckets = tuple(str(b).strip() for b in (p.get("source_buckets") or ()) if str(b).strip())
        for name in source_buckets:
            if not _BUCKET_RE.match(name):
                raise ValueError(f"source_buckets: {name!r} is not a valid S3 bucket name")
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
            seasons=seasons,
            episodes=episodes,
            dry_run=bool(p.get("dry_run", False)),
            max_delete_fraction=fraction,
            max_episode_delete_fraction=episode_fraction,
            allow_mass_delete=bool(p.get("allow_mass_delete", False)),
            approval_timeout_minutes=timeout,
            source_buckets=source_buckets,
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


def approvers() -> list[dict[str, str]]:
    """The assigned users of the approval (``[{"id", "name"}]``), from the Variable or the environment.

    Read when the approval task runs, never at parse time. Empty: no assignment.
    """
    import json
    import os

    from airflow.sdk import Variable

    try:
        raw = Variable.get(APPROVERS_VARIABLE, default=None)
    except Exception:  # no Variable backend reachable (unit tests): fall back to the environment
        raw = None
    raw = (raw or os.environ.get(APPROVERS_ENV) or "").strip()
    if not raw:
        return []
    if raw.startswith("["):
        try:
            ids = [str(u).strip() for u in json.loads(raw)]
        except json.JSONDecodeError as err:
            raise ValueError(f"{APPROVERS_VARIABLE}: not a JSON list of user ids ({err})") from None
    else:
        ids = [u.strip() for u in raw.split(",")]
    return [{"id": u, "name": u} for u in ids if u]


def _fraction(params: dict[str, Any], name: str, default: float) -> float:
    value = float(params.get(name, default))
    if not 0 <= value <= 1:
        raise ValueError(f"{name} must be between 0 and 1, got {value}")
    return value


def _codes(value: Any, name: str) -> list[str]:
    if value in (None, "", []):
        return []
    if isinstance(value, str):
        value = [v for v in re.split(r"[,\s]+", value) if v]
    if not isinstance(value, list | tuple):
        raise ValueError(f"{name} must be a list of codes, got {value!r}")
    return [str(v).strip().upper() for v in value if str(v).strip()]
