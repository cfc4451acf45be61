"""Squared-exponential (RBF) kernels, Gram matrices and MMD between weighted point sets.

The kernel is the unnormalized ``k_sigma(x, y) = exp(-|x - y|^2 / (2 sigma^2))`` (value 1 on
the diagonal).  Every function is jitted with ``cache=True`` and releases the GIL; the
weights of :func:`mmd2` may be signed (quadrature weights), so nothing here assumes a
probability vector.

Examples
--------
>>> import numpy as np
>>> x = np.array([[0.0, 0.0], [1.0, 0.0]])
>>> float(rbf_gram(x, 1.0)[0, 1]) == float(np.exp(-0.5))
True
>>> round(float(mmd2(x, np.array([0.5, 0.5]), x, np.array([0.5, 0.5]), 1.0)), 12)
0.0
"""

from __future__ import annotations

import math

import numpy as np
from numba import float64

from geobayes._lazy import lazy_njit

__all__ = ["rbf_gram", "rbf_cross", "mmd2", "median_nn_distance", "sq_dist"]


@lazy_njit(float64(float64[::1], float64[::1]), cache=True, nogil=True)
def sq_dist(x, y):
    """Squared Euclidean distance of two vectors."""
    s = 0.0
    for k in range(x.shape[0]):
        t = x[k] - y[k]
        s += t * t
    return s


@lazy_njit(float64[:, ::1](float64[:, ::1], float64), cache=True, nogil=True)
def rbf_gram(x, sigma):
    """Gram matrix ``K_ij = exp(-|x_i - x_j|^2 / (2 sigma^2))`` of the rows of ``x``."""
    n = x.shape[0]
    d = x.shape[1]
    c = -0.5 / (sigma * sigma)
    out = np.empty((n, n))
    for i in range(n):
        out[i, i] = 1.0
        for j in range(i):
            s = 0.0
            for k in range(d):
                t = x[i, k] - x[j, k]
                s += t * t
            v = math.exp(c * s)
            out[i, j] = v
            out[j, i] = v
    return out


@lazy_njit(float64[:, ::1](float64[:, ::1], float64[:, ::1], float64), cache=True, nogil=True)
def rbf_cross(x, y, sigma):
    """Cross Gram matrix ``K_ij = k(x_i, y_j)``."""
    c = -0.5 / (sigma * sigma)
    out = np.empty((x.shape[0], y.shape[0]))
    for i in range(x.shape[0]):
        for j in range(y.shape[0]):
            s = 0.0
            for k in range(x.shape[1]):
                t = x[i, k] - y[j, k]
                s += t * t
            out[i, j] = math.exp(c * s)
    return out


@lazy_njit(float64(float64[:, ::1], float64[::1], float64), cache=True, nogil=True)
def _quad_form(x, w, sigma):
    """``sum_ij w_i w_j k(x_i, x_j)`` without storing the Gram matrix."""
    c = -0.5 / (sigma * sigma)
    n = x.shape[0]
    acc = 0.0
    for i in range(n):
        acc += w[i] * w[i]
        for j in range(i):
            acc += 2.0 * w[i] * w[j] * math.exp(c * sq_dist(x[i], x[j]))
    return acc


@lazy_njit(
    float64(float64[:, ::1], float64[::1], float64[:, ::1], float64[::1], float64),
    cache=True,
    nogil=True,
)
def mmd2(x, wx, y, wy, sigma):
    """Squared MMD between ``sum_i wx_i delta_{x_i}`` and ``sum_j wy_j delta_{y_j}``.

    Weights may be signed; no matrix is stored (``O(n m d)`` time, ``O(1)`` memory).
    """
    c = -0.5 / (sigma * sigma)
    cross = 0.0
    for i in range(x.shape[0]):
        for j in range(y.shape[0]):
            cross += wx[i] * wy[j] * math.exp(c * sq_dist(x[i], y[j]))
    return _quad_form(x, wx, sigma) + _quad_form(y, wy, sigma) - 2.0 * cross


@lazy_njit(float64(float64[:, ::1]), cache=True, nogil=True)
def median_nn_distance(x):
    """Median over the rows of ``x`` of the distance to the nearest other row.

    Returns 0 for fewer than two rows (the caller picks a fallback).
    """
    n = x.shape[0]
    if n < 2:
        return 0.0
    nn = np.empty(n)
    for i in range(n):
        best = np.inf
        for j in range(n):
            if j != i:
                s = sq_dist(x[i], x[j])
                if s < best:
                    best = s
        nn[i] = math.sqrt(best)
    return float(np.median(nn))
