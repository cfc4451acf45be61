"""How fast can a 3-level classic HGF loop be here?  A floor for the kernel's speed.

Usage (from the repository root)::

    .venv/bin/python -m benchmarks.hgf.floor

Times, on the benchmark series (USD-CHF mirrored to 100,000 observations), the bare
3-level continuous classic update (pyhgf's former defaults: input precision 1e4,
omega = -3, kappa = 1, mean-field) with everything but the recursion stripped: no
trajectories written, no surprise, no failure checks or caps, constants folded.  Two
arrangements of the same algebra are timed: the kernel's (predicted variances, one
division per posterior variance) and one rewritten so that the volatility update is a
single fused multiply-add of the squared mean step before its division (shorter chain
on paper).  Beside them, the real fast-path kernel (trajectories written) on the same
series.  The stripped loops bound what any rearrangement of this computation can reach
on the machine: the kernel cannot be faster than they are.
"""

from __future__ import annotations

import math
import time

import numpy as np
from numba import njit

from benchmarks.hgf.run import best_of, series


@njit(error_model="numpy", fastmath={"contract"})
def _bare(u, om):
    k1 = k2 = 1.0
    pu = 1e4
    vu = 1.0 / pu
    m1 = m2 = m3 = 0.0
    v1 = v2 = v3 = 1.0
    oc = math.exp(om)
    c1 = c2 = 0.5
    acc = 0.0
    for k in range(u.shape[0]):
        mh3 = m3
        s3 = v3 + oc
        ph3 = 1.0 / s3
        mh2 = m2
        o2 = math.exp(om + k2 * m3)
        s2 = v2 + o2
        ph2 = 1.0 / s2
        mh1 = m1
        o1 = math.exp(om + k1 * m2)
        s1 = v1 + o1
        ph1 = 1.0 / s1
        num = pu * (u[k] - mh1)
        inv = s1 / (1.0 + pu * s1)
        dd = num * inv
        m1 = mh1 + dd
        v1 = inv
        beta = inv + dd * dd
        g = o1 * ph1
        dl = ph1 * beta - 1.0
        X = c1 * g * (g + (2 * g - 1) * dl)
        inv = s2 / (1.0 + X * s2)
        dd = 0.5 * k1 * g * dl * inv
        m2 = mh2 + dd
        v2 = inv
        beta = v2 + dd * dd
        g = o2 * ph2
        dl = ph2 * beta - 1.0
        X = c2 * g * (g + (2 * g - 1) * dl)
        inv = s3 / (1.0 + X * s3)
        m3 = mh3 + 0.5 * k2 * g * dl * inv
        v3 = inv
        acc += vu * ph3
    return acc + m1 + m2 + m3 + v1 + v2 + v3


@njit(error_model="numpy", fastmath={"contract"})
def _bare_fused(u, om):
    k1 = k2 = 1.0
    pu = 1e4
    vu = 1.0 / pu
    m1 = m2 = m3 = 0.0
    v1 = v2 = v3 = 1.0
    oc = math.exp(om)
    c1 = c2 = 0.5
    acc = 0.0
    for k in range(u.shape[0]):
        mh3 = m3
        s3 = v3 + oc
        ph3 = 1.0 / s3
        mh2 = m2
        o2 = math.exp(om + k2 * m3)
        s2 = v2 + o2
        ph2 = 1.0 / s2
        mh1 = m1
        o1 = math.exp(om + k1 * m2)
        s1 = v1 + o1
        ph1 = 1.0 / s1
        num = pu * (u[k] - mh1)
        inv = s1 / (1.0 + pu * s1)
        dd = num * inv
        m1 = mh1 + dd
        v1 = inv
        # X = A + Q dd^2 with A, Q independent of the mean step
        g = o1 * ph1
        cg = c1 * g
        Q = cg * (2 * g - 1) * ph1
        A = cg * (1 - g) + Q * v1
        F = 0.5 * k1 * g * ph1
        E = F * v1 - 0.5 * k1 * g
        dd2 = dd * dd
        inv = s2 / ((1.0 + A * s2) + (Q * s2) * dd2)
        dd = (E + F * dd2) * inv
        m2 = mh2 + dd
        v2 = inv
        g = o2 * ph2
        cg = c2 * g
        Q = cg * (2 * g - 1) * ph2
        A = cg * (1 - g) + Q * v2
        F = 0.5 * k2 * g * ph2
        E = F * v2 - 0.5 * k2 * g
        dd2 = dd * dd
        inv = s3 / ((1.0 + A * s3) + (Q * s3) * dd2)
        m3 = mh3 + (E + F * dd2) * inv
        v3 = inv
        acc += vu * ph3
    return acc + m1 + m2 + m3 + v1 + v2 + v3


def main():
    from geobayes.filters import hgf
    from geobayes.filters.hgf import _kernels as K

    u = series(100_000)
    a, b = _bare(u, -3.0), _bare_fused(u, -3.0)
    assert np.isfinite(a) and abs(a - b) <= 1e-9 * abs(a), (a, b)  # same numbers
    net = hgf.continuous_hgf(3)
    inet, npar, epar = net.compile("classic")
    g = net.global_params()
    obs = np.ascontiguousarray(u[:, None])
    outs = [np.empty((u.size, npar.shape[0])) for _ in range(4)]
    args = (inet, npar, epar, g, obs, np.empty(0), 1, *outs, np.empty(u.size), np.zeros(4))
    K.filter_core(*args)
    for name, fn, fargs in (
        ("bare loop (kernel's algebra)", _bare, (u, -3.0)),
        ("bare loop (fused algebra)", _bare_fused, (u, -3.0)),
        ("fast-path kernel, trajectories written", K.filter_core, args),
    ):
        t = best_of(fn, 15, *fargs)
        print(f"{name:42s} {1e9 * t / u.size:6.1f} ns/obs", flush=True)
    print(f"({time.strftime('%Y-%m-%d %H:%M')})")


if __name__ == "__main__":
    main()
