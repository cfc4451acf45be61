"""Warmup adaptation options of NUTS: ESS per gradient and realized acceptance, same seeds.

For each model and each option set, geobayes NUTS with 4 chains x (1000 warmup + 1000
draws), seeds ``0 .. seeds-1``: min bulk ESS (ArviZ) over the parameters per 1000
gradients of the draws, mean acceptance statistic over the draws (target 0.8), mean step
size and divergences.  ESS per gradient does not depend on the machine's load, so this
needs no timing lock.  Option sets:

* ``stan``: Stan's scheme (dual averaging restarted at every metric window, draw
  variances), the default before 2026-12-02;
* ``single``: ``step_size_adaptation="single"``;
* ``grad``: ``metric_adaptation="grad"``;
* ``single+grad``: both;
* ``single@0.85``: ``single`` with ``target_accept=0.85`` (a default candidate keeping a
  margin on funnels); any option set takes ``@TARGET`` (e.g. ``single+grad@0.85``);
* ``auto``: ``step_size_adaptation="auto", metric_adaptation="auto"``, the default
  (``single+grad`` with the divergence guard falling back to ``stan`` per chain).

With ``--bias``, each run is also compared with the model's known answer: posteriordb's
reference draws (``geobayes.models.load_reference``; skipped when ``../shared`` is absent) or
the Gaussian's analytic moments.  Reported over all seeds and parameters: the largest
``|z|`` of the means (error over the combined MCSE, ours from ArviZ and the reference's) and
of the standard deviations, the number of ``|z| >= 4`` among the comparisons, and the
largest mean error in posterior sds.  Without a bias, ``|z|`` is ~N(0, 1) per comparison.

Models: ``gaussian_100``, the posteriordb names of :mod:`benchmarks.nuts_vs_numpyro`, and
``pymc:NAME`` for the PyMC models of :mod:`benchmarks.pymc.models` (needs PyMC).

Run::

    python -m benchmarks.adaptation_options --options stan single --seeds 5
    python -m benchmarks.adaptation_options --models pymc:hierarchical_regression --seeds 3
    python -m benchmarks.adaptation_options --options stan single+grad@0.85 --seeds 4 --bias
"""

from __future__ import annotations

import argparse

import numpy as np

__all__ = ["OPTIONS", "run"]

_STAN = {"step_size_adaptation": "stan", "metric_adaptation": "draws"}
OPTIONS = {
    "stan": _STAN,
    "single": {**_STAN, "step_size_adaptation": "single"},
    "grad": {**_STAN, "metric_adaptation": "grad"},
    "single+grad": {"step_size_adaptation": "single", "metric_adaptation": "grad"},
    "single@0.85": {**_STAN, "step_size_adaptation": "single", "target_accept": 0.85},
    "auto": {"step_size_adaptation": "auto", "metric_adaptation": "auto"},
}


def _options(opt):
    """Keyword arguments of an option set, ``NAME`` or ``NAME@TARGET``."""
    if opt in OPTIONS:
        return dict(OPTIONS[opt])
    base, _, target = opt.partition("@")
    if base not in OPTIONS or not target:
        raise ValueError(f"unknown option set {opt!r}; use one of {', '.join(OPTIONS)}[@TARGET]")
    return {**OPTIONS[base], "target_accept": float(target)}


def _bias(name, model, trace):
    """(|z| of each mean, |z| of each sd, |mean error| / sd) against the known answer."""
    import arviz as az

    if name == "gaussian_100":
        x = trace.posterior["x"].values
        mu, sd = model.true_mean, np.sqrt(np.diag(model.true_cov))
        z_mean = (x.mean(axis=(0, 1)) - mu) / np.asarray(az.mcse(x, method="mean"))
        z_sd = (x.reshape(-1, x.shape[-1]).std(axis=0, ddof=1) - sd) / np.asarray(
            az.mcse(x, method="sd")
        )
        return np.abs(z_mean), np.abs(z_sd), np.abs(x.mean(axis=(0, 1)) - mu) / sd
    import geobayes

    ref_name = "eight_schools-eight_schools_noncentered" if name == "eight_schools" else name
    t = geobayes.models.load_reference(ref_name).compare(trace)
    z_sd = (t["sd"] - t["ref_sd"]) / np.hypot(t["mcse_sd"], t["ref_mcse_sd"])
    return np.abs(t["z_mean"].values), np.abs(z_sd.values), np.abs(t["err_mean_sd"].values)


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


def run(name, options, seeds, bias=False):
    """Rows (option, seed, ESS per 1000 gradients, acceptance, step size, divergences,
    bias arrays or None)."""
    import arviz as az

    import geobayes

    model, names = _model(name)
    rows = []
    for seed in range(seeds):
        for opt in options:
            tr = geobayes.sample(model, method="nuts", seed=seed, chains=4, draws=1000,
                                 warmup=1000, progress=False, log_likelihood=False,
                                 **_options(opt))  # fmt: skip
            st = tr.sample_stats
            n_grad = float(st["n_steps"].values.sum())
            ess = min(
                float(np.min(np.asarray(az.ess(tr.posterior[k].values, method="bulk"))))
                for k in names
            )
            rows.append(
                (opt, seed, 1000.0 * ess / n_grad, float(st["acceptance_rate"].mean()),
                 float(st["step_size"].mean()), int(st["diverging"].values.sum()),
                 _bias(name, model, tr) if bias else None)
            )  # fmt: skip
    return rows


def main(argv=None):
    from benchmarks.nuts_vs_numpyro import MODELS

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=list(MODELS))
    ap.add_argument("--options", nargs="+", default=["stan", "single"])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--bias", action="store_true", help="compare with the known answer")
    a = ap.parse_args(argv)
    for opt in a.options:
        _options(opt)
    extra = " max z mean | max z sd | z >= 4 (of n) | max mean err / sd |" if a.bias else ""
    print("| model | options | ESS per 1000 gradients, median (per seed) | acceptance | "
          f"step size | divergences |{extra}")  # fmt: skip
    print("|---|---|---|---|---|---|" + "---|" * (4 if a.bias else 0))
    for name in a.models:
        rows = run(name, a.options, a.seeds, a.bias)
        for opt in a.options:
            r = [row for row in rows if row[0] == opt]
            per = " ".join(f"{row[2]:.2f}" for row in r)
            line = (f"| {name} | {opt} | {np.median([row[2] for row in r]):.2f} ({per}) | "
                    f"{np.mean([row[3] for row in r]):.3f} | {np.mean([row[4] for row in r]):.3g}"
                    f" | {sum(row[5] for row in r)} |")  # fmt: skip
            if a.bias:
                zm = np.concatenate([row[6][0] for row in r])
                zs = np.concatenate([row[6][1] for row in r])
                em = np.concatenate([row[6][2] for row in r])
                n4 = int(np.sum(zm >= 4) + np.sum(zs >= 4))
                line += (f" {zm.max():.2f} | {zs.max():.2f} | {n4} (of {zm.size + zs.size}) |"
                         f" {em.max():.3f} |")  # fmt: skip
            print(line, flush=True)


if __name__ == "__main__":
    main()
