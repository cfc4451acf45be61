"""SHK cost per iteration against the bare pairwise kernel sum over the same particles.

The floor of an exact-KDE birth-death step is ``sum_j exp(-|x_i - x_j|^2 / 2h^2)`` for
every ``i`` (``N^2`` pairs); one SHK iteration adds ``N`` model evaluations (Langevin
move), the bandwidth rule, the centring and the events (all ``O(N d)``).  This script times
``shk_step`` (exact KDE, Silverman bandwidth, a = b = 1, standard Gaussian model) and the
bare sum (same bandwidth) on the same particles in the same process, alternating the two
sides, and prints per ``(N, d)``:

* wall-clock ratios (best and median of ``--repeat``);
* CPU-time ratios (``time.process_time``, all threads of the process): the work done,
  insensitive to the process being descheduled on a loaded machine;
* with ``--breakdown``: the CPU time of every part of the step on one thread, split into
  the serial parts (normal draws, bandwidth, scaling, events) and the parallel ones (model
  calls, pairwise sum), and the Amdahl prediction of the ratio on ``T`` threads,
  ``(serial + parallel / T) / (bare / T)``;
* the wall time of an empty parallel region (``--threads`` > 1): on an oversubscribed
  machine a parallel region waits for a descheduled worker thread, milliseconds instead
  of microseconds, and the step has two regions where the bare sum has one.

Target (issue 12): ratio <= 2 at N = 1000 for d = 2 and d = 10.

Run: ``.venv/bin/python benchmarks/shk/cost.py [--threads 1]``
(the lock keeps timing jobs of different sessions from overlapping; any file works).
"""

from __future__ import annotations

import argparse
import math
import os
import time

import numpy as np
from numba import float64, njit, prange, void

from geobayes.math import kde as K
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


@njit(void(float64[::1]), cache=True, parallel=True, nogil=True)
def empty_region(a):
    """A parallel region with (almost) no work: its wall time is the launch latency."""
    for i in prange(a.shape[0]):
        a[i] += 1.0


def _clock(fn, inner):
    w, c = time.perf_counter(), time.process_time()
    for _ in range(inner):
        fn()
    return (time.perf_counter() - w) / inner, (time.process_time() - c) / inner


def _setup(n, d):
    model = gaussian(dim=d)
    rng = np.random.default_rng(0)
    x = np.ascontiguousarray(rng.standard_normal((n, d)))
    params = np.zeros(S.N_PARAMS + d)  # a = b = 1, dt = 0.01, Silverman, kde rate, exact KDE
    params[[S.P_A, S.P_B, S.P_DT, S.P_HSCALE, S.P_SELF, S.P_PMAX]] = [1, 1, 0.01, 1, 1, 1]
    params[S.P_CUTOFF] = np.inf
    aux = np.zeros(S.aux_size(n, d))
    w = np.full(n, 1.0 / n)
    stats = np.zeros(S.N_FIXED_STATS + S.N_SHK_STATS)
    S.shk_step(rng, x, w, aux, model.lpg, model.fdata, model.idata, params, stats)  # warm
    return model, rng, x, params, aux, w, stats


def measure(n, d, repeat, inner):
    model, rng, x, params, aux, w, stats = _setup(n, d)
    out = np.empty(n)
    h = np.empty(d)
    K.silverman_bandwidth(x, 1.0, h)
    hb = float(np.exp(np.log(h).mean()))  # the step's bandwidth (Silverman, same scale)
    pairwise_kernel_sum(x, hb, out)

    def step():
        S.shk_step(rng, x, w, aux, model.lpg, model.fdata, model.idata, params, stats)

    def bare():
        pairwise_kernel_sum(x, hb, out)

    ts, tb = [], []
    for _ in range(repeat):  # alternate the two sides
        ts.append(_clock(step, inner))
        tb.append(_clock(bare, inner))
    ts, tb = np.array(ts), np.array(tb)  # columns: wall, cpu
    return ts, tb


def breakdown(n, d, reps):
    """CPU seconds of each part of one step on the current threads, and of the bare sum."""
    model, rng, x, params, aux, w, stats = _setup(n, d)
    lp = aux[1 : 1 + n]
    g = aux[1 + n :].reshape((n, d))
    h = np.empty(d)
    out = np.empty(n)
    beta = np.empty(n)
    done = np.empty(n, dtype=np.bool_)
    K.silverman_bandwidth(x, 1.0, h)
    ys, key, _ = K._scaled_sorted(x, h, False)
    z = np.zeros((n, d))
    hb = float(np.exp(np.log(h).mean()))
    K.kde_log_density(x, h, True, out, np.inf, 0)
    S.shk_rates(x, lp, h, 0, True, beta, out, np.inf, 0)
    xc, lc, gc = x.copy(), lp.copy(), g.copy()
    parts = {
        "serial: normal draws": lambda: rng.standard_normal((n, d)),
        "serial: bandwidth": lambda: K.silverman_bandwidth(x, 1.0, h),
        "serial: scaling": lambda: K._scaled_sorted(x, h, False),
        "serial: events": lambda: S.shk_events(rng, xc, lc, gc, beta, 1e-3, 1.0, done),
        "parallel: move + model": lambda: S.shk_langevin_move(
            xc, lc, gc, z, 1.0, 0.0, model.lpg, model.fdata, model.idata
        ),
        "parallel: pairwise sum": lambda: K._sorted_kernel_sums(
            ys, key, np.zeros(n), True, np.inf, out
        ),
        "whole step": lambda: S.shk_step(
            rng, x, w, aux, model.lpg, model.fdata, model.idata, params, stats
        ),
        "bare sum": lambda: pairwise_kernel_sum(x, hb, out),
    }
    res = {}
    for name, fn in parts.items():
        fn()
        res[name] = min(_clock(fn, reps)[1] for _ in range(5))
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--sizes", default="100,300,1000,3000,10000")
    ap.add_argument("--dims", default="2,10")
    ap.add_argument("--threads", type=int, default=0, help="Numba threads (0: default)")
    ap.add_argument("--breakdown", action="store_true", help="serial/parallel CPU split")
    args = ap.parse_args()
    import numba

    if args.threads:
        numba.set_num_threads(args.threads)
    nt = numba.get_num_threads()
    print(f"load: {os.getloadavg()}  cpus: {os.cpu_count()}  numba threads: {nt}")
    if nt > 1:
        a = np.zeros(1000)
        empty_region(a)
        lat = [_clock(lambda: empty_region(a), 20)[0] for _ in range(5)]
        print(f"empty parallel region: wall {1e6 * min(lat):.0f} us best, "
              f"{1e6 * np.median(lat):.0f} us median")  # fmt: skip
    if args.breakdown:
        for d in map(int, args.dims.split(",")):
            for n in map(int, args.sizes.split(",")):
                r = breakdown(n, d, max(1, int(2e6 // (n * n))))
                ser = sum(v for k, v in r.items() if k.startswith("serial"))
                par = sum(v for k, v in r.items() if k.startswith("parallel"))
                b = r["bare sum"]
                print(
                    f"N={n} d={d} CPU ms: " + ", ".join(f"{k} {1e3 * v:.3f}" for k, v in r.items())
                )
                for t in (1, 2, 4):
                    print(f"   Amdahl ratio on {t} threads: {(ser + par / t) / (b / t):.2f}")
        print(f"load: {os.getloadavg()}")
        return
    print(f"{'N':>6} {'d':>3} {'shk ms':>9} {'bare ms':>9} {'wall best':>9} {'wall med':>8} "
          f"{'cpu best':>8} {'cpu med':>7}")  # fmt: skip
    for d in map(int, args.dims.split(",")):
        for n in map(int, args.sizes.split(",")):
            inner = max(1, int(2e6 // (n * n)))
            ts, tb = measure(n, d, args.repeat, inner)
            bw, bc = ts.min(0) / tb.min(0)
            mw, mc = np.median(ts, 0) / np.median(tb, 0)
            print(f"{n:6d} {d:3d} {1e3 * ts[:, 0].min():9.3f} {1e3 * tb[:, 0].min():9.3f} "
                  f"{bw:9.2f} {mw:8.2f} {bc:8.2f} {mc:7.2f}")  # fmt: skip
    print(f"load: {os.getloadavg()}")


if __name__ == "__main__":
    main()
