"""DAG parse time: as Airflow measures it, and the worst case of a fresh interpreter.

1. ``airflow dags report``: per-file parse duration inside one DagBag (warm imports).
   Target ≤ 0.2 s per file.
2. Each DAG file imported alone in a new interpreter that already has ``airflow.sdk``
   imported (what a fresh DAG-processor child pays), median of 3. Target ≤ 1 s.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys

from benchmarks.common import REPO, airflow_env, migrated_home, table

REPORT_TARGET_S = 0.2
FRESH_TARGET_S = 1.0
FRESH_REPEATS = 3

_FRESH_PROBE = """
import runpy, sys, time
import airflow.sdk  # noqa: F401
started = time.perf_counter()
runpy.run_path(sys.argv[1])
print(time.perf_counter() - started)
"""


def _seconds(duration: str) -> float:
    hours, minutes, seconds = duration.split(":")
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def dags_report() -> dict[str, float]:
    home = migrated_home()
    try:
        result = subprocess.run(
            [sys.executable, "-m", "airflow", "dags", "report", "-o", "json"],
            env=airflow_env(home),
            check=True,
            capture_output=True,
            text=True,
        )
    finally:
        shutil.rmtree(home, ignore_errors=True)
    rows = json.loads(result.stdout.strip().splitlines()[-1])
    return {row["file"].lstrip("/"): _seconds(row["duration"]) for row in rows}


def fresh_import(path) -> float:
    times = []
    for _ in range(FRESH_REPEATS):
        out = subprocess.run(
            [sys.executable, "-c", _FRESH_PROBE, str(path)],
            env=airflow_env(REPO / ".bench-cache"),
            check=True,
            capture_output=True,
            text=True,
            cwd=REPO,
        )
        times.append(float(out.stdout.strip().splitlines()[-1]))
    return statistics.median(times)


def main() -> None:
    report = dags_report()
    files = sorted((REPO / "dags").glob("*.py"))
    rows = []
    for path in files:
        parsed = report.get(path.name)
        fresh = fresh_import(path)
        ok = parsed is not None and parsed <= REPORT_TARGET_S and fresh <= FRESH_TARGET_S
        rows.append(
            [
                path.name,
                f"{parsed:.3f}" if parsed is not None else "n/a",
                f"{fresh:.3f}",
                "ok" if ok else "OVER",
            ]
        )
    print(table(rows, ["dag file", "dags report s", f"fresh import s (median of {FRESH_REPEATS})", "target"]))
    print(f"targets: ≤ {REPORT_TARGET_S} s per file in `airflow dags report`, ≤ {FRESH_TARGET_S} s fresh")
