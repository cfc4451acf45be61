"""Why nutpie gets more ESS per gradient than geobayes NUTS on some PyMC models.

Same PyMC model, 4 chains x (1000 tune + 1000 draws), seeds ``0 .. repeats-1``, and for
each run: min bulk ESS over the free variables, gradient evaluations, mean step size, and
ESS per 1000 gradients, for

* ``geobayes``: geobayes NUTS (Stan's windowed draw-variance diagonal metric);
* ``nutpie``: nutpie's default adaptation (``adaptation="diag"``: diagonal metric from
  the variances of draws *and* gradients, ``sqrt(var(x) / var(grad))``);
* ``nutpie draw_diag``: nutpie with the Stan-like draw-variance diagonal metric;
* ``geobayes, nutpie metric``: geobayes NUTS with nutpie's final inverse mass matrix of
  the same seed's run given as ``inv_mass`` and held fixed (``adapt_mass_matrix=False``;
  the step size is still adapted), which isolates the metric from the rest.

ESS per gradient is independent of the machine's load, which is why it is the measure
here (timings are in ``run.py``'s ESS part).

Run::

    python -m benchmarks.pymc.adaptation --models hierarchical_regression --repeats 3
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

__all__ = ["compare"]


def _min_ess(posterior, names):
    import arviz as az

    ds = posterior.to_dataset() if hasattr(posterior, "to_dataset") else posterior
    ess = az.ess(ds[names], method="bulk")
    return float(min(float(np.min(ess[v].values)) for v in names))


def _row(label, seed, ess, n_grad, step):
    return {
        "sampler": label,
        "seed": seed,
        "min_ess": ess,
        "n_grad": n_grad,
        "mean_step_size": step,
        "ess_per_1000_grad": 1000.0 * ess / n_grad,
    }


def compare(name, repeats=3, draws=1000):
    """Rows of (sampler, seed, min ESS, gradients, step size, ESS per 1000 gradients)."""
    import nutpie

    import geobayes
    from benchmarks.pymc.models import MODELS
    from geobayes.samplers import NUTS

    pm_model = MODELS[name]()
    free = [rv.name for rv in pm_model.free_RVs]
    model = geobayes.Model.from_pymc(pm_model)
    compiled = nutpie.compile_pymc_model(pm_model)
    names, slices, _ = compiled.shape_info
    rows = []
    for seed in range(repeats):
        kw = dict(draws=draws, tune=draws, chains=4, cores=2, seed=seed, progress_bar=False)
        nut = nutpie.sample(compiled, store_mass_matrix=True, **kw)
        ss = nut.sample_stats
        rows.append(
            _row("nutpie", seed, _min_ess(nut.posterior, free),
                 float(ss["n_steps"].values.sum()), float(ss["step_size"].values.mean()))
        )  # fmt: skip
        nd = nutpie.sample(compiled, adaptation="draw_diag", **kw)
        ss = nd.sample_stats
        rows.append(
            _row("nutpie draw_diag", seed, _min_ess(nd.posterior, free),
                 float(ss["n_steps"].values.sum()), float(ss["step_size"].values.mean()))
        )  # fmt: skip
        tr = geobayes.sample(model, method="nuts", draws=draws, warmup=draws, chains=4,
                             seed=seed, progress=False, log_likelihood=False)  # fmt: skip
        st = tr.sample_stats
        rows.append(
            _row("geobayes", seed, _min_ess(tr.posterior, free),
                 float(st["n_steps"].values.sum()), float(st["step_size"].values.mean()))
        )  # fmt: skip
        # nutpie's final inverse mass matrix (chain 0), reordered into geobayes' layout
        # the last finite one stored (nutpie stores it per draw; NaN where unchanged)
        mm = [nut.sample_stats["mass_matrix_inv"].values[0]]
        if "warmup_sample_stats" in nut.children:
            mm.insert(0, nut["warmup_sample_stats"]["mass_matrix_inv"].values[0])
        mm = np.concatenate(mm, axis=0)
        ok = np.all(np.isfinite(mm), axis=1)
        if not ok.any():
            raise RuntimeError("nutpie stored no finite mass matrix")
        flat = np.asarray(mm[np.flatnonzero(ok)[-1]], dtype=float)
        parts = {nn: flat[sl] for nn, sl in zip(names, slices, strict=True)}
        inv_mass = np.concatenate([np.ravel(parts[n]) for n in model.value_names])
        if inv_mass.shape != (model.dim,) or not np.all(inv_mass > 0):
            raise RuntimeError(
                f"cannot map nutpie's layout {names} {slices} onto {model.value_names}: {inv_mass}"
            )
        tr = geobayes.sample(model, method=NUTS(adapt_mass_matrix=False, inv_mass=inv_mass),
                             draws=draws, warmup=draws, chains=4, seed=seed, progress=False,
                             log_likelihood=False)  # fmt: skip
        st = tr.sample_stats
        rows.append(
            _row("geobayes, nutpie metric", seed, _min_ess(tr.posterior, free),
                 float(st["n_steps"].values.sum()), float(st["step_size"].values.mean()))
        )  # fmt: skip
        for r in rows[-4:]:
            print(name, json.dumps(r), file=sys.stderr, flush=True)
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["hierarchical_regression"])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--draws", type=int, default=1000)
    a = ap.parse_args(argv)
    print("| model | sampler | runs | min bulk ESS (median) | gradients (median) | "
          "mean step size | ESS per 1000 gradients (median) |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for name in a.models:
        rows = compare(name, a.repeats, a.draws)
        for label in dict.fromkeys(r["sampler"] for r in rows):
            rs = [r for r in rows if r["sampler"] == label]

            def med(k, rs=rs):
                return float(np.median([r[k] for r in rs]))

            print(f"| {name} | {label} | {len(rs)} | {med('min_ess'):.0f} | "
                  f"{med('n_grad'):.0f} | {med('mean_step_size'):.3f} | "
                  f"{med('ess_per_1000_grad'):.2f} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
