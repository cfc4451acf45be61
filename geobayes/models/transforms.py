"""Jitted transforms from the unconstrained space, with log-Jacobians.

Samplers work on ``theta`` in R^dim; constrained parameters are images of
``theta`` under these maps, and the log density on the unconstrained space gains
the log-absolute-Jacobian of the map (as Stan does).

Scalar transforms return ``(x, log_jacobian, dx/du, dlog_jacobian/du)``, so the
chain rule for a log density ``f(x)`` is ``df/du = f'(x) * dx/du + dlogJ/du``.
Vector transforms return ``(x, log_jacobian)`` from ``*_constrain`` and the
gradient with respect to ``u`` of ``f(x(u)) + log_jacobian(u)`` from ``*_grad``
given ``grad_x = f'(x)``.

Examples
--------
>>> from geobayes.models.transforms import lower_bound
>>> x, logj, dx, dlogj = lower_bound(0.0, 0.0)
>>> x, logj, dx, dlogj
(1.0, 0.0, 1.0, 1.0)
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from geobayes.math.special import log_sigmoid, sigmoid

__all__ = [
    "lower_bound",
    "interval",
    "ordered_constrain",
    "ordered_grad",
    "simplex_constrain",
    "simplex_grad",
    "lower_bound_inverse",
    "interval_inverse",
]


@njit(cache=True)
def lower_bound(u, lb):
    """``x = lb + exp(u)``; log-Jacobian ``u``."""
    e = math.exp(u)
    return lb + e, u, e, 1.0


@njit(cache=True)
def lower_bound_inverse(x, lb):
    """Inverse of :func:`lower_bound`."""
    return math.log(x - lb)


@njit(cache=True)
def interval(u, a, b):
    """``x = a + (b - a) sigmoid(u)``; log-Jacobian ``log(b-a) + log s + log(1-s)``."""
    s = sigmoid(u)
    logj = math.log(b - a) + log_sigmoid(u) + log_sigmoid(-u)
    return a + (b - a) * s, logj, (b - a) * s * (1.0 - s), 1.0 - 2.0 * s


@njit(cache=True)
def interval_inverse(x, a, b):
    """Inverse of :func:`interval`."""
    p = (x - a) / (b - a)
    return math.log(p) - math.log1p(-p)


@njit(cache=True)
def ordered_constrain(u):
    """Ordered vector ``x_0 = u_0``, ``x_k = x_{k-1} + exp(u_k)``.

    The log-Jacobian is ``sum_{k>=1} u_k``.
    """
    n = u.shape[0]
    x = np.empty(n)
    logj = 0.0
    if n == 0:
        return x, logj
    x[0] = u[0]
    for k in range(1, n):
        x[k] = x[k - 1] + math.exp(u[k])
        logj += u[k]
    return x, logj


@njit(cache=True)
def ordered_grad(u, grad_x):
    """Gradient in ``u`` of ``f(x(u)) + logJ(u)`` given ``grad_x = f'(x)``."""
    n = u.shape[0]
    gu = np.empty(n)
    tail = 0.0
    for k in range(n - 1, 0, -1):
        tail += grad_x[k]
        gu[k] = math.exp(u[k]) * tail + 1.0
    if n > 0:
        gu[0] = tail + grad_x[0]
    return gu


@njit(cache=True)
def simplex_constrain(u):
    """Stick-breaking map (Stan's) from ``K-1`` reals to a ``K``-simplex.

    ``z_k = sigmoid(u_k - log(K-1-k))``, ``x_k = r_k z_k``, ``r_{k+1} = r_k - x_k``,
    ``x_{K-1} = r_{K-1}``; log-Jacobian ``sum_k log z_k + log(1 - z_k) + log r_k``.
    ``u = 0`` maps to the uniform simplex.
    """
    km1 = u.shape[0]
    x = np.empty(km1 + 1)
    r = 1.0
    logj = 0.0
    for k in range(km1):
        a = u[k] - math.log(km1 - k)
        z = sigmoid(a)
        x[k] = r * z
        logj += log_sigmoid(a) + log_sigmoid(-a) + math.log(r)
        r -= x[k]
    x[km1] = r
    return x, logj


@njit(cache=True)
def simplex_grad(u, grad_x):
    """Gradient in ``u`` of ``f(x(u)) + logJ(u)`` for :func:`simplex_constrain` (reverse mode)."""
    km1 = u.shape[0]
    z = np.empty(km1)
    r = np.empty(km1 + 1)
    r[0] = 1.0
    for k in range(km1):
        z[k] = sigmoid(u[k] - math.log(km1 - k))
        r[k + 1] = r[k] * (1.0 - z[k])
    gu = np.empty(km1)
    rbar = grad_x[km1]  # adjoint of r_{K-1}
    for k in range(km1 - 1, -1, -1):
        zk = z[k]
        zbar = -rbar * r[k] + grad_x[k] * r[k] + 1.0 / zk - 1.0 / (1.0 - zk)
        rbar = rbar * (1.0 - zk) + grad_x[k] * zk + 1.0 / r[k]
        gu[k] = zbar * zk * (1.0 - zk)
    return gu
