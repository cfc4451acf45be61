"""Uncertainty quantification with DIMS on small networks, against the usual baselines.

The paper's own experiment could not be read (only its abstract and the authors' README:
a Snelson example compared with Laplace, linearized Laplace and Riemannian Laplace).  This
follows spec section 3.8 at a size two shared cores handle:

* ``toy1d``: 1-D regression with a gap (Snelson-like; the Snelson file is not available
  here): 20 training points on ``[-2, -0.5] U [0.5, 2]``, ``y = sin(3x) + 0.3x + N(0, 0.1^2)``;
  validation 40 points of the same law; test 300 points on ``[-3, 3]`` (gap and
  extrapolation included);
* ``diabetes``: scikit-learn's diabetes data (442 x 10, standardized), 60 training points,
  100 validation, the rest test.

Every method uses the same ``tanh`` MLP.  The networks are overparameterized (more
weights than training points), so the training loss has a connected minimum set
(``L_min = 0``): the setting DIMS targets.  Methods:

* ``dims``: DIMS on the pure training loss ``sum r^2 / 2`` from an L-BFGS minimizer,
  4 chains x 25 kicks;
* ``ensemble``: deep ensemble, 10 L-BFGS runs from random initializations;
* ``laplace``: Laplace approximation at the same minimizer (generalized Gauss-Newton
  ``J^T J / sigma^2 + alpha I``), 100 sampled networks;
* ``linearized_laplace``: the same Gaussian pushed through the linearized network
  (closed-form Gaussian predictive);
* ``hmc``: our HMC on the Bayesian network (Gaussian likelihood ``sigma``, prior precision
  ``alpha`` from the Laplace tuning), 2 chains x 400 draws after 400 warmup.

The observation noise ``sigma`` of each predictive (a mixture of ``N(f_m(x), sigma^2)``)
and Laplace's ``alpha`` are chosen on the validation set (same grid for every method).
Metrics on the test set: mean log predictive density (``test_ll``), RMSE of the predictive
mean, regression calibration error (mean absolute gap between nominal and empirical
coverage of central intervals at 5 %, 15 %, ..., 95 %), and the mean training loss
``sum r^2 / 2`` of the sampled networks.

Run: ``python -m benchmarks.dims.uq`` (needs scikit-learn for ``diabetes``; the toy runs
without it).
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
from scipy.special import logsumexp
from scipy.stats import norm

import geobayes
from geobayes.models.mlp import mlp_regression
from geobayes.samplers.dims import DIMS, minimize_loss

SIGMAS = np.geomspace(0.02, 2.0, 41)
ALPHAS = np.geomspace(1e-3, 1e2, 11)
LEVELS = np.linspace(0.05, 0.95, 10)


def toy1d(seed=0):
    rng = np.random.default_rng(seed)

    def f(x):
        return np.sin(3 * x) + 0.3 * x

    def side(n):
        return rng.uniform(0.5, 2.0, n) * rng.choice([-1.0, 1.0], n)

    xtr, xva = side(20), side(40)
    xte = rng.uniform(-3, 3, 300)
    return {
        k: (x[:, None], (f(x) + 0.1 * rng.normal(size=x.size))[:, None])
        for k, x in (("train", xtr), ("val", xva), ("test", xte))
    }, (16,)


def diabetes(seed=0):
    from sklearn.datasets import load_diabetes

    x, y = load_diabetes(return_X_y=True)
    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(y))
    x = (x - x.mean(0)) / x.std(0)
    y = (y - y.mean()) / y.std()
    parts = {"train": idx[:60], "val": idx[60:160], "test": idx[160:]}
    return {k: (x[i], y[i][:, None]) for k, i in parts.items()}, (8,)


# -- predictive scores ---------------------------------------------------------------------
def mixture_ll(preds, y, sigma):
    """Mean log density of ``y`` under the mixture of ``N(preds[m], sigma^2)``."""
    lp = norm.logpdf(y[None, :, 0], preds[:, :, 0], sigma)
    return float(np.mean(logsumexp(lp, axis=0) - np.log(preds.shape[0])))


def best_sigma(preds_val, y_val):
    scores = [mixture_ll(preds_val, y_val, s) for s in SIGMAS]
    return float(SIGMAS[int(np.argmax(scores))])


def mixture_calibration(preds, y, sigma, rng):
    """Mean |coverage - level| of central intervals of the predictive mixture."""
    m = preds.shape[0]
    draws = preds[rng.integers(0, m, size=400), :, 0] + sigma * rng.normal(size=(400, y.shape[0]))
    err = []
    for p in LEVELS:
        lo, hi = np.quantile(draws, [(1 - p) / 2, (1 + p) / 2], axis=0)
        err.append(abs(np.mean((y[:, 0] >= lo) & (y[:, 0] <= hi)) - p))
    return float(np.mean(err))


def scores_from_draws(model, thetas, data, rng, label, seconds):
    pv = model.predict(thetas, data["val"][0])
    sigma = best_sigma(pv, data["val"][1])
    pt = model.predict(thetas, data["test"][0])
    yt = data["test"][1]
    ptr = model.predict(thetas, data["train"][0])
    train_loss = 0.5 * np.sum((ptr - data["train"][1][None]) ** 2, axis=(1, 2))
    return {
        "method": label,
        "test_ll": mixture_ll(pt, yt, sigma),
        "rmse": float(np.sqrt(np.mean((pt.mean(0) - yt) ** 2))),
        "calibration_error": mixture_calibration(pt, yt, sigma, rng),
        "train_loss_mean": float(train_loss.mean()),
        "train_loss_max": float(train_loss.max()),
        "sigma": sigma,
        "n_networks": int(thetas.shape[0]),
        "seconds": seconds,
    }


# -- Laplace -------------------------------------------------------------------------------
def jacobian(model, theta, x, eps=1e-6):
    f0 = model.predict(theta, x)[0, :, 0]
    jac = np.empty((x.shape[0], theta.size))
    for k in range(theta.size):
        t = theta.copy()
        t[k] += eps
        jac[:, k] = (model.predict(t, x)[0, :, 0] - f0) / eps
    return f0, jac


def laplace_methods(model, theta, data, rng, n_samples=100):
    t0 = time.perf_counter()
    _, jtr = jacobian(model, theta, data["train"][0])
    fv, jva = jacobian(model, theta, data["val"][0])
    ft, jte = jacobian(model, theta, data["test"][0])
    ggn = jtr.T @ jtr
    best = None
    for alpha in ALPHAS:  # linearized predictive, tuned on validation over (alpha, sigma)
        for sigma in SIGMAS:
            cov = np.linalg.inv(ggn / sigma**2 + alpha * np.eye(theta.size))
            var = np.einsum("ij,jk,ik->i", jva, cov, jva) + sigma**2
            ll = float(np.mean(norm.logpdf(data["val"][1][:, 0], fv, np.sqrt(var))))
            if best is None or ll > best[0]:
                best = (ll, alpha, sigma, cov)
    _, alpha, sigma, cov = best
    var = np.einsum("ij,jk,ik->i", jte, cov, jte) + sigma**2
    yt = data["test"][1][:, 0]
    draws = ft[None] + np.sqrt(var)[None] * rng.normal(size=(400, yt.size))
    cal = np.mean(
        [
            abs(np.mean((yt >= lo) & (yt <= hi)) - p)
            for p in LEVELS
            for lo, hi in [np.quantile(draws, [(1 - p) / 2, (1 + p) / 2], axis=0)]
        ]
    )
    chol = np.linalg.cholesky(cov)
    thetas = theta[None] + (chol @ rng.normal(size=(theta.size, n_samples))).T
    ptr = model.predict(thetas, data["train"][0])
    train_loss = 0.5 * np.sum((ptr - data["train"][1][None]) ** 2, axis=(1, 2))
    lin = {
        "method": "linearized_laplace",
        "test_ll": float(np.mean(norm.logpdf(yt, ft, np.sqrt(var)))),
        "rmse": float(np.sqrt(np.mean((ft - yt) ** 2))),
        "calibration_error": float(cal),
        "train_loss_mean": float("nan"),
        "train_loss_max": float("nan"),
        "sigma": sigma,
        "alpha": float(alpha),
        "n_networks": 0,
        "seconds": time.perf_counter() - t0,
    }
    # sampled (non-linearized) Laplace with the same Gaussian
    lap = scores_from_draws(model, thetas, data, rng, "laplace", time.perf_counter() - t0)
    lap["alpha"] = float(alpha)
    lap["train_loss_mean"] = float(train_loss.mean())
    return [lap, lin], alpha, sigma


def run(name, data, hidden, seed=0, quick=False):
    rng = np.random.default_rng(seed)
    xtr, ytr = data["train"]
    model = mlp_regression(xtr, ytr, hidden=hidden)
    t0 = time.perf_counter()
    theta0 = minimize_loss(model, model.initial_point(rng), gtol=1e-10, maxiter=20000)
    t_map = time.perf_counter() - t0
    rows = []
    # DIMS
    n_chains, n_draws = (2, 5) if quick else (4, 25)
    method = DIMS(friction=0.3, kinetic_energy=0.1, max_time=3000.0, find_minimum=False)
    t0 = time.perf_counter()
    with np.errstate(all="ignore"):
        trace = geobayes.sample(
            model,
            method=method,
            draws=n_draws,
            chains=n_chains,
            seed=seed,
            progress=False,
            initial_points=theta0,
        )
    t_dims = time.perf_counter() - t0 + t_map
    ok = geobayes.samplers.dims.converged(trace)
    post = trace["posterior"]
    flat = np.concatenate(
        [np.asarray(post[k].values).reshape(n_chains, n_draws, -1) for k in model.params], -1
    )[ok]
    row = scores_from_draws(model, flat, data, rng, "dims", t_dims)
    row["hit_T_max"] = int((~ok).sum())
    row["mean_integration_steps"] = float(trace.sample_stats["n_integration_steps"].mean())
    rows.append(row)
    # deep ensemble
    n_members = 3 if quick else 10
    t0 = time.perf_counter()
    members = np.array(
        [
            minimize_loss(
                model,
                model.initial_point(np.random.default_rng(seed + 100 + k)),
                gtol=1e-10,
                maxiter=20000,
            )
            for k in range(n_members)
        ]
    )
    rows.append(scores_from_draws(model, members, data, rng, "ensemble", time.perf_counter() - t0))
    # Laplace (sampled and linearized), tuned on validation
    lap_rows, alpha, sigma = laplace_methods(model, theta0, data, rng)
    for r in lap_rows:
        r["seconds"] += t_map
    rows.extend(lap_rows)
    # HMC on the Bayesian network with Laplace's (alpha, sigma)
    bayes = mlp_regression(xtr, ytr, hidden=hidden, noise_std=sigma, prior_precision=alpha)
    t0 = time.perf_counter()
    nh = 100 if quick else 400
    with np.errstate(all="ignore"):
        tr = geobayes.sample(
            bayes,
            method="hmc",
            draws=nh,
            warmup=nh,
            chains=2,
            seed=seed,
            progress=False,
            initial_points=theta0,
        )
    post = tr["posterior"]
    flat = np.concatenate(
        [np.asarray(post[k].values).reshape(2, nh, -1) for k in bayes.params], -1
    ).reshape(-1, bayes.dim)[::4]
    rows.append(scores_from_draws(model, flat, data, rng, "hmc", time.perf_counter() - t0))
    for r in rows:
        r["dataset"] = name
        r["n_train"] = int(xtr.shape[0])
        r["n_params"] = int(model.dim)
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny run (smoke test)")
    ap.add_argument("--out", default=None, help="write the rows as JSON")
    ap.add_argument("--datasets", default="toy1d,diabetes")
    args = ap.parse_args(argv)
    print(f"load average: {os.getloadavg()}")
    rows = []
    for name in args.datasets.split(","):
        data, hidden = {"toy1d": toy1d, "diabetes": diabetes}[name]()
        rows.extend(run(name, data, hidden, quick=args.quick))
    keys = [
        "dataset",
        "method",
        "test_ll",
        "rmse",
        "calibration_error",
        "train_loss_mean",
        "sigma",
        "n_networks",
        "seconds",
    ]
    print(" ".join(f"{k:>18}" for k in keys))
    for r in rows:
        print(
            " ".join(f"{r[k]:>18.4g}" if isinstance(r[k], float) else f"{r[k]!s:>18}" for k in keys)
        )
    print(f"load average: {os.getloadavg()}")
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(rows, fh, indent=1)


if __name__ == "__main__":
    main()
