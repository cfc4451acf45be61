"""Lu, Lu & Nolen's experiments with and without birth-death: mixtures and a Bayesian GMM.

1. 1-D mixture ``0.25 N(-c, 0.5^2) + 0.75 N(c, 0.5^2)`` for two barrier heights
   (``c = 3``: barrier ~ 18 in ``V``; ``c = 4.5``: ~ 40), particles started 90 % / 10 % in
   the two modes.  Reported against time: the mode-weight error ``|f - 0.75|`` (``f`` =
   fraction with ``x > 0``) and ``KL(histogram | pi)`` on a 0.1-wide grid (a biased but
   monotone estimate; its floor at equilibrium is the histogram's own noise, shown by the
   exact-draws row).  Methods: BD-Langevin (a = b = 1), plain Langevin (b = 0), pure
   birth-death (a = 0).
2. Bayesian Gaussian-mixture posterior: data ``y ~ 0.5 N(mu1, 1) + 0.5 N(mu2, 1)``,
   ``mu = (-2, 2)``, 200 points, prior ``N(0, 5^2)`` on each mean; the posterior over
   ``(mu1, mu2)`` has two symmetric modes (label switching) of mass exactly 1/2 each.
   Particles start from the prior, relabelled so that 90 % are in the ``mu1 < mu2`` order;
   reported: the fraction in that mode against time (truth 0.5) with and without birth-death.

The paper's own figures could not be read (only its abstract was available), so the
numbers here stand alone; see the notes for the qualitative claims they check.

Run: ``.venv/bin/python benchmarks/shk/mixture.py [--n 1000] [--plot out.png]``.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from numba import njit

import geobayes
from geobayes.models.mixture import gaussian_mixture
from geobayes.samplers import shk as S

GRID = np.arange(-8.0, 8.0001, 0.1)


def _mixture_pdf(z, c):
    g = lambda m: np.exp(-0.5 * ((z - m) / 0.5) ** 2) / (0.5 * np.sqrt(2 * np.pi))  # noqa: E731
    return 0.25 * g(-c) + 0.75 * g(c)


def _kl_hist(x, c):
    counts, edges = np.histogram(x, bins=GRID)
    p = counts / counts.sum()
    mids = 0.5 * (edges[1:] + edges[:-1])
    q = _mixture_pdf(mids, c) * np.diff(edges)
    q /= q.sum()
    m = p > 0
    return float(np.sum(p[m] * np.log(p[m] / q[m])))


def run_path(model, x0, method, n_steps, seed, record):
    """Drive SHK's population step directly, calling ``record(x, it)`` every iteration."""
    x = np.ascontiguousarray(x0, dtype=float).copy()
    n, d = x.shape
    params = method.params_array(model)
    w = np.full(n, 1.0 / n)
    aux = method.initial_aux(n, d)
    row = np.zeros(S.N_FIXED_STATS + S.N_SHK_STATS)
    rng = np.random.default_rng(seed)
    for it in range(n_steps):
        row[:] = 0
        S.shk_step(rng, x, w, aux, model.lpg, model.fdata, model.idata, params, row)
        record(x, it)
    return x


def mixture_experiment(n, dt, t_end, report_times):
    rows = []
    curves = {}
    for c in (3.0, 4.5):
        model = gaussian_mixture([0.25, 0.75], [[-c], [c]], [0.5, 0.5])
        rng = np.random.default_rng(1)
        k = int(0.9 * n)
        x0 = np.concatenate([rng.normal(-c, 0.5, k), rng.normal(c, 0.5, n - k)])[:, None]
        exact = np.where(rng.random(n) < 0.75, rng.normal(c, 0.5, n), rng.normal(-c, 0.5, n))
        rows.append((c, "exact draws", {t: (abs(np.mean(exact > 0) - 0.75), _kl_hist(exact, c))
                                         for t in report_times}))  # fmt: skip
        for label, a, b in (
            ("BD-Langevin", 1.0, 1.0),
            ("Langevin", 1.0, 0.0),
            ("pure BD", 0.0, 1.0),
        ):
            steps = round(t_end / dt)
            err = np.empty(steps)
            kl = np.empty(steps)

            def rec(x, it, err=err, kl=kl, c=c):
                err[it] = abs(np.mean(x[:, 0] > 0) - 0.75)
                kl[it] = _kl_hist(x[:, 0], c)

            t0 = time.perf_counter()
            run_path(model, x0, S.SHK(n_particles=n, step_size=dt, a=a, b=b), steps, 2, rec)
            el = time.perf_counter() - t0
            t = dt * np.arange(1, steps + 1)
            curves[(c, label)] = (t, err, kl)
            at = {
                tt: (err[np.argmin(abs(t - tt))], kl[np.argmin(abs(t - tt))]) for tt in report_times
            }
            t07 = t[np.argmax(err <= 0.05)] if np.any(err <= 0.05) else np.inf
            rows.append((c, f"{label} ({el:.1f} s, t(|f-.75|<=.05)={t07:.2f})", at))
    return rows, curves


@njit(cache=True)
def _gmm_lpg(theta, fdata, idata):
    # fdata = data y; equal weights, unit variances, prior N(0, 25) on each mean
    lp = -0.5 * (theta[0] ** 2 + theta[1] ** 2) / 25.0
    g0 = -theta[0] / 25.0
    g1 = -theta[1] / 25.0
    for y in fdata:
        a = -0.5 * (y - theta[0]) ** 2
        b = -0.5 * (y - theta[1]) ** 2
        m = max(a, b)
        ea = np.exp(a - m)
        eb = np.exp(b - m)
        s = ea + eb
        lp += m + np.log(0.5 * s)
        g0 += ea / s * (y - theta[0])
        g1 += eb / s * (y - theta[1])
    out = np.empty(2)
    out[0] = g0
    out[1] = g1
    return lp, out


def gmm_experiment(n, dt, t_end, report_times):
    rng = np.random.default_rng(3)
    y = np.where(rng.random(200) < 0.5, rng.normal(-2, 1, 200), rng.normal(2, 1, 200))
    model = geobayes.Model(
        _gmm_lpg, {"mu": (2,)}, name="bayes_gmm", data=(y, np.zeros(0, np.int64))
    )
    x0 = rng.normal(0, 5, (n, 2))
    # prior draws relabelled 90 % / 10 % into the two label orders (both modes seeded)
    lo, hi = np.minimum(x0[:, 0], x0[:, 1]), np.maximum(x0[:, 0], x0[:, 1])
    k = int(0.9 * n)
    x0 = np.ascontiguousarray(np.column_stack([np.r_[lo[:k], hi[k:]], np.r_[hi[:k], lo[k:]]]))
    rows = []
    for label, b in (("BD-Langevin", 1.0), ("Langevin", 0.0)):
        steps = round(t_end / dt)
        frac = np.empty(steps)

        def rec(x, it, frac=frac):
            frac[it] = np.mean(x[:, 0] < x[:, 1])

        t0 = time.perf_counter()
        run_path(model, x0, S.SHK(n_particles=n, step_size=dt, b=b), steps, 4, rec)
        el = time.perf_counter() - t0
        t = dt * np.arange(1, steps + 1)
        rows.append((label, el, {tt: frac[np.argmin(abs(t - tt))] for tt in report_times}))
    return float(np.mean(x0[:, 0] < x0[:, 1])), rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--plot", default="")
    ap.add_argument("--only", choices=("mixture", "gmm"), default=None)
    args = ap.parse_args()
    print(f"load: {os.getloadavg()}")
    times = (0.5, 1.0, 2.0, 5.0, 10.0, 20.0)
    rows, curves = [], {}
    if args.only != "gmm":
        rows, curves = mixture_experiment(args.n, 1e-2, 20.0, times)
    print(f"\n1-D mixture, N={args.n}, dt=0.01: |f - 0.75| / KL(hist|pi) at t =", times)
    for c, label, at in rows:
        cells = "  ".join(f"{at[t][0]:.3f}/{at[t][1]:.3f}" for t in times)
        print(f"c={c:3.1f} {label:48s} {cells}")
    gtimes = (0.1, 0.5, 1.0, 2.0, 5.0)
    f0, grows = (
        gmm_experiment(min(args.n, 500), 2e-3, 5.0, gtimes) if args.only != "mixture" else (0, [])
    )
    print(f"\nBayesian GMM posterior (2 means, 200 points), N={min(args.n, 500)}, dt=0.002: "
          f"fraction in the mu1 < mu2 mode (truth 0.5; start {f0:.3f}) at t =", gtimes)  # fmt: skip
    for label, el, at in grows:
        print(f"{label:12s} ({el:5.1f} s) " + "  ".join(f"{at[t]:.3f}" for t in gtimes))
    print(f"load: {os.getloadavg()}")
    if args.plot and curves:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(1, 2, figsize=(10, 4))
        for (c, label), (t, err, kl) in curves.items():
            ls = "-" if c == 3.0 else "--"
            ax[0].plot(t, err, ls, label=f"{label}, c={c}")
            ax[1].plot(t, kl, ls, label=f"{label}, c={c}")
        ax[0].set(xlabel="t", ylabel="|f - 0.75|", yscale="log")
        ax[1].set(xlabel="t", ylabel="KL(hist | pi)", yscale="log")
        ax[0].legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(args.plot, dpi=100)


if __name__ == "__main__":
    main()
