"""Jitted log densities of common distributions, with their gradients.

Each function takes scalars and returns a tuple ``(logp, d/dx, d/dparam1, ...)``
holding the log density (normalizing constants included, so it matches
``scipy.stats``) and its partial derivatives with respect to the value and to
every parameter, in the order of the arguments.  Outside the support the log
density is ``-inf`` and every derivative is 0.  Use them as building blocks of a
model's ``logdensity_and_grad``: the derivatives with respect to parameters are
what a hierarchical model needs for the chain rule.

Examples
--------
>>> from geobayes.models.distributions import normal_lpdf
>>> lp, d_x, d_mu, d_sigma = normal_lpdf(1.0, 0.0, 2.0)
>>> round(lp, 6), d_x, d_mu, d_sigma
(-1.737086, -0.25, 0.25, -0.375)
"""

from __future__ import annotations

import math

from numba import njit

from geobayes.math.special import digamma, log1pexp, sigmoid

__all__ = [
    "normal_lpdf",
    "student_t_lpdf",
    "cauchy_lpdf",
    "half_normal_lpdf",
    "half_cauchy_lpdf",
    "gamma_lpdf",
    "inv_gamma_lpdf",
    "beta_lpdf",
    "exponential_lpdf",
    "lognormal_lpdf",
    "bernoulli_logit_lpmf",
    "poisson_log_lpmf",
    "binomial_logit_lpmf",
]

_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
_LOG_PI = math.log(math.pi)
_NEG_INF = -math.inf


@njit(cache=True)
def normal_lpdf(x, mu, sigma):
    """Normal(mu, sigma): returns ``(logp, d/dx, d/dmu, d/dsigma)``."""
    if not sigma > 0.0:
        return _NEG_INF, 0.0, 0.0, 0.0
    z = (x - mu) / sigma
    lp = -0.5 * z * z - math.log(sigma) - _HALF_LOG_2PI
    return lp, -z / sigma, z / sigma, (z * z - 1.0) / sigma


@njit(cache=True)
def student_t_lpdf(x, nu, mu, sigma):
    """Student-t(nu, mu, sigma): returns ``(logp, d/dx, d/dnu, d/dmu, d/dsigma)``."""
    if not (sigma > 0.0 and nu > 0.0):
        return _NEG_INF, 0.0, 0.0, 0.0, 0.0
    z = (x - mu) / sigma
    q = 1.0 + z * z / nu
    lp = (
        math.lgamma(0.5 * (nu + 1.0))
        - math.lgamma(0.5 * nu)
        - 0.5 * math.log(nu * math.pi)
        - math.log(sigma)
        - 0.5 * (nu + 1.0) * math.log(q)
    )
    dz = -(nu + 1.0) * z / (nu * q)  # d logp / dz
    dnu = (
        0.5 * digamma(0.5 * (nu + 1.0))
        - 0.5 * digamma(0.5 * nu)
        - 0.5 / nu
        - 0.5 * math.log(q)
        + 0.5 * (nu + 1.0) * z * z / (nu * nu * q)
    )
    return lp, dz / sigma, dnu, -dz / sigma, -1.0 / sigma - dz * z / sigma


@njit(cache=True)
def cauchy_lpdf(x, mu, sigma):
    """Cauchy(mu, sigma): returns ``(logp, d/dx, d/dmu, d/dsigma)``."""
    if not sigma > 0.0:
        return _NEG_INF, 0.0, 0.0, 0.0
    z = (x - mu) / sigma
    q = 1.0 + z * z
    lp = -_LOG_PI - math.log(sigma) - math.log(q)
    dz = -2.0 * z / q
    return lp, dz / sigma, -dz / sigma, -1.0 / sigma - dz * z / sigma


@njit(cache=True)
def half_normal_lpdf(x, sigma):
    """Half-normal(sigma) on x >= 0: returns ``(logp, d/dx, d/dsigma)``."""
    if not (sigma > 0.0 and x >= 0.0):
        return _NEG_INF, 0.0, 0.0
    z = x / sigma
    lp = 0.5 * math.log(2.0 / math.pi) - math.log(sigma) - 0.5 * z * z
    return lp, -z / sigma, (z * z - 1.0) / sigma


@njit(cache=True)
def half_cauchy_lpdf(x, sigma):
    """Half-Cauchy(sigma) on x >= 0: returns ``(logp, d/dx, d/dsigma)``."""
    if not (sigma > 0.0 and x >= 0.0):
        return _NEG_INF, 0.0, 0.0
    z = x / sigma
    q = 1.0 + z * z
    lp = math.log(2.0) - _LOG_PI - math.log(sigma) - math.log(q)
    dz = -2.0 * z / q
    return lp, dz / sigma, -1.0 / sigma - dz * z / sigma


@njit(cache=True)
def gamma_lpdf(x, alpha, beta):
    """Gamma(shape alpha, rate beta): returns ``(logp, d/dx, d/dalpha, d/dbeta)``."""
    if not (alpha > 0.0 and beta > 0.0 and x > 0.0):
        return _NEG_INF, 0.0, 0.0, 0.0
    lx = math.log(x)
    lb = math.log(beta)
    lp = alpha * lb - math.lgamma(alpha) + (alpha - 1.0) * lx - beta * x
    return lp, (alpha - 1.0) / x - beta, lb - digamma(alpha) + lx, alpha / beta - x


@njit(cache=True)
def inv_gamma_lpdf(x, alpha, beta):
    """Inverse-gamma(shape alpha, scale beta): returns ``(logp, d/dx, d/dalpha, d/dbeta)``."""
    if not (alpha > 0.0 and beta > 0.0 and x > 0.0):
        return _NEG_INF, 0.0, 0.0, 0.0
    lx = math.log(x)
    lb = math.log(beta)
    lp = alpha * lb - math.lgamma(alpha) - (alpha + 1.0) * lx - beta / x
    return (
        lp,
        -(alpha + 1.0) / x + beta / (x * x),
        lb - digamma(alpha) - lx,
        alpha / beta - 1.0 / x,
    )


@njit(cache=True)
def beta_lpdf(x, a, b):
    """Beta(a, b) on (0, 1): returns ``(logp, d/dx, d/da, d/db)``."""
    if not (a > 0.0 and b > 0.0 and 0.0 < x < 1.0):
        return _NEG_INF, 0.0, 0.0, 0.0
    lx = math.log(x)
    l1x = math.log1p(-x)
    lbeta = math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)
    lp = (a - 1.0) * lx + (b - 1.0) * l1x - lbeta
    dab = digamma(a + b)
    return lp, (a - 1.0) / x - (b - 1.0) / (1.0 - x), lx - digamma(a) + dab, l1x - digamma(b) + dab


@njit(cache=True)
def exponential_lpdf(x, rate):
    """Exponential(rate) on x >= 0: returns ``(logp, d/dx, d/drate)``."""
    if not (rate > 0.0 and x >= 0.0):
        return _NEG_INF, 0.0, 0.0
    return math.log(rate) - rate * x, -rate, 1.0 / rate - x


@njit(cache=True)
def lognormal_lpdf(x, mu, sigma):
    """Log-normal(mu, sigma) on x > 0: returns ``(logp, d/dx, d/dmu, d/dsigma)``."""
    if not (sigma > 0.0 and x > 0.0):
        return _NEG_INF, 0.0, 0.0, 0.0
    lx = math.log(x)
    z = (lx - mu) / sigma
    lp = -lx - math.log(sigma) - _HALF_LOG_2PI - 0.5 * z * z
    return lp, (-1.0 - z / sigma) / x, z / sigma, (z * z - 1.0) / sigma


@njit(cache=True)
def bernoulli_logit_lpmf(y, eta):
    """Bernoulli with logit ``eta``, y in {0, 1}: returns ``(logp, d/deta)``."""
    return y * eta - log1pexp(eta), y - sigmoid(eta)


@njit(cache=True)
def poisson_log_lpmf(y, eta):
    """Poisson with log-rate ``eta``, y = 0, 1, ...: returns ``(logp, d/deta)``."""
    r = math.exp(eta)
    return y * eta - r - math.lgamma(y + 1.0), y - r


@njit(cache=True)
def binomial_logit_lpmf(y, n, eta):
    """Binomial(n, sigmoid(eta)), y = 0..n: returns ``(logp, d/deta)``."""
    lchoose = math.lgamma(n + 1.0) - math.lgamma(y + 1.0) - math.lgamma(n - y + 1.0)
    return lchoose + y * eta - n * log1pexp(eta), y - n * sigmoid(eta)
