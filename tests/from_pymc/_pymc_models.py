"""PyMC models shared by the PyMC tests, the reference generator and the benchmarks."""

from __future__ import annotations

import numpy as np

EIGHT_Y = np.array([28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0])
EIGHT_SIGMA = np.array([15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0])


def eight_schools_noncentered():
    """posteriordb's ``eight_schools_noncentered`` written in PyMC."""
    import pymc as pm

    with pm.Model(coords={"school": np.arange(8)}) as model:
        sigma = pm.Data("sigma", EIGHT_SIGMA, dims="school")
        mu = pm.Normal("mu", 0.0, 5.0)
        tau = pm.HalfCauchy("tau", 5.0)
        theta_trans = pm.Normal("theta_trans", 0.0, 1.0, dims="school")
        theta = pm.Deterministic("theta", mu + tau * theta_trans, dims="school")
        pm.Normal("y", theta, sigma, observed=EIGHT_Y, dims="school")
    return model


def rich_model():
    """HalfNormal, Beta, Dirichlet, ordered; dims and coords; a deterministic; two observed."""
    import pymc as pm
    from pymc.distributions.transforms import ordered

    rng = np.random.default_rng(42)
    x = rng.normal(size=30)
    level = np.repeat([0, 1, 2], 10)  # the ordered "cuts" are three well separated intercepts
    y = np.array([-1.0, 0.5, 2.0])[level] + 1.5 * x + rng.normal(scale=0.7, size=30)
    k = np.array([7, 9, 12])
    coords = {"group": ["a", "b", "c"], "obs": np.arange(30), "cut": ["low", "mid", "high"]}
    with pm.Model(coords=coords) as model:
        xd = pm.Data("x", x, dims="obs")
        sigma = pm.HalfNormal("sigma", 1.0)
        pm.Beta("p", 2.0, 2.0, dims="group")  # prior only: posterior = prior
        w = pm.Dirichlet("w", np.ones(3), dims="group")
        cuts = pm.Normal("cuts", [-1.0, 0.0, 1.0], 3.0, dims="cut", transform=ordered)
        beta = pm.Normal("beta", 0.0, 2.0)
        pm.Deterministic("scaled_w", w * sigma, dims="group")
        pm.Normal("y", beta * xd + cuts[level], sigma, observed=y, dims="obs")
        pm.Multinomial("k", n=int(k.sum()), p=w, observed=k, dims="group")
    return model
