"""Slow, obvious NumPy/SciPy twins of the posteriordb Stan programs (up to constants).

Each function maps an unconstrained vector (Stan's transforms, README of
../shared/reference/posteriordb) and the Stan data dict to ``(prior, loglik)``: the log prior
plus the log-Jacobian, and the vector of pointwise log-likelihood terms, so that the log
density is ``prior + loglik.sum()``.  Written straight from ``model.stan``, sharing no code
with geobayes.
"""

import numpy as np
from scipy import linalg, special, stats


def _exp_jac(u):
    return np.exp(u), u


def _logit_jac(u, lo=0.0, hi=1.0):
    s = special.expit(u)
    return lo + (hi - lo) * s, np.log(hi - lo) + np.log(s) + np.log1p(-s)


def ark(u, d):
    K, T, y = d["K"], d["T"], np.asarray(d["y"], float)
    alpha, beta = u[0], u[1 : K + 1]
    sigma, lj = _exp_jac(u[K + 1])
    lp = stats.norm.logpdf(alpha, 0, 10) + stats.norm.logpdf(beta, 0, 10).sum()
    lp += stats.cauchy.logpdf(sigma, 0, 2.5)
    ll = []
    for t in range(K, T):  # Stan's t = K+1..T, 0-based here
        mu = alpha + sum(beta[k] * y[t - k - 1] for k in range(K))
        ll.append(stats.norm.logpdf(y[t], mu, sigma))
    return lp + lj, np.array(ll)


def garch11(u, d):
    y, sigma1 = np.asarray(d["y"], float), d["sigma1"]
    mu = u[0]
    alpha0, j0 = _exp_jac(u[1])
    alpha1, j1 = _logit_jac(u[2])
    beta1, j2 = _logit_jac(u[3], 0.0, 1.0 - alpha1)
    sigma = np.empty(len(y))
    sigma[0] = sigma1
    for t in range(1, len(y)):
        sigma[t] = np.sqrt(alpha0 + alpha1 * (y[t - 1] - mu) ** 2 + beta1 * sigma[t - 1] ** 2)
    return j0 + j1 + j2, stats.norm.logpdf(y, mu, sigma)


def gp_f(x, rho, alpha, f_tilde):
    x = np.asarray(x, float)
    cov = alpha**2 * np.exp(-((x[:, None] - x[None, :]) ** 2) / (2 * rho**2))
    L = linalg.cholesky(cov + 1e-10 * np.eye(len(x)), lower=True)
    return L @ f_tilde


def gp_pois_regr(u, d):
    rho, jr = _exp_jac(u[0])
    alpha, ja = _exp_jac(u[1])
    ft = u[2:]
    f = gp_f(d["x"], rho, alpha, ft)
    lp = stats.gamma.logpdf(rho, 25, scale=1 / 4) + stats.halfnorm.logpdf(alpha, 0, 2)
    lp += stats.norm.logpdf(ft).sum()
    return lp + jr + ja, stats.poisson.logpmf(d["k"], np.exp(f))


def kidscore_interaction(u, d):
    beta = u[:4]
    sigma, j = _exp_jac(u[4])
    hs, iq = np.asarray(d["mom_hs"], float), np.asarray(d["mom_iq"], float)
    mu = beta[0] + beta[1] * hs + beta[2] * iq + beta[3] * hs * iq
    prior = stats.halfcauchy.logpdf(sigma, 0, 2.5) + j
    return prior, stats.norm.logpdf(d["kid_score"], mu, sigma)


def kilpisjarvi(u, d):
    alpha, beta = u[0], u[1]
    sigma, j = _exp_jac(u[2])
    lp = stats.norm.logpdf(alpha, d["pmualpha"], d["psalpha"])
    lp += stats.norm.logpdf(beta, d["pmubeta"], d["psbeta"])
    return lp + j, stats.norm.logpdf(d["y"], alpha + beta * np.asarray(d["x"], float), sigma)


def low_dim_gauss_mix(u, d):
    mu = np.array([u[0], u[0] + np.exp(u[1])])
    jm = u[1]
    sigma = np.exp(u[2:4])
    js = u[2] + u[3]
    theta, jt = _logit_jac(u[4])
    y = np.asarray(d["y"], float)
    lp = stats.halfnorm.logpdf(sigma, 0, 2).sum() + stats.norm.logpdf(mu, 0, 2).sum()
    lp += stats.beta.logpdf(theta, 5, 5)
    comp = np.stack(
        [
            np.log(theta) + stats.norm.logpdf(y, mu[0], sigma[0]),
            np.log1p(-theta) + stats.norm.logpdf(y, mu[1], sigma[1]),
        ]
    )
    return lp + jm + js + jt, special.logsumexp(comp, axis=0)


def blr(u, d):
    X, y = np.asarray(d["X"], float), np.asarray(d["y"], float)
    beta = u[: X.shape[1]]
    sigma, j = _exp_jac(u[-1])
    lp = stats.norm.logpdf(beta, 0, 10).sum() + stats.halfnorm.logpdf(sigma, 0, 10)
    return lp + j, stats.norm.logpdf(y, X @ beta, sigma)


TWINS = {
    "arK-arK": ark,
    "garch-garch11": garch11,
    "gp_pois_regr-gp_pois_regr": gp_pois_regr,
    "kidiq-kidscore_interaction": kidscore_interaction,
    "kilpisjarvi_mod-kilpisjarvi": kilpisjarvi,
    "low_dim_gauss_mix-low_dim_gauss_mix": low_dim_gauss_mix,
    "sblrc-blr": blr,
}
