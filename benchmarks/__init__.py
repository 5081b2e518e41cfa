"""Benchmarks for realtime-client: ``make bench`` (``python -m benchmarks``) prints a table."""
