"""A cell function for the executor test: the worker process dies on seed 1."""

import os

from geobayes.bench.cell import run_cell


def crash_on_seed_1(spec):
    if spec.seed == 1:
        os._exit(3)  # as a segfault or the out-of-memory killer would: no exception, no record
    return run_cell(spec)
