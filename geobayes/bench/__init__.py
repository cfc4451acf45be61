"""The benchmark harness behind ``geobayes bench``: grid, metrics, reports, executors, peers.

It ships with the package, so ``geobayes bench`` works from a plain installation:

* :func:`run_grid` -- models x methods x seeds at a budget (wall seconds or gradient
  evaluations), resumable, on local processes or a Dask cluster
  (:mod:`geobayes.bench.executors`), writing JSON Lines, a Markdown table and plots
  (:mod:`geobayes.bench.report`);
* :mod:`geobayes.bench.metrics` -- standardized errors, energy distance, ESS;
* :mod:`geobayes.bench.targets` -- analytic and posteriordb reference posteriors;
* :mod:`geobayes.bench.peers` -- NumPyro, BlackJAX, emcee and nutpie in the same
  harness (each optional);
* :mod:`geobayes.bench.filters` -- the filter benchmark over the Lorenz settings;
* :mod:`geobayes.bench.suites` -- the heavier scripted suites of a source checkout's
  ``benchmarks/`` folder.
"""

from geobayes.bench.cell import Budget, CellSpec, parse_budget, run_cell
from geobayes.bench.grid import load_results, run_grid
from geobayes.bench.metrics import energy_distance, ess, run_metrics, standardized_errors
from geobayes.bench.targets import Target, get_target, target_names

__all__ = [
    "Budget",
    "CellSpec",
    "parse_budget",
    "run_cell",
    "run_grid",
    "load_results",
    "energy_distance",
    "ess",
    "run_metrics",
    "standardized_errors",
    "Target",
    "get_target",
    "target_names",
]
