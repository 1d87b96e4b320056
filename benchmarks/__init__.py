"""Benchmarks: ``make bench`` (``python -m benchmarks [name ...]``) runs every ``bench_*.py``."""
