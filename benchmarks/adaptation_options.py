"""Warmup adaptation options of NUTS: ESS per gradient and realized acceptance, same seeds.

For each model and each option set, geobayes NUTS with 4 chains x (1000 warmup + 1000
draws), seeds ``0 .. seeds-1``: min bulk ESS (ArviZ) over the parameters per 1000
gradients of the draws, mean acceptance statistic over the draws (target 0.8), mean step
size and divergences.  ESS per gradient does not depend on the machine's load, so this
needs no timing lock.  Option sets:

* ``stan``: the default (dual averaging restarted at every metric window, draw variances);
* ``single``: ``step_size_adaptation="single"``;
* ``grad``: ``metric_adaptation="grad"``;
* ``single+grad``: both;
* ``single@0.85``: ``single`` with ``target_accept=0.85`` (a default candidate keeping a
  margin on funnels).

Models: ``gaussian_100``, the posteriordb names of :mod:`benchmarks.nuts_vs_numpyro`, and
``pymc:NAME`` for the PyMC models of :mod:`benchmarks.pymc.models` (needs PyMC).

Run::

    python -m benchmarks.adaptation_options --options stan single --seeds 5
    python -m benchmarks.adaptation_options --models pymc:hierarchical_regression --seeds 3
"""

from __future__ import annotations

import argparse

import numpy as np

__all__ = ["OPTIONS", "run"]

OPTIONS = {
    "stan": {},
    "single": {"step_size_adaptation": "single"},
    "grad": {"metric_adaptation": "grad"},
    "single+grad": {"step_size_adaptation": "single", "metric_adaptation": "grad"},
    "single@0.85": {"step_size_adaptation": "single", "target_accept": 0.85},
}


def _model(name):
    import geobayes
    from benchmarks.nuts_vs_numpyro import _vars

    if name.startswith("pymc:"):
        from benchmarks.pymc.models import MODELS

        pm_model = MODELS[name[5:]]()
        return geobayes.Model.from_pymc(pm_model), [rv.name for rv in pm_model.free_RVs]
    if name == "gaussian_100":
        return geobayes.models.gaussian(dim=100), _vars(name)
    return geobayes.models.get(name), _vars(name)


def run(name, options, seeds):
    """Rows (option, seed, ESS per 1000 gradients, acceptance, step size, divergences)."""
    import arviz as az

    import geobayes

    model, names = _model(name)
    rows = []
    for seed in range(seeds):
        for opt in options:
            tr = geobayes.sample(model, method="nuts", seed=seed, chains=4, draws=1000,
                                 warmup=1000, progress=False, log_likelihood=False,
                                 **OPTIONS[opt])  # fmt: skip
            st = tr.sample_stats
            n_grad = float(st["n_steps"].values.sum())
            ess = min(
                float(np.min(np.asarray(az.ess(tr.posterior[k].values, method="bulk"))))
                for k in names
            )
            rows.append(
                (opt, seed, 1000.0 * ess / n_grad, float(st["acceptance_rate"].mean()),
                 float(st["step_size"].mean()), int(st["diverging"].values.sum()))
            )  # fmt: skip
    return rows


def main(argv=None):
    from benchmarks.nuts_vs_numpyro import MODELS

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=list(MODELS))
    ap.add_argument("--options", nargs="+", default=["stan", "single"], choices=list(OPTIONS))
    ap.add_argument("--seeds", type=int, default=5)
    a = ap.parse_args(argv)
    print("| model | options | ESS per 1000 gradients, median (per seed) | acceptance | "
          "step size | divergences |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    for name in a.models:
        rows = run(name, a.options, a.seeds)
        for opt in a.options:
            r = [row for row in rows if row[0] == opt]
            per = " ".join(f"{row[2]:.2f}" for row in r)
            print(f"| {name} | {opt} | {np.median([row[2] for row in r]):.2f} ({per}) | "
                  f"{np.mean([row[3] for row in r]):.3f} | {np.mean([row[4] for row in r]):.3g}"
                  f" | {sum(row[5] for row in r)} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
