"""Benchmark suites of geobayes.

Each suite is a module with ``run()`` returning JSON-serializable results and
``format_table(result)`` returning text, or a script-style module with
``main(argv)`` that writes its own report (the filter and HGF suites, which also run
peer libraries in their own virtual environments); ``geobayes bench SUITE`` runs them,
``python -m benchmarks.SUITE`` runs one directly.  These are the heavy, scripted
suites of a source checkout (paper reproductions, peers in their own environments); the
harness they use -- grid, metrics, targets, executors, reports, peer runners -- ships
with the package as :mod:`geobayes.bench`, so ``geobayes bench --models ... --methods
...`` works from a plain installation and needs none of this folder.
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
        "every geobayes method x every target with a reference, equal gradient budget (harness)",
    ),
    "peers": (
        "benchmarks.peers",
        "geobayes beside NumPyro/BlackJAX/emcee/nutpie via the harness; JAX cache off and warm",
    ),
    "filters": (
        "benchmarks.filters.run",
        "DAPPER reference settings (Lorenz-63/96): RMSE and time per cycle vs DAPPER",
    ),
    "filters-nongaussian": (
        "benchmarks.filters.nongaussian",
        "non-Gaussian filtering problems (spec 7.3): RMSE per method",
    ),
    "hgf": (
        "benchmarks.hgf.run",
        "HGF time per observation vs pyhgf, fitting throughput, full fits, stress plot",
    ),
}
