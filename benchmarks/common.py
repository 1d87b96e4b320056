"""Small helpers shared by the benchmarks: an isolated Airflow home and a table printer."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def airflow_env(home: Path, **extra: str) -> dict[str, str]:
    """Environment for an Airflow CLI subprocess with its own SQLite home and our dags/."""
    env = os.environ.copy()
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "PYTHONPATH": str(REPO),
            **extra,
        }
    )
    return env


def migrated_home() -> Path:
    """A fresh AIRFLOW_HOME with a migrated SQLite database."""
    home = Path(tempfile.mkdtemp(prefix="bench-airflow-"))
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        env=airflow_env(home),
        check=True,
        capture_output=True,
    )
    return home


def table(rows: list[list[object]], header: list[str]) -> str:
    """A plain fixed-width table."""
    cells = [header] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
