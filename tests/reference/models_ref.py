"""Slow, obvious NumPy/SciPy log densities of the built-in models (up to constants)."""

import numpy as np
from scipy import special, stats


def eight_schools_noncentered(theta, y, sigma):
    mu, log_tau, z = theta[0], theta[1], theta[2:]
    tau = np.exp(log_tau)
    return (
        stats.norm.logpdf(mu, 0, 5)
        + stats.halfcauchy.logpdf(tau, 0, 5)
        + log_tau
        + stats.norm.logpdf(z).sum()
        + stats.norm.logpdf(y, mu + tau * z, sigma).sum()
    )


def eight_schools_centered(theta, y, sigma):
    mu, log_tau, th = theta[0], theta[1], theta[2:]
    tau = np.exp(log_tau)
    return (
        stats.norm.logpdf(mu, 0, 5)
        + stats.halfcauchy.logpdf(tau, 0, 5)
        + log_tau
        + stats.norm.logpdf(th, mu, tau).sum()
        + stats.norm.logpdf(y, th, sigma).sum()
    )


def logistic(beta, X, y, s):
    eta = X @ beta
    return (
        np.sum(y * special.log_expit(eta) + (1 - y) * special.log_expit(-eta))
        + stats.norm.logpdf(beta, 0, s).sum()
    )


def funnel(theta, scale=3.0):
    v, x = theta[0], theta[1:]
    return stats.norm.logpdf(v, 0, scale) + stats.norm.logpdf(x, 0, np.exp(v / 2)).sum()


def mixture(theta, w, means, sds):
    comps = [
        np.log(wk) + stats.multivariate_normal.logpdf(theta, m, s**2)
        for wk, m, s in zip(w, means, sds, strict=True)
    ]
    return special.logsumexp(comps)
