"""Time per gradient evaluation inside NUTS, inside static HMC and of the bare gradient.

All three run in the same process on the same model, kernel against kernel: the chunk
runner ``run_chunk`` with the NUTS step and with the HMC step (no adaptation, the same
step size and diagonal metric, taken from a short adapted NUTS run), and a jitted loop
that calls the model's ``LPG`` function through the same first-class function type.
Sides alternate, best of ``--repeats`` is reported, with the number of gradients.

Run::

    python -m benchmarks.nuts_overhead --models gaussian_2 gaussian_10 gaussian_100 \
        kilpisjarvi_mod-kilpisjarvi eight_schools --repeats 5
"""

from __future__ import annotations

import argparse
import math
import os
import time

import numpy as np
from numba import float64, int64, njit

import geobayes
from geobayes._chain_driver import _find_step_size, _initial_state
from geobayes.adaptation.mass_matrix import warmup_schedule
from geobayes.adaptation.step_size import da_init
from geobayes.samplers._chunk import run_chunk, welford_size
from geobayes.samplers.hmc import hmc_step
from geobayes.samplers.nuts import nuts_step
from geobayes.types import LPG

__all__ = ["measure"]


@njit(float64(LPG, float64[:, ::1], float64[::1], int64[::1], int64), cache=True)
def _bare(lpg, xs, fdata, idata, n):
    s = 0.0
    m = xs.shape[0]
    for k in range(n):
        lp, g = lpg(xs[k % m], fdata, idata)
        s += lp + g[0]
    return s


def _model(name):
    if name.startswith("gaussian_"):
        return geobayes.models.gaussian(dim=int(name.split("_")[1]))
    return geobayes.models.get(name)


def _run(step, model, x0, lp0, g0, eps, metric, params, n, seed):
    rng = np.random.default_rng(seed)
    d = model.dim
    x, g = x0.copy(), g0.copy()
    scal = np.array([lp0, eps])
    da = np.zeros(8)
    welford = np.zeros(1 + 2 * d)
    flags = np.zeros(n, dtype=np.int64)
    out_x = np.empty((n, d))
    out_s = np.zeros((n, 8))
    t0 = time.perf_counter()
    run_chunk(
        rng, step, model.lpg, model.fdata, model.idata, x, g, scal, da, metric.copy(),
        welford, params, flags, out_x, out_s,
    )  # fmt: skip
    dt = time.perf_counter() - t0
    return dt, int(out_s[:, 3].sum()), out_x


def measure(name, repeats=5, n=1000):
    """Per-gradient microseconds of NUTS, HMC and the bare gradient on one model."""
    model = _model(name)
    d = model.dim
    # adapt step size and diagonal metric with 500 NUTS warmup iterations (the driver's
    # chain state and Stan's warmup schedule), then sample 200 draws for the bare loop
    rng = np.random.default_rng(1)
    x, lp, g = _initial_state(model, rng, None)
    metric = np.ones(d)
    eps = _find_step_size(model, rng, x, lp, g, metric, 1.0)
    scal = np.array([lp, eps])
    da = da_init(eps, 0.8)
    welford = np.zeros(welford_size(d, False))
    flags = np.concatenate([warmup_schedule(500, True, True), np.zeros(200, dtype=np.int64)])
    out_x = np.empty((700, d))
    out_s = np.zeros((700, 8))
    p_nuts = np.array([10.0, 1000.0])
    run_chunk(rng, nuts_step, model.lpg, model.fdata, model.idata, x, g, scal, da, metric,
              welford, p_nuts, flags, out_x, out_s)  # fmt: skip
    eps = math.exp(da[1])
    draws = out_x[500:]
    x0 = draws[-1].copy()
    lp0, g0 = model.logdensity_and_grad(x0)
    g0 = np.ascontiguousarray(g0)
    p_hmc = np.array([2.0, 1024.0])
    xs = np.ascontiguousarray(draws)
    res = {"nuts": [], "hmc": [], "bare": []}
    ngrad = {}
    for r in range(repeats):
        for side in ("nuts", "hmc", "bare") if r % 2 == 0 else ("bare", "hmc", "nuts"):
            if side == "bare":
                m = ngrad.get("nuts", 20000)
                t0 = time.perf_counter()
                _bare(model.lpg, xs, model.fdata, model.idata, m)
                res[side].append((time.perf_counter() - t0) / m)
            else:
                step, params = (nuts_step, p_nuts) if side == "nuts" else (hmc_step, p_hmc)
                dt, ng, _ = _run(step, model, x0, lp0, g0, eps, metric, params, n, r)
                ngrad[side] = ng
                res[side].append(dt / ng)
    best = {k: min(v) * 1e6 for k, v in res.items()}
    return best, ngrad, eps


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+",
                    default=["gaussian_2", "gaussian_10", "gaussian_100",
                             "kilpisjarvi_mod-kilpisjarvi", "eight_schools"])  # fmt: skip
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--iterations", type=int, default=1000)
    a = ap.parse_args(argv)
    print(f"load: {os.getloadavg()[0]:.2f}")
    print("| model | eps | grads NUTS | grads HMC | bare us/grad | HMC us/grad | NUTS us/grad "
          "| HMC-bare | NUTS-bare | NUTS/HMC |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name in a.models:
        b, ng, eps = measure(name, a.repeats, a.iterations)
        print(f"| {name} | {eps:.3g} | {ng['nuts']} | {ng['hmc']} | {b['bare']:.3f} | "
              f"{b['hmc']:.3f} | {b['nuts']:.3f} | {b['hmc'] - b['bare']:.3f} | "
              f"{b['nuts'] - b['bare']:.3f} | {b["nuts"] / b["hmc"]:.2f} |",
              flush=True)  # fmt: skip
    print(f"load: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
