"""SHK cost per iteration against the bare pairwise kernel sum over the same particles.

The floor of an exact-KDE birth-death step is ``sum_j exp(-|x_i - x_j|^2 / 2h^2)`` for
every ``i`` (``N^2`` pairs); one SHK iteration adds ``N`` model evaluations (Langevin
move), the bandwidth rule, the centring and the events (all ``O(N d)``).  This script times
``shk_step`` (exact KDE, Silverman bandwidth, a = b = 1) and the bare sum on the same
particles in the same process, alternating the two sides, best of ``--repeat``; it prints
the ratio per ``(N, d)``.  Target (issue 12): ratio <= 2 at N = 1000 for d = 2 and d = 10.

Run: ``.venv/bin/python benchmarks/shk/cost.py [--repeat 7]``.
"""

from __future__ import annotations

import argparse
import math
import os
import time

import numpy as np
from numba import float64, njit, prange, void

from geobayes.models.gaussian import gaussian
from geobayes.samplers import shk as S


@njit(void(float64[:, ::1], float64, float64[::1]), cache=True, parallel=True, nogil=True)
def pairwise_kernel_sum(x, h, out):
    """Bare ``sum_j exp(-|x_i - x_j|^2 / (2 h^2))`` for every ``i``: the cost floor."""
    n, d = x.shape
    c = -0.5 / (h * h)
    for i in prange(n):
        s = 0.0
        for j in range(n):
            r2 = 0.0
            for k in range(d):
                t = x[i, k] - x[j, k]
                r2 += t * t
            s += math.exp(c * r2)
        out[i] = s


def _time(fn, reps):
    best = np.inf
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def measure(n, d, repeat, inner):
    model = gaussian(dim=d)
    rng = np.random.default_rng(0)
    x = np.ascontiguousarray(rng.standard_normal((n, d)))
    params = np.zeros(S.N_PARAMS + d)  # a = b = 1, dt = 0.01, Silverman, kde rate, exact KDE
    params[[S.P_A, S.P_B, S.P_DT, S.P_HSCALE, S.P_SELF, S.P_PMAX]] = [1, 1, 0.01, 1, 1, 1]
    params[S.P_CUTOFF] = np.inf
    aux = np.zeros(S.aux_size(n, d))
    w = np.full(n, 1.0 / n)
    stats = np.zeros(S.N_FIXED_STATS + S.N_SHK_STATS)
    out = np.empty(n)
    S.shk_step(rng, x, w, aux, model.lpg, model.fdata, model.idata, params, stats)  # warm
    pairwise_kernel_sum(x, 0.3, out)

    def step():
        for _ in range(inner):
            S.shk_step(rng, x, w, aux, model.lpg, model.fdata, model.idata, params, stats)

    def bare():
        for _ in range(inner):
            pairwise_kernel_sum(x, 0.3, out)

    ts, tb = [], []
    for _ in range(repeat):  # alternate the two sides
        ts.append(_time(step, 1) / inner)
        tb.append(_time(bare, 1) / inner)
    return min(ts), min(tb), np.median(ts), np.median(tb)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--sizes", default="100,300,1000,3000,10000")
    ap.add_argument("--dims", default="2,10")
    ap.add_argument("--threads", type=int, default=0, help="Numba threads (0: default)")
    args = ap.parse_args()
    if args.threads:
        import numba

        numba.set_num_threads(args.threads)
    import numba

    nt = numba.get_num_threads()
    print(f"load: {os.getloadavg()}  cpus: {os.cpu_count()}  numba threads: {nt}")
    print(f"{'N':>6} {'d':>3} {'shk ms':>9} {'bare ms':>9} {'ratio(best)':>11} {'ratio(med)':>10}")
    for d in map(int, args.dims.split(",")):
        for n in map(int, args.sizes.split(",")):
            inner = max(1, int(2e6 // (n * n)))
            bs, bb, ms, mb = measure(n, d, args.repeat, inner)
            print(f"{n:6d} {d:3d} {1e3 * bs:9.3f} {1e3 * bb:9.3f} {bs / bb:11.2f} {ms / mb:10.2f}")
    print(f"load: {os.getloadavg()}")


if __name__ == "__main__":
    main()
