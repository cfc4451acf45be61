r"""Metric building blocks shared by the gradient-based chain methods (HMC, MALA, NUTS).

Every method works with the *whitened* momentum ``v = S^T p`` where the inverse mass
matrix is :math:`M^{-1} = S S^T`.  The kinetic energy is then ``|v|^2 / 2``, a fresh
momentum is ``v = z`` with ``z ~ N(0, I)``, and a leapfrog step is

.. math::

    v \mathrel{+}= \tfrac{\epsilon}{2} S^T \nabla\log\pi(x), \qquad
    x \mathrel{+}= \epsilon S v, \qquad
    v \mathrel{+}= \tfrac{\epsilon}{2} S^T \nabla\log\pi(x).

The metric travels as one float64 vector whose length tells its kind:

* length ``d`` (diagonal): ``metric = sqrt(diag(M^{-1}))`` and ``S = diag(metric)``;
* length ``d + d*d`` (dense, Stan's ``dense_e``): ``metric[:d] = sqrt(diag(M^{-1}))``
  and ``metric[d:]`` is the lower Cholesky factor ``S = L`` of ``M^{-1} = L L^T``,
  row-major.

Examples
--------
>>> import numpy as np
>>> from geobayes.samplers._integrators import dense_metric, metric_is_dense
>>> m = dense_metric(np.array([[2.0, 0.5], [0.5, 1.0]]))
>>> bool(metric_is_dense(m, 2)), m.shape
(True, (6,))
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from geobayes.math.linalg import cholesky_into

__all__ = [
    "metric_is_dense",
    "kick",
    "drift",
    "kick_drift",
    "metric_t_dot",
    "cholesky_into",
    "dense_metric",
    "diag_metric",
    "DIVERGENT",
    "NONFINITE",
    "BAD_GRADIENT",
    "eval_status",
]

# Codes a step writes in its statistics column 4 (``diverging``); any non-zero code is a
# rejected transition and reaches the trace as ``diverging = True``.
#: Energy error above the method's threshold, or a log density of -inf (outside the support).
DIVERGENT = 1.0
#: The model returned a log density of NaN or +inf (counted apart and warned about).
NONFINITE = 2.0
#: The model returned a gradient of the wrong length: fatal, the runner stops the chain
#: and returns the offending point in ``x`` (the driver raises a ValueError naming it).
BAD_GRADIENT = 3.0


@njit(cache=True, inline="always")
def eval_status(x, lp, g):
    """Status of one model evaluation at ``x``: 0 (usable), ``NONFINITE`` or ``BAD_GRADIENT``.

    Two cheap tests, an integer compare and a float compare; a log density of ``-inf`` is
    a legitimate "outside the support" and left to the caller (status 0).
    """
    if g.shape[0] != x.shape[0]:
        return BAD_GRADIENT
    if math.isnan(lp) or lp == math.inf:
        return NONFINITE
    return 0.0


@njit(cache=True, inline="always")
def metric_is_dense(metric, d):
    """True when ``metric`` is the dense layout (length ``d + d*d``)."""
    return metric.shape[0] != d


@njit(cache=True, nogil=True, inline="always")
def kick(v, metric, g, h):
    """``v += h S^T g`` (momentum update, whitened coordinates)."""
    d = v.shape[0]
    if metric.shape[0] == d:
        for i in range(d):
            v[i] += h * metric[i] * g[i]
    else:
        for j in range(d):
            s = 0.0
            for i in range(j, d):
                s += metric[d + i * d + j] * g[i]
            v[j] += h * s


@njit(cache=True, nogil=True, inline="always")
def drift(x, metric, v, h):
    """``x += h S v`` (position update)."""
    d = x.shape[0]
    if metric.shape[0] == d:
        for i in range(d):
            x[i] += h * metric[i] * v[i]
    else:
        for i in range(d):
            s = 0.0
            row = d + i * d
            for j in range(i + 1):
                s += metric[row + j] * v[j]
            x[i] += h * s


@njit(cache=True, nogil=True, inline="always")
def kick_drift(v, x, metric, g, hk, hd):
    """``v += hk S^T g`` then ``x += hd S v``: a kick and the drift after it.

    One pass over the arrays with a diagonal metric (the element-wise updates are those of
    :func:`kick` then :func:`drift`, so the result is bit-identical); the dense metric
    calls the two in turn.
    """
    d = v.shape[0]
    if metric.shape[0] == d:
        for i in range(d):
            v[i] += hk * metric[i] * g[i]
            x[i] += hd * metric[i] * v[i]
    else:
        kick(v, metric, g, hk)
        drift(x, metric, v, hd)


@njit(cache=True, nogil=True)
def metric_t_dot(metric, g, out):
    """``out = S^T g``."""
    d = g.shape[0]
    if metric.shape[0] == d:
        for i in range(d):
            out[i] = metric[i] * g[i]
    else:
        for j in range(d):
            s = 0.0
            for i in range(j, d):
                s += metric[d + i * d + j] * g[i]
            out[j] = s


def diag_metric(inv_mass: np.ndarray) -> np.ndarray:
    """Diagonal metric vector from a positive inverse-mass diagonal."""
    return np.ascontiguousarray(np.sqrt(np.asarray(inv_mass, dtype=np.float64)))


def dense_metric(inv_mass: np.ndarray) -> np.ndarray:
    """Dense metric vector ``[sqrt(diag), L row-major]`` from a full inverse mass matrix.

    Raises
    ------
    ValueError
        If ``inv_mass`` is not a symmetric positive definite matrix.
    """
    a = np.ascontiguousarray(inv_mass, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ValueError(f"a dense inv_mass must be a square matrix, got shape {a.shape}")
    if not np.all(np.isfinite(a)) or not np.allclose(a, a.T, rtol=1e-10, atol=1e-12):
        raise ValueError("a dense inv_mass must be a finite symmetric matrix")
    d = a.shape[0]
    out = np.empty(d + d * d)
    if not cholesky_into(a, out, d):
        raise ValueError(
            "inv_mass is not positive definite (its Cholesky factorization failed); "
            "give a symmetric positive definite inverse mass matrix"
        )
    out[:d] = np.sqrt(np.diag(a))
    return out
