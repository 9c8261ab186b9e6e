"""Benchmarks: the engine against raw baselines measured in the same run, reported as ratios.

Run them all with `python -m benchmarks.run [--quick] [--out bench-results/latest.json]`.
Everything happens in a temporary directory (SQLite files, PREFECT_HOME, a real `prefect server
start`), so the user's data is never touched.
"""
