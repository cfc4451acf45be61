"""Cost of one DIMS integration step over one bare loss-gradient evaluation (kernel vs kernel).

Both sides are jitted loops calling the model through the same typed ``LPG`` function
value: the bare side evaluates the gradient ``n`` times; the DIMS side runs kick-dissipate
draws (:func:`geobayes.samplers._dims_kernels.dims_chain`) and is divided by the number of
accepted integration steps (rejected steps of the energy safeguard included in the time).
The two sides alternate within one invocation, best of ``--repeats``; machine load is
printed (the machine is shared).  Target (issue 13): <= 2.5x with the Hessian-vector
product included.

Run: ``python -m benchmarks.dims.cost``
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from numba import float64, int64, njit

from geobayes.models.loss_surfaces import ring
from geobayes.models.mlp import mlp_regression
from geobayes.samplers import _dims_kernels as K
from geobayes.samplers.dims import DIMS, minimize_loss
from geobayes.types import LPG


@njit(float64(LPG, float64[::1], float64[::1], int64[::1], int64), cache=True)
def bare_gradients(lpg, x, fdata, idata, n):
    """``n`` loss-gradient evaluations at slightly moving points (not hoisted)."""
    acc = 0.0
    y = x.copy()
    for k in range(n):
        y[0] = x[0] + 1e-9 * (k % 7)
        lp, g = lpg(y, fdata, idata)
        acc += lp + g[0]
    return acc


def _cases():
    rng = np.random.default_rng(0)
    x = np.linspace(-2, 2, 200)
    y = np.sin(2 * x) + 0.1 * rng.normal(size=x.size)
    net = mlp_regression(x, y, hidden=(32,))
    x0 = minimize_loss(net, net.initial_point(rng), gtol=1e-8, maxiter=3000)
    small = mlp_regression(x[::40], y[::40], hidden=(8,))
    s0 = minimize_loss(small, small.initial_point(rng), gtol=1e-10)
    return [
        ("ring (d=2)", ring(), np.array([1.0, 0.0]), dict(kinetic_energy=0.05)),
        (
            "MLP 1-8-1, n=5 (d=25)",
            small,
            s0,
            dict(kinetic_energy=0.05, friction=0.3, max_time=3000.0),
        ),
        (
            "MLP 1-32-1, n=200 (d=97)",
            net,
            x0,
            dict(kinetic_energy=0.1, friction=1.0, max_time=20.0),
        ),
    ]


def measure(model, x0, kw, repeats, draws):
    rows = {}
    for label, extra in (
        ("graph", {}),
        ("graph+exact_curvature", {"exact_curvature": True}),
        ("euclidean", {"geometry": "euclidean"}),
    ):
        method = DIMS(find_minimum=False, **kw, **extra).resolve(model, x0)
        p = method.params_array()
        out_x = np.zeros((draws, model.dim))
        out_s = np.zeros((draws, K.N_EXTRA))
        lpg, fd, idt = model.lpg, model.fdata, model.idata
        K.dims_chain(np.random.default_rng(0), x0, lpg, fd, idt, p, out_x[:1], out_s[:1])
        bare_gradients(lpg, x0, fd, idt, 10)
        best_step = best_grad = np.inf
        steps = ngrad = 0
        for _ in range(repeats):  # alternate the two sides
            t = time.perf_counter()
            K.dims_chain(np.random.default_rng(1), x0, lpg, fd, idt, p, out_x, out_s)
            el = time.perf_counter() - t
            steps = out_s[:, K.S_NSTEPS].sum()
            ngrad = out_s[:, K.S_NGRAD].sum()
            best_step = min(best_step, el / steps)
            n = int(max(1000, min(ngrad, 200_000)))
            t = time.perf_counter()
            bare_gradients(lpg, x0, fd, idt, n)
            best_grad = min(best_grad, (time.perf_counter() - t) / n)
        rows[label] = (best_step, best_grad, ngrad / steps, int(steps))
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--draws", type=int, default=20)
    args = ap.parse_args(argv)
    print(f"load average: {os.getloadavg()}")
    print(
        f"{'model':<26} {'variant':<22} {'step [us]':>10} {'grad [us]':>10} "
        f"{'ratio':>6} {'grads/step':>10} {'steps':>8}"
    )
    for name, model, x0, kw in _cases():
        print(f"# {name}", flush=True)
        for label, (ts, tg, gps, steps) in measure(model, x0, kw, args.repeats, args.draws).items():
            print(
                f"{name:<26} {label:<22} {ts * 1e6:10.3f} {tg * 1e6:10.3f} "
                f"{ts / tg:6.2f} {gps:10.2f} {steps:8d}"
            )
    print(f"load average: {os.getloadavg()}")


if __name__ == "__main__":
    main()
