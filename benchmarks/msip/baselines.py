"""Baselines for the MSIP benchmarks: a small jitted SVGD and the problems' reference draws.

SVGD (Liu & Wang 2016, the papers' baseline): ``x_i += eps_i * phi(x_i)`` with
``phi(x) = mean_j [k(x_j, x) grad log pi(x_j) + grad_{x_j} k(x_j, x)]``, RBF kernel with the
median heuristic ``h = med^2 / log N`` recomputed every iteration, and AdaGrad step sizes
(the authors' reference code: ``alpha = 0.9``, fudge ``1e-6``).
"""

from __future__ import annotations

import math

import numpy as np
from numba import float64, int64, njit

from geobayes.types import LPG

__all__ = ["svgd"]


@njit(
    float64[:, ::1](float64[:, ::1], LPG, float64[::1], int64[::1], int64, float64),
    cache=True,
    nogil=True,
)
def _svgd(x0, lpg, fdata, idata, n_iter, step):
    x = x0.copy()
    n, d = x.shape
    grads = np.empty((n, d))
    hist = np.zeros((n, d))
    sq = np.empty((n, n))
    for it in range(n_iter):
        for i in range(n):
            lp, g = lpg(x[i], fdata, idata)
            for k in range(d):
                grads[i, k] = g[k] if math.isfinite(g[k]) else 0.0
        for i in range(n):
            for j in range(n):
                s = 0.0
                for k in range(d):
                    t = x[i, k] - x[j, k]
                    s += t * t
                sq[i, j] = s
        med = np.median(sq)
        h = med / math.log(n + 1.0) if med > 0 else 1.0
        phi = np.zeros((n, d))
        for i in range(n):
            for j in range(n):
                kij = math.exp(-sq[i, j] / h)
                for k in range(d):
                    phi[i, k] += kij * grads[j, k] + 2.0 * kij * (x[i, k] - x[j, k]) / h
        for i in range(n):
            for k in range(d):
                p = phi[i, k] / n
                if it == 0:
                    hist[i, k] = p * p
                else:
                    hist[i, k] = 0.9 * hist[i, k] + 0.1 * p * p
                x[i, k] += step * p / (1e-6 + math.sqrt(hist[i, k]))
    return x


def svgd(model, x0, n_iter=500, step=0.05):
    """Run SVGD from ``x0`` (N, d) on ``model``; returns the final particles."""
    return _svgd(
        np.ascontiguousarray(x0, dtype=float),
        model.lpg,
        model.fdata,
        model.idata,
        int(n_iter),
        float(step),
    )
