"""Readable tables for the task log: per-episode actions and split × class counts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from include.dataset_sync import layout

EPISODE_COLUMNS = ("unchanged", "copied", "moved", "deleted", "invalid", "duplicates", "missing", "status")


def text_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A fixed-width table; numbers right-aligned."""
    cells = [[str(c) for c in header]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]

    def line(row: Sequence[str]) -> str:
        return "  ".join(
            c.rjust(w) if c.lstrip("-").isdigit() else c.ljust(w) for c, w in zip(row, widths, strict=False)
        )

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(cells[0]), rule, *(line(r) for r in cells[1:])])


def episode_table(episodes: Mapping[str, Mapping[str, object]]) -> str:
    """One row per episode with the counts of what happened to its frames."""
    rows = [
        [episode, *(stats.get(c, 0) for c in EPISODE_COLUMNS)] for episode, stats in sorted(episodes.items())
    ]
    totals = ["total"] + [
        sum(int(stats.get(c, 0) or 0) for stats in episodes.values()) for c in EPISODE_COLUMNS[:-1]
    ]
    return text_table(["episode", *EPISODE_COLUMNS], [*rows, [*totals, ""]])


def split_class_table(counts: Mapping[str, Mapping[str, int]]) -> str:
    """Rows = classes, columns = splits, cells = objects in ``ML/<split>/<class>/``."""
    classes = sorted({c for per_split in counts.values() for c in per_split})
    rows = []
    for rarity in classes:
        values = [int(counts.get(split, {}).get(rarity, 0)) for split in layout.SPLITS]
        rows.append([rarity, *values, sum(values)])
    totals = [sum(int(counts.get(split, {}).get(c, 0)) for c in classes) for split in layout.SPLITS]
    rows.append(["total", *totals, sum(totals)])
    return text_table(["class", *layout.SPLITS, "all"], rows)
