"""Eight schools (Rubin 1981; Gelman et al., BDA3 §5.5), centered and non-centered.

Stan program (posteriordb ``eight_schools_noncentered``)::

    mu ~ normal(0, 5);  tau ~ cauchy(0, 5);  // tau > 0: half-Cauchy
    theta_trans ~ normal(0, 1);  theta = mu + tau * theta_trans;
    y ~ normal(theta, sigma);

The centered version draws ``theta ~ normal(mu, tau)`` directly.  Unconstrained
vector: ``(mu, log tau, theta_trans[8] or theta[8])``.  Data layout: ``idata = [J]``,
``fdata = [y (J), sigma (J)]``.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from geobayes.models.base import Model
from geobayes.models.distributions import half_cauchy_lpdf, normal_lpdf

__all__ = ["eight_schools", "EIGHT_SCHOOLS_Y", "EIGHT_SCHOOLS_SIGMA"]

#: Treatment effects and their standard errors (the Stan example's data).
EIGHT_SCHOOLS_Y = np.array([28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0])
EIGHT_SCHOOLS_SIGMA = np.array([15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0])


@njit(cache=True)
def _prior_mu_tau(theta, g):
    lp, dmu, _, _ = normal_lpdf(theta[0], 0.0, 5.0)
    tau = math.exp(theta[1])
    lp_tau, dtau, _ = half_cauchy_lpdf(tau, 5.0)
    g[0] = dmu
    g[1] = dtau * tau + 1.0  # chain rule through tau = exp(u) plus the log-Jacobian u
    return lp + lp_tau + theta[1], tau


@njit(cache=True)
def noncentered_lpg(theta, fdata, idata):
    """Non-centered eight schools: ``theta = (mu, log tau, theta_trans[J])``."""
    j = idata[0]
    g = np.empty(theta.shape[0])
    lp, tau = _prior_mu_tau(theta, g)
    mu = theta[0]
    for k in range(j):
        z = theta[2 + k]
        lz, dz, _, _ = normal_lpdf(z, 0.0, 1.0)
        ly, _, dth, _ = normal_lpdf(fdata[k], mu + tau * z, fdata[j + k])
        lp += lz + ly
        g[0] += dth
        g[1] += dth * z * tau
        g[2 + k] = dz + dth * tau
    return lp, g


@njit(cache=True)
def centered_lpg(theta, fdata, idata):
    """Centered eight schools: ``theta = (mu, log tau, theta[J])``."""
    j = idata[0]
    g = np.empty(theta.shape[0])
    lp, tau = _prior_mu_tau(theta, g)
    mu = theta[0]
    for k in range(j):
        th = theta[2 + k]
        lt, dth_prior, dmu, dtau = normal_lpdf(th, mu, tau)
        ly, _, dth_lik, _ = normal_lpdf(fdata[k], th, fdata[j + k])
        lp += lt + ly
        g[0] += dmu
        g[1] += dtau * tau
        g[2 + k] = dth_prior + dth_lik
    return lp, g


@njit(cache=True)
def _pointwise_noncentered(theta, fdata, idata):
    j = idata[0]
    out = np.empty(j)
    tau = math.exp(theta[1])
    for k in range(j):
        out[k] = normal_lpdf(fdata[k], theta[0] + tau * theta[2 + k], fdata[j + k])[0]
    return out


@njit(cache=True)
def _pointwise_centered(theta, fdata, idata):
    j = idata[0]
    out = np.empty(j)
    for k in range(j):
        out[k] = normal_lpdf(fdata[k], theta[2 + k], fdata[j + k])[0]
    return out


def eight_schools(centered: bool = False, y=None, sigma=None) -> Model:
    """The eight schools model; ``y`` and ``sigma`` default to the Stan example's data.

    The trace holds ``mu``, ``tau`` and ``theta`` (and ``theta_trans`` when non-centered),
    and a ``log_likelihood`` group for ``arviz.loo``.

    Examples
    --------
    >>> from geobayes.models import get
    >>> get("eight_schools").params
    {'mu': (), 'tau': (), 'theta_trans': (8,)}
    """
    y = EIGHT_SCHOOLS_Y if y is None else np.asarray(y, dtype=float).ravel()
    sigma = EIGHT_SCHOOLS_SIGMA if sigma is None else np.asarray(sigma, dtype=float).ravel()
    if y.shape != sigma.shape or y.size < 1:
        raise ValueError("y and sigma must be 1-D arrays of the same length")
    if np.any(sigma <= 0) or not np.all(np.isfinite(y)):
        raise ValueError("sigma must be positive and y finite")
    j = y.size
    last = "theta" if centered else "theta_trans"

    def constrain(batch):
        mu, tau, z = batch[:, 0], np.exp(batch[:, 1]), batch[:, 2:]
        out = {"mu": mu, "tau": tau}
        if centered:
            out["theta"] = z
        else:
            theta = np.multiply(tau[:, None], z)  # in place: one temporary less
            theta += mu[:, None]
            out["theta"] = theta
            out["theta_trans"] = z
        return out

    name = "eight_schools_centered" if centered else "eight_schools_noncentered"
    return Model(
        centered_lpg if centered else noncentered_lpg,
        {"mu": (), "tau": (), last: (j,)},
        name=name,
        data=(np.concatenate([y, sigma]), np.array([j])),
        constrain=constrain,
        observed_data={"y": y, "sigma": sigma},
        pointwise_loglik=_pointwise_centered if centered else _pointwise_noncentered,
        loglik_name="y",
        coords={"school": np.arange(j)},
        dims={"theta": ["school"], "theta_trans": ["school"], "y": ["school"], "sigma": ["school"]},
        description=f"eight schools, {'centered' if centered else 'non-centered'}",
    )
