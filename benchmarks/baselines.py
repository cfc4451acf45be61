"""Minimal hand-written jitted MALA and HMC loops: the baselines of the overhead benchmark.

They do exactly the arithmetic of one MALA step / one HMC transition with an identity
metric and a fixed number of leapfrog steps, call the model function directly (inlined by
Numba, no function pointer), keep the last state only and record nothing: the floor any
driver can reach.
"""

import math

import numpy as np
from numba import njit


def make_mala_loop(lpg):
    @njit
    def mala_loop(rng, x, fdata, idata, eps, n):
        lp, g = lpg(x, fdata, idata)
        d = x.shape[0]
        h = 0.5 * eps * eps
        acc = 0
        for _ in range(n):
            z = rng.standard_normal(d)
            u1 = rng.random()
            rng.random()  # same stream layout as geobayes (one spare uniform)
            y = x + h * g + eps * z
            lpy, gy = lpg(y, fdata, idata)
            r = x - y - h * gy
            log_ratio = lpy - lp - (r @ r) / (4.0 * h) + 0.5 * (z @ z)
            if math.log(u1) < log_ratio:
                x, lp, g = y, lpy, gy
                acc += 1
        return acc

    return mala_loop


def make_hmc_loop(lpg):
    @njit
    def hmc_loop(rng, x, fdata, idata, eps, n_leap, n):
        lp, g = lpg(x, fdata, idata)
        d = x.shape[0]
        acc = 0
        for _ in range(n):
            p = rng.standard_normal(d)
            u1 = rng.random()
            rng.random()
            h0 = -lp + 0.5 * (p @ p)
            xn = x.copy()
            pn = p + 0.5 * eps * g
            lpn, gn = lp, g
            for k in range(n_leap):
                xn += eps * pn
                lpn, gn = lpg(xn, fdata, idata)
                pn += (eps if k < n_leap - 1 else 0.5 * eps) * gn
            h1 = -lpn + 0.5 * (pn @ pn)
            if math.log(u1) < h0 - h1:
                x, lp, g = xn, lpn, gn
                acc += 1
        return acc

    return hmc_loop


def make_bare_gradient_loop(lpg):
    """Loop of bare ``lpg`` calls cycling through the rows of ``xs`` (realistic points: the
    cost of data-dependent branches, e.g. in log1pexp, depends on where it is evaluated)."""

    @njit
    def grad_loop(xs, fdata, idata, n):
        s = 0.0
        for k in range(n):
            lp, g = lpg(xs[k % xs.shape[0]], fdata, idata)
            s += lp
        return s

    return grad_loop


__all__ = ["make_mala_loop", "make_hmc_loop", "make_bare_gradient_loop", "np"]
