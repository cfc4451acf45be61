"""Driver overhead: geobayes.sample against minimal hand-written jitted loops, same process.

Reports, per model,

* MALA: time per step through ``geobayes.sample`` (adaptation off, trace stored) over the
  time per step of :func:`benchmarks.baselines.make_mala_loop`;
* HMC: time per gradient evaluation through ``geobayes.sample`` (fixed step size and
  integration time, adaptation off) over the same for the minimal HMC loop with the same
  mean number of leapfrog steps;
* for expensive models, time per HMC gradient evaluation over one bare
  ``logdensity_and_grad`` call.

Each timing is the best of ``repeats`` runs after a warm-up call (compilation excluded).
Run: ``python -m benchmarks.overhead`` (or ``geobayes bench overhead``).
"""

from __future__ import annotations

import json
import time

import numpy as np

import geobayes
from benchmarks.baselines import make_bare_gradient_loop, make_hmc_loop, make_mala_loop

__all__ = ["run"]


def _paired(ours, base, repeats):
    """Best-of-``repeats`` times of two callables, run alternately (load affects both alike).

    Returns the end-to-end time of ``ours``, the time of ``base``, the smallest
    ``sampling_time`` attribute of the traces ``ours`` returned (the chunked jitted loop,
    storage of draws included; trace conversion excluded) and the last trace.
    """
    ours()
    base()
    t_ours, t_base, t_loop, res = np.inf, np.inf, np.inf, None
    for _ in range(repeats):
        t = time.perf_counter()
        res = ours()
        t_ours = min(t_ours, time.perf_counter() - t)
        t_loop = min(t_loop, res.attrs["sampling_time"])
        t = time.perf_counter()
        base()
        t_base = min(t_base, time.perf_counter() - t)
    return t_ours, t_base, t_loop, res


def _row(name, model, eps, n_leap, draws, repeats):
    x0 = np.ascontiguousarray(model.initial_point(np.random.default_rng(0)) * 0.1)
    f, i = model.fdata, model.idata
    mala_loop = make_mala_loop(model.lpg)
    hmc_loop = make_hmc_loop(model.lpg)
    mala = geobayes.MALA(step_size=eps, adapt_step_size=False, adapt_mass_matrix=False)
    # the jittered trajectory length averages n_leap steps: integration time = n_leap * eps
    hmc = geobayes.HMC(
        step_size=eps, integration_time=n_leap * eps, adapt_step_size=False, adapt_mass_matrix=False
    )
    n_hmc = draws // n_leap

    def sample(method, n):
        return geobayes.sample(
            model,
            method=method,
            draws=n,
            warmup=0,
            chains=1,
            seed=1,
            progress=False,
            initial_points=x0,
        )

    t_mala, t_mala_base, t_mala_loop, _ = _paired(
        lambda: sample(mala, draws),
        lambda: mala_loop(np.random.default_rng(1), x0.copy(), f, i, eps, draws),
        repeats,
    )
    t_hmc, t_hmc_base, t_hmc_loop, tr = _paired(
        lambda: sample(hmc, n_hmc),
        lambda: hmc_loop(np.random.default_rng(1), x0.copy(), f, i, eps, n_leap, n_hmc),
        repeats,
    )
    n_grad = int(tr.sample_stats["n_steps"].sum())
    base_grad = t_hmc_base / (n_hmc * n_leap)
    return {
        "model": name,
        "dim": model.dim,
        "draws": draws,
        "mala_us_per_step": t_mala / draws * 1e6,
        "mala_loop_us_per_step": t_mala_loop / draws * 1e6,
        "mala_baseline_us_per_step": t_mala_base / draws * 1e6,
        "mala_ratio": t_mala / t_mala_base,
        "mala_loop_ratio": t_mala_loop / t_mala_base,
        "hmc_us_per_grad": t_hmc / n_grad * 1e6,
        "hmc_loop_us_per_grad": t_hmc_loop / n_grad * 1e6,
        "hmc_baseline_us_per_grad": base_grad * 1e6,
        "hmc_ratio": (t_hmc / n_grad) / base_grad,
        "hmc_loop_ratio": (t_hmc_loop / n_grad) / base_grad,
    }


def _expensive(repeats):
    model = geobayes.models.logistic_regression(n=10_000, dim=20, seed=0)
    x0 = np.ascontiguousarray(model.beta_true)  # start in the posterior bulk
    grad_loop = make_bare_gradient_loop(model.lpg)
    hmc = geobayes.HMC(
        step_size=0.01, integration_time=0.1, adapt_step_size=False, adapt_mass_matrix=False
    )
    tr = geobayes.sample(
        model, method=hmc, draws=100, warmup=0, chains=1, seed=1, progress=False, initial_points=x0
    )
    # the bare calls visit the same points as the sampler does
    xs = np.ascontiguousarray(tr.posterior["beta"].values[0])
    n_grad_base = 1000
    t_hmc, t_bare, t_loop, tr = _paired(
        lambda: geobayes.sample(
            model,
            method=hmc,
            draws=100,
            warmup=0,
            chains=1,
            seed=1,
            progress=False,
            initial_points=x0,
        ),
        lambda: grad_loop(xs, model.fdata, model.idata, n_grad_base),
        repeats,
    )
    n_grad = int(tr.sample_stats["n_steps"].sum())
    return {
        "model": "logistic_regression n=1e4 d=20",
        "bare_grad_us": t_bare / n_grad_base * 1e6,
        "hmc_us_per_grad": t_hmc / n_grad * 1e6,
        "ratio": (t_hmc / n_grad) / (t_bare / n_grad_base),
        "loop_ratio": (t_loop / n_grad) / (t_bare / n_grad_base),
    }


def run(repeats: int = 7) -> dict:
    """Run the overhead suite; returns a dict of rows."""
    rows = [
        _row("gaussian d=100", geobayes.models.gaussian(dim=100), 0.2, 10, 200_000, repeats),
        _row("eight_schools", geobayes.models.get("eight_schools"), 0.3, 10, 1_000_000, repeats),
    ]
    return {"overhead": rows, "expensive": _expensive(repeats)}


def format_table(result: dict) -> str:
    """Plain-text table of :func:`run`'s result.

    ``loop`` = the sampling loop (``sampling_time``: jitted chunks writing the draws);
    ``e2e`` = the whole ``geobayes.sample`` call including conversion to a DataTree
    (constrained quantities, log-likelihood); ``base`` = the minimal loop.
    """
    lines = [
        f"{'model':<16} {'MALA us/step: loop':>18} {'e2e':>7} {'base':>7} "
        f"{'ratio loop':>10} {'e2e':>6} | {'HMC us/grad: loop':>17} {'e2e':>7} "
        f"{'base':>7} {'ratio loop':>10} {'e2e':>6}"
    ]
    for r in result["overhead"]:
        lines.append(
            f"{r['model']:<16} {r['mala_loop_us_per_step']:>18.3f} {r['mala_us_per_step']:>7.3f} "
            f"{r['mala_baseline_us_per_step']:>7.3f} {r['mala_loop_ratio']:>10.3f} "
            f"{r['mala_ratio']:>6.3f} | {r['hmc_loop_us_per_grad']:>17.3f} "
            f"{r['hmc_us_per_grad']:>7.3f} {r['hmc_baseline_us_per_grad']:>7.3f} "
            f"{r['hmc_loop_ratio']:>10.3f} {r['hmc_ratio']:>6.3f}"
        )
    e = result["expensive"]
    lines.append(
        f"{e['model']}: HMC {e['hmc_us_per_grad']:.2f} us/grad end to end, bare "
        f"gradient {e['bare_grad_us']:.2f} us; ratio loop {e['loop_ratio']:.3f}, "
        f"end to end {e['ratio']:.3f}"
    )
    return "\n".join(lines)


if __name__ == "__main__":
    res = run()
    print(format_table(res))
    print(json.dumps(res, indent=1))
