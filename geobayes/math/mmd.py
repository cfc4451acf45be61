"""Closed-form kernel mean embeddings of Gaussian mixtures and exact MMD to them.

For ``pi = sum_k a_k N(mu_k, S_k)`` and the unnormalized RBF kernel ``k_sigma`` (spec §1.8):

* ``v0(y) = int k(y, x) pi(dx) = sum_k a_k det(I + S_k/sigma^2)^(-1/2)
  exp(-(y - mu_k)' (S_k + sigma^2 I)^(-1) (y - mu_k) / 2)``;
* ``v1(y) / v0(y) = sum_k r_k(y) [mu_k + S_k (S_k + sigma^2 I)^(-1) (y - mu_k)]`` with
  ``r_k`` the component shares of ``v0(y)``;
* ``c = int int k dpi dpi = sum_kl a_k a_l det(I + (S_k + S_l)/sigma^2)^(-1/2)
  exp(-(mu_k - mu_l)' (S_k + S_l + sigma^2 I)^(-1) (mu_k - mu_l) / 2)``.

A mixture travels to the kernels packed in one float64 vector (:func:`pack_mixture`):
``[K, d, a (K), mu (K d), S (K d d)]``.  :func:`prepare` turns it into per-component
constants for one bandwidth, :func:`embedding` evaluates ``log v0(y)`` and the mean-shift
vector ``m(y) = v1(y)/v0(y) - y`` in log space, and :func:`mmd2_to_mixture` is the exact
squared MMD of a (signed) weighted rule.

Examples
--------
>>> import numpy as np
>>> mix = pack_mixture([1.0], [[0.0]], [[[1.0]]])
>>> y = np.zeros((1, 1))
>>> float(mmd2_to_mixture(y, np.ones(1), mix, 1.0)) > 0
True
"""

from __future__ import annotations

import math

import numpy as np
from numba import float64, njit, types

from geobayes._lazy import lazy_njit
from geobayes.math.kernels import rbf_gram

__all__ = ["pack_mixture", "prepare", "embedding", "mixture_c", "mmd2_to_mixture"]


def pack_mixture(weights, means, covs) -> np.ndarray:
    """Pack a Gaussian mixture as ``[K, d, a, mu, S]`` (weights normalized)."""
    a = np.asarray(weights, dtype=float).ravel()
    mu = np.atleast_2d(np.asarray(means, dtype=float))
    k, d = mu.shape
    s = np.asarray(covs, dtype=float).reshape(k, d, d)
    if a.shape != (k,) or np.any(a <= 0):
        raise ValueError("mixture weights must be positive, one per component")
    return np.concatenate([[k, d], a / a.sum(), mu.ravel(), s.ravel()])


@njit(cache=True, nogil=True)
def _unpack(mix):
    k = int(mix[0])
    d = int(mix[1])
    a = mix[2 : 2 + k]
    mu = mix[2 + k : 2 + k + k * d].reshape((k, d))
    s = mix[2 + k + k * d : 2 + k + k * d + k * d * d].reshape((k, d, d))
    return k, d, a, mu, s


@lazy_njit(float64[::1](float64[::1], float64), cache=True, nogil=True)
def prepare(mix, sigma):
    """Per-component constants for bandwidth ``sigma``: ``[logc, mu, P, B]`` per component.

    ``logc = log a_k - log det(I + S_k/sigma^2)/2``, ``P = (S_k + sigma^2 I)^(-1)``,
    ``B = S_k P``.
    """
    k, d, a, mu, s = _unpack(mix)
    stride = 1 + d + 2 * d * d
    out = np.empty(k * stride)
    s2 = sigma * sigma
    for c in range(k):
        m = s[c].copy()
        for i in range(d):
            m[i, i] += s2
        p = np.linalg.inv(m)
        b = s[c] @ p
        sign, logdet = np.linalg.slogdet(m / s2)
        o = c * stride
        out[o] = math.log(a[c]) - 0.5 * logdet
        out[o + 1 : o + 1 + d] = mu[c]
        out[o + 1 + d : o + 1 + d + d * d] = p.ravel()
        out[o + 1 + d + d * d : o + stride] = b.ravel()
    return out


@lazy_njit(
    types.float64(float64[::1], float64[::1], float64[::1], float64[::1]),
    cache=True,
    nogil=True,
)
def embedding(prep, y, m_out, work):
    """``log v0(y)``; writes the mean-shift vector ``v1/v0 - y`` into ``m_out``.

    ``work`` is scratch of length >= number of components.
    """
    d = y.shape[0]
    stride = 1 + d + 2 * d * d
    k = prep.shape[0] // stride
    diff = np.empty(d)
    amax = -np.inf
    for c in range(k):
        o = c * stride
        q = 0.0
        for i in range(d):
            diff[i] = y[i] - prep[o + 1 + i]
        for i in range(d):
            t = 0.0
            for j in range(d):
                t += prep[o + 1 + d + i * d + j] * diff[j]
            q += diff[i] * t
        lv = prep[o] - 0.5 * q
        work[c] = lv
        if lv > amax:
            amax = lv
    tot = 0.0
    for c in range(k):
        work[c] = math.exp(work[c] - amax)
        tot += work[c]
    for i in range(d):
        m_out[i] = -y[i]
    for c in range(k):
        o = c * stride
        r = work[c] / tot
        for i in range(d):
            diff[i] = y[i] - prep[o + 1 + i]
        for i in range(d):
            t = prep[o + 1 + i]
            for j in range(d):
                t += prep[o + 1 + d + d * d + i * d + j] * diff[j]
            m_out[i] += r * t
    return amax + math.log(tot)


@lazy_njit(float64(float64[::1], float64), cache=True, nogil=True)
def mixture_c(mix, sigma):
    """``int int k_sigma(x, x') pi(dx) pi(dx')`` of the packed mixture."""
    k, d, a, mu, s = _unpack(mix)
    s2 = sigma * sigma
    acc = 0.0
    for p in range(k):
        for q in range(k):
            m = s[p] + s[q]
            for i in range(d):
                m[i, i] += s2
            sign, logdet = np.linalg.slogdet(m / s2)
            delta = mu[p] - mu[q]
            quad = delta @ np.linalg.solve(m, delta)
            acc += a[p] * a[q] * math.exp(-0.5 * logdet - 0.5 * quad)
    return acc


@lazy_njit(float64(float64[:, ::1], float64[::1], float64[::1], float64), cache=True, nogil=True)
def mmd2_to_mixture(y, w, mix, sigma):
    """Exact squared MMD of the rule ``sum_i w_i delta_{y_i}`` (weights may be signed)."""
    n, d = y.shape
    prep = prepare(mix, sigma)
    k = int(mix[0])
    work = np.empty(k)
    m = np.empty(d)
    kk = rbf_gram(y, sigma)
    quad = 0.0
    lin = 0.0
    for i in range(n):
        lin += w[i] * math.exp(embedding(prep, y[i], m, work))
        for j in range(n):
            quad += w[i] * w[j] * kk[i, j]
    return quad - 2.0 * lin + mixture_c(mix, sigma)
