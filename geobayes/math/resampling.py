"""Resampling of weighted particles, as pure jitted functions of the weights.

Every scheme maps normalised weights ``w`` (length ``N``) and uniforms to
``M`` ancestor indices, sorted ascending, so that index ``i`` appears about
``M w_i`` times:

* systematic (Carpenter et al. 1999; Kitagawa 1996): one uniform
  ``u ~ U[0, 1/M)``, points ``u + k/M``; every count differs from ``M w_i`` by
  less than 1;
* stratified: one uniform per stratum ``[k/M, (k+1)/M)``;
* multinomial: ``M`` sorted independent uniforms (the reference scheme, highest
  variance).

The ``*_from_uniforms`` functions are deterministic given their uniforms
(what the tests check); the generator versions draw them from a
``numpy.random.Generator`` (also inside njit code).  Cumulative sums are taken
in float64 and forced to exactly 1 from the last positive weight on, and the
points are clamped below 1, so round-off never selects an out-of-range or
zero-weight particle.  The helpers :func:`normalize_log_weights` and
:func:`effective_sample_size` work in log space, never exponentiating
un-normalised log weights.

Examples
--------
>>> import numpy as np
>>> systematic_from_uniform(np.array([0.2, 0.8]), 0.1, 4)
array([0, 1, 1, 1])
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from geobayes.math.logsumexp import logsumexp, normalize_log_weights

__all__ = [
    "systematic_from_uniform",
    "stratified_from_uniforms",
    "multinomial_from_uniforms",
    "systematic",
    "stratified",
    "multinomial",
    "counts",
    "normalize_log_weights",
    "effective_sample_size",
    "logsumexp",
]


#: Largest float64 below 1: points are clamped to it, so ``(u + k) / M`` rounding
#: up to 1.0 can never select past the last particle with positive weight.
_BELOW_ONE = 1.0 - 2.0**-53


@njit(cache=True)
def _cumulative(weights):
    """Normalised cumulative weights, exactly 1 from the last positive weight on."""
    n = weights.shape[0]
    total = 0.0
    for i in range(n):
        total += weights[i]
    c = np.empty(n)
    acc = 0.0
    last = n - 1
    for i in range(n):
        acc += weights[i] / total
        c[i] = acc
        if weights[i] > 0.0:
            last = i
    for i in range(last, n):
        c[i] = 1.0
    return c


@njit(cache=True)
def _inverse_cdf(weights, points):
    """Indices ``i_k`` = smallest ``i`` with ``c_i > points[k]`` (points sorted, in [0, 1))."""
    c = _cumulative(weights)
    m = points.shape[0]
    out = np.empty(m, dtype=np.int64)
    i = 0
    for k in range(m):
        p = min(points[k], _BELOW_ONE)
        while c[i] <= p:
            i += 1
        out[k] = i
    return out


@njit(cache=True)
def systematic_from_uniform(weights, u, m):
    """Systematic resampling with the uniform ``u`` in ``[0, 1)``.

    Parameters
    ----------
    weights : ndarray of shape (N,)
        Non-negative weights (normalised here).
    u : float
        A uniform in ``[0, 1)``; the points are ``(u + k) / m``.
    m : int
        Number of indices to return.

    Returns
    -------
    ndarray of shape (m,), int64
    """
    points = (u + np.arange(m)) / m
    return _inverse_cdf(weights, points)


@njit(cache=True)
def stratified_from_uniforms(weights, uniforms):
    """Stratified resampling with ``uniforms`` (shape ``(M,)``, in ``[0, 1)``)."""
    m = uniforms.shape[0]
    points = (uniforms + np.arange(m)) / m
    return _inverse_cdf(weights, points)


@njit(cache=True)
def multinomial_from_uniforms(weights, uniforms):
    """Multinomial resampling with ``uniforms`` (shape ``(M,)``, in ``[0, 1)``)."""
    return _inverse_cdf(weights, np.sort(uniforms))


@njit(cache=True)
def systematic(rng, weights, m):
    """Systematic resampling drawing its uniform from ``rng``."""
    return systematic_from_uniform(weights, rng.random(), m)


@njit(cache=True)
def stratified(rng, weights, m):
    """Stratified resampling drawing its uniforms from ``rng``."""
    return stratified_from_uniforms(weights, rng.random(m))


@njit(cache=True)
def multinomial(rng, weights, m):
    """Multinomial resampling drawing its uniforms from ``rng``."""
    return multinomial_from_uniforms(weights, rng.random(m))


@njit(cache=True)
def counts(indices, n):
    """Number of times each of ``0..n-1`` appears in ``indices``."""
    out = np.zeros(n, dtype=np.int64)
    for i in indices:
        out[i] += 1
    return out


@njit(cache=True)
def effective_sample_size(log_weights):
    """Kish's ``1 / sum w_i^2`` from (possibly un-normalised) log weights."""
    lw, _ = normalize_log_weights(log_weights)
    acc = 0.0
    for v in lw:
        acc += math.exp(2.0 * v)
    return 1.0 / acc
