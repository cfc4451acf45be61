"""HGF benchmarks (see run.py)."""
