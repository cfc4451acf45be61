"""The three PyMC models of the PyMC benchmark (fixed synthetic data, seeded)."""

from __future__ import annotations

import numpy as np

EIGHT_Y = np.array([28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0])
EIGHT_SIGMA = np.array([15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0])


def eight_schools():
    """Eight schools, non-centered (posteriordb ``eight_schools_noncentered``)."""
    import pymc as pm

    with pm.Model(coords={"school": np.arange(8)}) as model:
        sigma = pm.Data("sigma", EIGHT_SIGMA, dims="school")
        mu = pm.Normal("mu", 0.0, 5.0)
        tau = pm.HalfCauchy("tau", 5.0)
        z = pm.Normal("theta_trans", 0.0, 1.0, dims="school")
        theta = pm.Deterministic("theta", mu + tau * z, dims="school")
        pm.Normal("y", theta, sigma, observed=EIGHT_Y, dims="school")
    return model


def hierarchical_regression(n=400, groups=12, seed=0):
    """Varying intercepts and slopes, non-centered; ``n`` observations in ``groups``."""
    import pymc as pm

    rng = np.random.default_rng(seed)
    g = rng.integers(groups, size=n)
    x = rng.normal(size=n)
    a = 1.0 + 0.5 * rng.normal(size=groups)
    b = -0.5 + 0.3 * rng.normal(size=groups)
    y = a[g] + b[g] * x + 0.8 * rng.normal(size=n)
    coords = {"group": np.arange(groups), "obs": np.arange(n)}
    with pm.Model(coords=coords) as model:
        gd = pm.Data("g", g, dims="obs")
        xd = pm.Data("x", x, dims="obs")
        mu_a = pm.Normal("mu_a", 0.0, 2.0)
        mu_b = pm.Normal("mu_b", 0.0, 2.0)
        sd_a = pm.HalfNormal("sd_a", 1.0)
        sd_b = pm.HalfNormal("sd_b", 1.0)
        za = pm.Normal("za", 0.0, 1.0, dims="group")
        zb = pm.Normal("zb", 0.0, 1.0, dims="group")
        alpha = pm.Deterministic("alpha", mu_a + sd_a * za, dims="group")
        beta = pm.Deterministic("beta", mu_b + sd_b * zb, dims="group")
        sigma = pm.HalfNormal("sigma", 1.0)
        pm.Normal("y", alpha[gd] + beta[gd] * xd, sigma, observed=y, dims="obs")
    return model


def logistic_regression(n=10_000, p=20, seed=0):
    """Bayesian logistic regression, ``n`` observations x ``p`` predictors."""
    import pymc as pm

    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    w = rng.normal(scale=0.5, size=p)
    y = (rng.uniform(size=n) < 1.0 / (1.0 + np.exp(-(X @ w + 0.3)))).astype(np.int64)
    with pm.Model(coords={"obs": np.arange(n), "predictor": np.arange(p)}) as model:
        Xd = pm.Data("X", X, dims=("obs", "predictor"))
        intercept = pm.Normal("intercept", 0.0, 2.5)
        beta = pm.Normal("beta", 0.0, 2.5, dims="predictor")
        pm.Bernoulli("y", logit_p=intercept + Xd @ beta, observed=y, dims="obs")
    return model


MODELS = {
    "eight_schools": eight_schools,
    "hierarchical_regression": hierarchical_regression,
    "logistic_regression": logistic_regression,
}
