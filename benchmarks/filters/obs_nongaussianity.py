"""How non-Gaussian is the analysis the observation operator asks for?  A per-component check.

The transport filter's accuracy targets (issue 14) depend on whether the posterior is
non-Gaussian: there it must beat the best Gaussian-based filter, on Gaussian-like settings it
must stay within 10 % of it.  This script measures the part of the non-Gaussianity that comes
from the observation operator, for the problems with a componentwise nonlinear operator
(``lorenz96_abs``: ``|x|``; ``lorenz63_cubic``: ``x^3/100``).

For every analysis time after burn-in and every observed component ``i`` it takes the
Gaussian fit of the forecast marginal, ``N(m_i, s_i^2)`` (the ``predicted`` group of a
Gaussian filter's trace run on the same truth and observations as the transport benchmark),
and the observation ``y_i = h(x_i) + e``, ``e ~ N(0, R)``, and computes by quadrature:

* the exact 1-D posterior ``p(x_i | y_i)`` and its total-variation distance to the Gaussian
  with the same mean and variance (``tv``; 0 for a Gaussian posterior);
* the error of the ensemble Kalman update's mean, with the gain from the prior's exact
  moments ``cov(x, h(x)) / (var h(x) + R)``, against the exact posterior mean, in exact
  posterior standard deviations (``kf_bias``): the error a Gaussian-based filter makes even
  with an infinite ensemble.

Medians, 90th and 99th percentiles over all component-times, pooled over seeds.  Only the
observation operator's contribution is measured: the forecast itself is taken as Gaussian.

Usage (from the repository root, untimed, about a minute)::

    .venv/bin/python benchmarks/filters/obs_nongaussianity.py [--seeds 5]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from geobayes.filters import LETKF, EnKF, filter, models  # noqa: E402

# (problem, operator h, Gaussian filter run for the forecasts, cycles, burn-in); the filters
# and their settings are the transport benchmark's (transport_bench.py) at N = 40 / 100.
PROBLEMS = {
    "lorenz96_abs": (
        np.abs,
        LETKF(ensemble_size=40, inflation=1.04, localization_radius=4.0),
        150,
        50,
    ),
    "lorenz63_cubic": (
        lambda x: x**3 / 100.0,
        EnKF(ensemble_size=100, inflation=1.01),
        300,
        64,
    ),
}


def component_stats(m, s, y, h, r, n_grid=801):
    """``(tv, kf_bias)`` for priors ``N(m, s^2)`` and observations ``y = h(x) + N(0, r)``.

    All arguments but ``h``, ``r`` are 1-D arrays of one length (one entry per component-time).
    """
    z = np.linspace(-8.0, 8.0, n_grid)
    x = m[:, None] + s[:, None] * z[None, :]  # grid in prior standard units
    log_prior = -0.5 * z**2
    hx = h(x)
    log_post = log_prior[None, :] - 0.5 * (y[:, None] - hx) ** 2 / r
    w = np.exp(log_post - log_post.max(1, keepdims=True))
    w /= w.sum(1, keepdims=True)
    mean = (w * x).sum(1)
    sd = np.sqrt(np.maximum((w * (x - mean[:, None]) ** 2).sum(1), 1e-300))
    # the moment-matched Gaussian on the same grid, as cell masses
    dz = x[:, 1] - x[:, 0]
    g = (
        np.exp(-0.5 * ((x - mean[:, None]) / sd[:, None]) ** 2)
        * (dz / (sd * np.sqrt(2 * np.pi)))[:, None]
    )
    tv = 0.5 * np.abs(w - g).sum(1)
    # the Kalman update with the prior's exact moments (an infinite-ensemble EnKF)
    p = np.exp(log_prior)
    p /= p.sum()
    mh = (p * hx).sum(1)
    cxh = (p * (x - m[:, None]) * (hx - mh[:, None])).sum(1)
    vh = (p * (hx - mh[:, None]) ** 2).sum(1)
    kf_mean = m + cxh / (vh + r) * (y - mh)
    return tv, np.abs(kf_mean - mean) / sd


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=5, help="seeds 0..S-1 (default 5)")
    args = ap.parse_args(argv)
    print(
        "| problem | filter for the forecasts | component-times "
        "| TV to Gaussian: median / p90 / p99 "
        "| Kalman mean error / posterior sd: median / p90 / p99 |"
    )
    print("|---|---|---|---|---|")
    for name, (h, method, K, burn) in PROBLEMS.items():
        ssm = models.get(name)
        r = float(np.asarray(ssm.obs_noise_cov).reshape(-1)[0])
        tvs, biases = [], []
        for s in range(args.seeds):
            x, y = ssm.simulate(K, seed=np.random.SeedSequence([s, 17]))
            t = filter(ssm, y, method, seed=s, truth=x, burn_in=burn)
            m = t.predicted["mean"].values[burn:]
            sd = t.predicted["sd"].values[burn:]
            tv, b = component_stats(m.ravel(), sd.ravel(), y[burn:].ravel(), h, r)
            tvs.append(tv)
            biases.append(b)
        tv = np.concatenate(tvs)
        b = np.concatenate(biases)
        q = (50, 90, 99)
        print(
            f"| {name} | {type(method).__name__} N={method.ensemble_size} | {tv.size} | "
            + " / ".join(f"{v:.3f}" for v in np.percentile(tv, q))
            + " | "
            + " / ".join(f"{v:.3f}" for v in np.percentile(b, q))
            + " |"
        )


if __name__ == "__main__":
    main()
