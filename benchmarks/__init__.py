"""Benchmark suites of geobayes.

Each suite is a module with ``run()`` returning JSON-serializable results and
``format_table(result)`` returning text; ``geobayes bench SUITE`` selects and prints them,
``python -m benchmarks.SUITE`` runs one directly.  Suites live here, not in the package:
the CLI only selects and formats.
"""

#: suite name -> (module, one-line description)
SUITES = {
    "overhead": (
        "benchmarks.overhead",
        "driver overhead vs minimal jitted MALA/HMC loops; HMC vs bare gradient",
    ),
    "first-draw": (
        "benchmarks.first_draw",
        "time to first draw in a fresh process, Numba cache cold and warm",
    ),
    "posteriors": (
        "benchmarks.posteriors",
        "accuracy, ESS/s and ESS per gradient on models with known answers",
    ),
}
