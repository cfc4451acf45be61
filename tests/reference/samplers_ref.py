"""Slow, obvious NumPy versions of the sampler steps (same noise in, same result out).

``inv_mass`` is a diagonal (1-D) or a full matrix (2-D, dense metric): ``C = M^-1``.
"""

import numpy as np


def _as_matrix(inv_mass):
    inv_mass = np.asarray(inv_mass, dtype=float)
    return np.diag(inv_mass) if inv_mass.ndim == 1 else inv_mass


def mala_step(x, lp, g, z, u, logdensity_and_grad, eps, inv_mass):
    c = _as_matrix(inv_mass)
    chol = np.linalg.cholesky(c)
    prec = np.linalg.inv(c)
    mean_fwd = x + 0.5 * eps**2 * c @ g
    y = mean_fwd + eps * chol @ z
    lpy, gy = logdensity_and_grad(y)
    mean_bwd = y + 0.5 * eps**2 * c @ gy
    log_q_fwd = -((y - mean_fwd) @ prec @ (y - mean_fwd)) / (2 * eps**2)
    log_q_bwd = -((x - mean_bwd) @ prec @ (x - mean_bwd)) / (2 * eps**2)
    log_ratio = lpy - lp + log_q_bwd - log_q_fwd
    if np.log(u) < log_ratio:
        return y, lpy, gy, min(1.0, np.exp(log_ratio)), True
    return x, lp, g, min(1.0, np.exp(log_ratio)), False


def hmc_step(x, lp, g, z, u, u_jitter, logdensity_and_grad, eps, inv_mass, time, max_leap):
    n = int(max(1, min(round(time / eps * (0.5 + u_jitter)), max_leap)))
    c = _as_matrix(inv_mass)
    p = np.linalg.solve(np.linalg.cholesky(c).T, z)  # p ~ N(0, M) with M = C^-1
    h0 = -lp + 0.5 * p @ c @ p
    xn, gn, lpn = x.copy(), g, lp
    for _ in range(n):
        p = p + 0.5 * eps * gn
        xn = xn + eps * c @ p
        lpn, gn = logdensity_and_grad(xn)
        p = p + 0.5 * eps * gn
    h1 = -lpn + 0.5 * p @ c @ p
    acc = min(1.0, np.exp(h0 - h1))
    if np.log(u) < h0 - h1:
        return xn, lpn, gn, acc, True, n
    return x, lp, g, acc, False, n
