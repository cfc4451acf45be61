"""Gaussian mixtures with isotropic components.

Data layout: ``idata = [dim, K]``; ``fdata = [log weights (K), means (K*dim), sds (K)]``.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from geobayes.models.base import Model

__all__ = ["gaussian_mixture", "mixture_2d", "mixture_10d"]

_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


@njit(cache=True)
def mixture_lpg(theta, fdata, idata):
    """Log density and gradient of an isotropic Gaussian mixture (normalized)."""
    d, k = idata[0], idata[1]
    logw = fdata[:k]
    means = fdata[k : k + k * d].reshape((k, d))
    sds = fdata[k + k * d : k + k * d + k]
    comp = np.empty(k)
    for j in range(k):
        r = theta - means[j]
        comp[j] = logw[j] - 0.5 * (r @ r) / sds[j] ** 2 - d * (math.log(sds[j]) + _HALF_LOG_2PI)
    m = comp.max()
    s = 0.0
    for j in range(k):
        comp[j] = math.exp(comp[j] - m)
        s += comp[j]
    g = np.zeros(d)
    for j in range(k):
        g -= (comp[j] / s) * (theta - means[j]) / sds[j] ** 2
    return m + math.log(s), g


def gaussian_mixture(weights, means, sds, name="gaussian_mixture", description="") -> Model:
    """Mixture ``sum_k w_k N(means[k], sds[k]^2 I)``; carries ``true_mean`` and ``true_cov``."""
    w = np.asarray(weights, dtype=float)
    mu = np.atleast_2d(np.asarray(means, dtype=float))
    sd = np.asarray(sds, dtype=float)
    k, d = mu.shape
    if w.shape != (k,) or sd.shape != (k,):
        raise ValueError("weights and sds need one entry per component (rows of means)")
    if np.any(w <= 0) or np.any(sd <= 0):
        raise ValueError("mixture weights and sds must be positive")
    w = w / w.sum()
    fdata = np.concatenate([np.log(w), mu.ravel(), sd])
    m = Model(
        mixture_lpg,
        {"x": (d,)},
        name=name,
        data=(fdata, np.array([d, k])),
        description=description or f"Gaussian mixture, {k} components, dim {d}",
    )
    m.true_mean = w @ mu
    second = sum(w[j] * (np.outer(mu[j], mu[j]) + sd[j] ** 2 * np.eye(d)) for j in range(k))
    m.true_cov = second - np.outer(m.true_mean, m.true_mean)
    m.weights = w
    m.gaussian_mixture = (w.copy(), mu.copy(), sd[:, None, None] ** 2 * np.eye(d))  # (MSIP)
    return m


def mixture_2d() -> Model:
    """Two modes in 2-D with weights 0.7/0.3, about 9 standard deviations apart."""
    return gaussian_mixture(
        [0.7, 0.3],
        [[-2.0, -1.0], [2.0, 1.5]],
        [0.5, 0.5],
        name="mixture_2d",
        description="2-D Gaussian mixture, weights 0.7/0.3, separated modes",
    )


def mixture_10d() -> Model:
    """Two separated modes in 10-D, weights 0.7/0.3, means at -1.5 and +1.5 in every coordinate."""
    d = 10
    return gaussian_mixture(
        [0.7, 0.3],
        [np.full(d, -1.5), np.full(d, 1.5)],
        [1.0, 1.0],
        name="mixture_10d",
        description="10-D Gaussian mixture, weights 0.7/0.3, separated modes",
    )
