"""Run every benchmark module (or the ones named) and print their figures.

Each ``benchmarks/bench_<name>.py`` exposes ``main() -> None``. A benchmark that raises
is reported and the others still run; the exit code says whether all of them ran.
"""

from __future__ import annotations

import importlib
import os
import sys
import time
import traceback
from pathlib import Path


def main(argv: list[str]) -> int:
    # Figures are printed; the pipelines' own INFO progress logs would bury them.
    os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")
    names = sorted(p.stem[len("bench_") :] for p in Path(__file__).parent.glob("bench_*.py"))
    chosen = argv or names
    unknown = sorted(set(chosen) - set(names))
    if unknown:
        print(f"unknown benchmark(s) {unknown}; available: {names}")
        return 2
    failed = []
    for name in chosen:
        print(f"\n=== bench {name} ===", flush=True)
        started = time.perf_counter()
        try:
            importlib.import_module(f"benchmarks.bench_{name}").main()
        except Exception:
            traceback.print_exc()
            failed.append(name)
        print(f"=== bench {name}: {time.perf_counter() - started:.1f} s ===", flush=True)
    if failed:
        print(f"\nbenchmarks that failed to run: {failed}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
