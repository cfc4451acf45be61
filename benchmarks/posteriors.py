"""Accuracy and efficiency of every geobayes method on every target with a reference.

A thin script over the harness (:func:`geobayes.bench.run_grid`): all models with
references (analytic targets with exact draws, posteriordb posteriors with reference
draws from ``../shared``) x every method of the sampler registry x three seeds, at an
equal budget of gradient evaluations per cell.  Per cell: standardized errors of means
and sds, energy distance, bulk/tail ESS per second and per gradient, wall time with
compilation separate, divergences (see :mod:`geobayes.bench.cell`).  Writes
``benchmarks/results/posteriors/`` (results.jsonl, results.md, plots); rerunning resumes.
Run: ``python -m benchmarks.posteriors`` (or ``geobayes bench posteriors``).
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["run", "format_table"]

OUT = Path(__file__).resolve().parent / "results" / "posteriors"


def run(models=("all",), methods=("all-geobayes",), seeds=(0, 1, 2), budget="40000grad"):
    """Run (or resume) the grid; returns its records."""
    from geobayes.bench import run_grid

    return run_grid(list(models), list(methods), seeds=list(seeds), budget=budget, out=OUT)


def format_table(records) -> str:
    from geobayes.bench.report import table

    return table(records)


if __name__ == "__main__":
    print(format_table(run()))
