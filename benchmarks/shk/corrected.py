"""The bias-corrected rate (``rate="kde_corrected"``) against the plain KDE rate.

Pampel et al. (arXiv:2209.00607) report that the plain kernel rate under-samples barrier
regions and the corrected one fixes it.  Here: BD-Langevin (a = b = 1, dt = 0.01) on the
1-D mixture ``0.5 N(-1.5, 0.5^2) + 0.5 N(1.5, 0.5^2)`` (low barrier, so its mass is
measurable), fixed bandwidth ``h`` (0.2 and 0.4), N = 2000 particles started from exact
draws, run to t = 10; the statistics are averaged over t in [5, 10] (500 ensembles).
Reported: the ensemble's mass in the barrier region ``|x| < 0.5`` and the within-mode
variance ``E[(|x| - 1.5)^2]``, each against the exact value; and the cost of one step of
each rate on the 2-D ``mixture_2d`` model (N = 1000, same process, alternated).

Run: ``.venv/bin/python benchmarks/shk/corrected.py``.
"""

from __future__ import annotations

import math
import os
import time

import numpy as np
from scipy.stats import norm

import geobayes
from geobayes.models.mixture import gaussian_mixture, mixture_2d
from geobayes.samplers import SHK
from geobayes.samplers import shk as S


def exact():
    m1 = 2 * 0.5 * (norm.cdf(0.5, 1.5, 0.5) - norm.cdf(-0.5, 1.5, 0.5))  # both modes
    z = np.random.default_rng(0).normal(1.5, 0.5, 2_000_000)  # |x| under one mode
    z = np.where(np.random.default_rng(1).random(z.size) < 0.5, z, -z)
    return m1, float(np.mean((np.abs(z) - 1.5) ** 2))


def run(rate, h, n=2000, seed=0):
    model = gaussian_mixture([0.5, 0.5], [[-1.5], [1.5]], [0.5, 0.5])
    method = SHK(n_particles=n, step_size=0.01, bandwidth=h, rate=rate)
    p = method.params_array(model)
    rng = np.random.default_rng(seed)
    x = np.where(rng.random(n) < 0.5, -1.5, 1.5) + 0.5 * rng.standard_normal(n)
    x = np.ascontiguousarray(x[:, None])
    w = np.full(n, 1.0 / n)
    aux = method.initial_aux(n, 1)
    row = np.zeros(S.N_FIXED_STATS + S.N_SHK_STATS)
    bar, var = [], []
    for it in range(1000):
        row[:] = 0
        S.shk_step(rng, x, w, aux, model.lpg, model.fdata, model.idata, p, row)
        if it >= 500:
            bar.append(np.mean(np.abs(x[:, 0]) < 0.5))
            var.append(np.mean((np.abs(x[:, 0]) - 1.5) ** 2))
    return np.mean(bar), np.mean(var), np.std(bar) / math.sqrt(len(bar) / 50)


def step_cost():
    model = mixture_2d()
    out = {}
    for rate in ("kde", "kde_corrected"):
        warm = SHK(n_particles=1000, n_steps=2, rate=rate)
        out[rate] = geobayes.sample(model, method=warm, chains=1, seed=0, progress=False)
    times = {r: [] for r in out}
    for _ in range(3):
        for rate in out:
            t = time.perf_counter()
            geobayes.sample(model, method=SHK(n_particles=1000, n_steps=20, rate=rate), chains=1,
                            seed=0, progress=False)  # fmt: skip
            times[rate].append((time.perf_counter() - t) / 20)
    return {r: min(v) for r, v in times.items()}


def main():
    print(f"load: {os.getloadavg()}")
    m_bar, m_var = exact()
    print(f"exact: barrier mass {m_bar:.4f}, within-mode variance {m_var:.4f}")
    for h in (0.2, 0.4):
        for rate in ("kde", "kde_corrected"):
            b, v, se = run(rate, h)
            print(
                f"h={h} {rate:>13}: barrier mass {b:.4f} ({b / m_bar:.2f} x exact, ~se {se:.4f}),"
                f" within-mode variance {v:.4f} ({v / m_var:.3f} x exact)"
            )
    c = step_cost()
    print("per-step wall time on mixture_2d, N = 1000 (incl. driver): "
          + ", ".join(f"{k} {1e3 * v:.1f} ms" for k, v in c.items()))  # fmt: skip
    print(f"load: {os.getloadavg()}")


if __name__ == "__main__":
    main()
