"""Which episodes and seasons a run holds back for a person, and why.

Real sheet accidents are local: one sheet emptied by mistake, one manifest renamed. A guard
on the whole dataset misses them once the dataset is large (one episode of 30 is 3 %), so
the plan is also judged per episode and per season, and only what looks like an accident
is held; the other episodes are applied as usual.

* A **season** is held when objects of its episodes exist in the datasets but its manifest
  does not (deleted or renamed): the plan would delete the whole season.
* An **episode** is held when its sheet yields no valid target row while it has objects,
  or when the plan deletes more than ``max_episode_delete_fraction`` of its existing
  managed objects. Deletes count frames that leave the datasets; a move (new class or
  split) copies the frame again and is not a loss, so it does not count.
* The **global** guard (``max_delete_fraction`` of every object under ``ML/``) still
  applies to what is left: when the deletes of the episodes that are not held exceed it,
  every episode with deletes is held too.

A held episode's actions (copies and deletes) are all left out of the run's apply; they are
applied only after an approval (``steps.plan_held``), or at once with ``allow_mass_delete``.

Pure functions over the planner's per-episode counts (pandas frames); no I/O.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the DAG file imports this module at parse time: no pandas import here
    import pandas as pd

_SEASON = re.compile(r"^(S\d+)E\d+$")
EXAMPLES = 3


def season_of(episode: str) -> str:
    """``S01E02`` → ``S01`` ("" for anything else)."""
    match = _SEASON.match(episode)
    return match.group(1) if match else ""


@dataclass(frozen=True)
class Hold:
    """One held episode (``episode`` set) or whole season (``episode`` None).

    ``as_dict()`` is the shape of the entries of ``held`` in ``plan.json`` and ``report.json``:
    ``{"episode": "S01E03" | null, "season": "S01", "reason": str, "deletes": int,
    "existing": int, "examples": [key, ...]}``.
    """

    season: str
    episode: str | None
    reason: str
    deletes: int
    existing: int
    examples: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.episode or self.season

    def covers(self, episode: str) -> bool:
        """Whether an episode's actions belong to this hold."""
        return episode == self.episode if self.episode else season_of(episode) == self.season

    def as_dict(self) -> dict:
        data = asdict(self)
        data["examples"] = list(self.examples)
        return data


def find_holds(
    counts: pd.DataFrame,
    deletes: pd.DataFrame,
    *,
    manifest_seasons: Iterable[str],
    listed_episodes: Iterable[str],
    valid_rows: Mapping[str, int],
    max_episode_delete_fraction: float,
) -> list[Hold]:
    """Holds for the per-episode and per-season guards.

    ``counts``: the planner's per-episode counts (``existing``, ``deleted``). ``deletes``: its
    delete actions (for example keys). ``manifest_seasons``: seasons whose manifest was read.
    ``listed_episodes``: episodes some manifest lists. ``valid_rows``: target rows per episode
    whose sheet was read. Episodes with no managed object are never held.
    """
    seasons = set(manifest_seasons)
    listed = set(listed_episodes)
    examples = _examples(deletes)
    holds: list[Hold] = []
    orphans: dict[str, list[int]] = {}
    for episode, existing, deleted in zip(
        counts.index, counts["existing"].tolist(), counts["deleted"].tolist(), strict=True
    ):
        if existing == 0:
            continue
        season = season_of(episode)
        if season not in seasons:
            totals = orphans.setdefault(season, [0, 0])
            totals[0] += deleted
            totals[1] += existing
            continue
        allowed = math.floor(max_episode_delete_fraction * existing)
        if valid_rows.get(episode, 1) == 0:
            reason = "its sheet has no valid target row (emptied, or every row invalid)"
        elif deleted <= allowed:
            continue
        elif episode not in listed:
            reason = f"it is in no manifest (removed from the {season} manifest?)"
        else:
            reason = (
                f"the plan deletes {deleted} of its {existing} objects ({deleted / existing:.0%}), more than "
                f"max_episode_delete_fraction={max_episode_delete_fraction} allows ({allowed})"
            )
        holds.append(Hold(season, episode, reason, deleted, existing, tuple(examples.get(episode, ()))))
    for season, (deleted, existing) in sorted(orphans.items()):
        season_examples = [k for e, keys in sorted(examples.items()) if season_of(e) == season for k in keys]
        reason = f"its manifest tuttle_twins/manifests/{season}-episodes.json is gone while {existing} objects exist"
        holds.append(Hold(season, None, reason, deleted, existing, tuple(season_examples[:EXAMPLES])))
    return holds


def global_holds(
    counts: pd.DataFrame,
    deletes: pd.DataFrame,
    held: list[Hold],
    *,
    existing_objects: int,
    max_delete_fraction: float,
) -> list[Hold]:
    """Holds of the global guard: every not-yet-held episode with deletes, when their deletes
    (moves included, as the guard always counted them) exceed ``max_delete_fraction``."""
    free = deletes[~deletes["episode"].map(lambda e: any(h.covers(e) for h in held))] if held else deletes
    allowed = math.floor(max_delete_fraction * existing_objects)
    if len(free) <= allowed:
        return []
    reason = (
        f"the run's deletes outside held episodes ({len(free)} of {existing_objects} objects, "
        f"{len(free) / max(existing_objects, 1):.1%}) exceed max_delete_fraction={max_delete_fraction} ({allowed})"
    )
    per_episode = free.groupby("episode").size()
    examples = _examples(free, moves=True)
    return [
        Hold(
            season_of(episode),
            episode,
            reason,
            int(n),
            int(counts.loc[episode, "existing"]) if episode in counts.index else 0,
            tuple(examples.get(episode, ())),
        )
        for episode, n in per_episode.items()
    ]


def _examples(deletes: pd.DataFrame, moves: bool = False) -> dict[str, list[str]]:
    rows = deletes if moves else deletes[deletes["action"] == "delete"]
    if rows.empty:
        return {}
    return {
        ep: list(group["key"])
        for ep, group in rows.groupby("episode", sort=True).head(EXAMPLES).groupby("episode")
    }
