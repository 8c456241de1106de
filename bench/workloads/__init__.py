"""Workloads of the benchmark harness, one module per library (see harness.py)."""
