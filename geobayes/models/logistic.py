"""Bayesian logistic regression with a Gaussian prior on the coefficients.

``beta ~ N(0, prior_scale^2 I)``, ``y_i ~ Bernoulli(sigmoid(x_i . beta))``.
Data layout: ``idata = [n, d]``, ``fdata = [X (n*d, row-major), y (n), prior_scale]``.
The log density costs two matrix-vector products (BLAS) and one pass over the data.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from geobayes.math.special import log1pexp, sigmoid
from geobayes.models.base import Model

__all__ = ["logistic_regression"]


@njit(cache=True)
def logistic_lpg(theta, fdata, idata):
    """Log posterior of logistic regression and its gradient."""
    n, d = idata[0], idata[1]
    x = fdata[: n * d].reshape((n, d))
    y = fdata[n * d : n * d + n]
    s = fdata[n * d + n]
    eta = x @ theta
    r = np.empty(n)
    lp = 0.0
    for i in range(n):
        lp += y[i] * eta[i] - log1pexp(eta[i])
        r[i] = y[i] - sigmoid(eta[i])
    g = x.T @ r - theta / (s * s)
    return lp - 0.5 * (theta @ theta) / (s * s), g


@njit(cache=True)
def _logistic_pointwise(theta, fdata, idata):
    n, d = idata[0], idata[1]
    x = fdata[: n * d].reshape((n, d))
    y = fdata[n * d : n * d + n]
    eta = x @ theta
    out = np.empty(n)
    for i in range(n):
        out[i] = y[i] * eta[i] - log1pexp(eta[i])
    return out


def logistic_regression(
    X=None, y=None, *, n: int = 1000, dim: int = 5, prior_scale: float = 2.5, seed: int = 0
) -> Model:
    """Bayesian logistic regression on the user's ``X``, ``y`` or on synthetic data.

    Without ``X``/``y``, draws ``X ~ N(0, 1)`` of shape ``(n, dim)``, ``beta_true ~ N(0, 1)``
    and ``y ~ Bernoulli(sigmoid(X beta_true))`` from ``seed`` (kept as ``model.beta_true``).

    Examples
    --------
    >>> from geobayes.models import logistic_regression
    >>> logistic_regression(n=100, dim=3).dim
    3
    """
    if not prior_scale > 0:
        raise ValueError(f"prior_scale must be positive, got {prior_scale}")
    beta_true = None
    if X is None and y is None:
        if n < 1 or dim < 1:
            raise ValueError(f"n and dim must be >= 1, got n={n}, dim={dim}")
        rng = np.random.default_rng(seed)
        X = rng.standard_normal((n, dim))
        beta_true = rng.standard_normal(dim)
        y = (rng.random(n) < 1.0 / (1.0 + np.exp(-X @ beta_true))).astype(float)
    elif X is None or y is None:
        raise ValueError("give both X and y, or neither for synthetic data")
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    if X.ndim != 2 or y.shape != (X.shape[0],):
        raise ValueError(f"X must be (n, d) and y (n,), got X {X.shape} and y {y.shape}")
    if not np.all((y == 0) | (y == 1)):
        raise ValueError("y must hold only 0 and 1")
    if not np.all(np.isfinite(X)):
        raise ValueError("X must be finite")
    n, d = X.shape
    m = Model(
        logistic_lpg,
        {"beta": (d,)},
        name="logistic_regression",
        data=(np.concatenate([X.ravel(), y, [prior_scale]]), np.array([n, d])),
        observed_data={"y": y},
        pointwise_loglik=_logistic_pointwise,
        loglik_name="y",
        dims={"y": ["obs"]},
        description=f"Bayesian logistic regression, n={n}, d={d}",
    )
    m.beta_true = beta_true
    return m
