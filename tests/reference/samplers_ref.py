"""Slow, obvious NumPy versions of the sampler steps (same noise in, same result out)."""

import numpy as np


def mala_step(x, lp, g, z, u, logdensity_and_grad, eps, inv_mass):
    mean_fwd = x + 0.5 * eps**2 * inv_mass * g
    y = mean_fwd + eps * np.sqrt(inv_mass) * z
    lpy, gy = logdensity_and_grad(y)
    mean_bwd = y + 0.5 * eps**2 * inv_mass * gy
    log_q_fwd = -np.sum((y - mean_fwd) ** 2 / inv_mass) / (2 * eps**2)
    log_q_bwd = -np.sum((x - mean_bwd) ** 2 / inv_mass) / (2 * eps**2)
    log_ratio = lpy - lp + log_q_bwd - log_q_fwd
    if np.log(u) < log_ratio:
        return y, lpy, gy, min(1.0, np.exp(log_ratio)), True
    return x, lp, g, min(1.0, np.exp(log_ratio)), False


def hmc_step(x, lp, g, z, u, u_jitter, logdensity_and_grad, eps, inv_mass, time, max_leap):
    n = int(max(1, min(round(time / eps * (0.5 + u_jitter)), max_leap)))
    p = z / np.sqrt(inv_mass)
    h0 = -lp + 0.5 * np.sum(inv_mass * p**2)
    xn, gn, lpn = x.copy(), g, lp
    for _ in range(n):
        p = p + 0.5 * eps * gn
        xn = xn + eps * inv_mass * p
        lpn, gn = logdensity_and_grad(xn)
        p = p + 0.5 * eps * gn
    h1 = -lpn + 0.5 * np.sum(inv_mass * p**2)
    acc = min(1.0, np.exp(h0 - h1))
    if np.log(u) < h0 - h1:
        return xn, lpn, gn, acc, True, n
    return x, lp, g, acc, False, n
