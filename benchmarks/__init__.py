"""Benchmark suites of geobayes (run with ``geobayes bench`` or ``python -m benchmarks.NAME``)."""
