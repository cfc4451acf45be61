r"""Bootstrap particle filter (filters spec §5; Gordon et al. 1993; DAPPER ``PartFilt``).

Weights are carried as normalised log weights ``lw``.  Each cycle:

1. forecast: propagate every particle (parallel over particles), add process
   noise (drawn serially);
2. reweight: :math:`\ell_i = \log p(y \mid x_i)` -- Gaussian
   :math:`-\tfrac12 \|R^{-1/2}(y - h(x_i))\|^2 - \tfrac12 \log\det(2\pi R)`, or
   the model's ``obs_loglik``; the log-evidence increment is
   :math:`\log \sum_i w_i e^{\ell_i}` (previous weights normalised), then
   ``lw <- lw + l - logsumexp(lw + l)`` (if every particle has zero
   likelihood the weights are kept and the increment is ``-inf``, visible in
   ``sample_stats``);
3. record the weighted mean and standard deviation (before resampling);
4. if :math:`\mathrm{ESS} = 1/\sum_i w_i^2 \le \mathrm{NER}\cdot N`: resample
   (systematic by default, :mod:`geobayes.math.resampling`) and, with
   ``regularization > 0``, add jitter
   :math:`\mathrm{reg}\; h_{opt}\, \xi\, C^{1/2}`, ``xi`` standard normal (N x d),
   where ``C`` is DAPPER's weighted, bias-corrected covariance before
   resampling, :math:`C = u \sum_i w_i (x_i - \bar x)(x_i - \bar x)^\top` with
   :math:`u = 1/(1 - \sum w_i^2)` (symmetric square root by eigendecomposition;
   DAPPER draws an N x N ``xi`` against the N x d factor, same law), and
   :math:`h_{opt} = (4 / (N (d + 2)))^{1/(d+4)}` (Silverman).
"""

from __future__ import annotations

import math

import numpy as np
from numba import boolean, float64, int64, njit, prange, types

from ..math.resampling import (
    logsumexp,
    multinomial_from_uniforms,
    stratified_from_uniforms,
    systematic_from_uniform,
)
from ..types import GENERATOR
from ._lazy import lazy_njit
from ._types import OBS_LOGLIK, OBSERVE, STEP
from .enkf import add_process_noise, forecast_members

__all__ = [
    "SYSTEMATIC",
    "STRATIFIED",
    "MULTINOMIAL",
    "particle_chunk",
    "silverman_bandwidth",
    "no_loglik",
]

SYSTEMATIC = 0
STRATIFIED = 1
MULTINOMIAL = 2


@njit(cache=True)
def no_loglik(y, x, data):  # pragma: no cover
    """Placeholder passed when the Gaussian likelihood is used."""
    return 0.0


def silverman_bandwidth(n: int, d: int) -> float:
    """``(4 / (n (d + 2)))^(1 / (d + 4))`` (DAPPER ``auto_bandw``)."""
    return (4.0 / (n * (d + 2.0))) ** (1.0 / (d + 4.0))


@njit(parallel=True, cache=True)
def _logliks(
    E, y, observe, observe_data, Rm12, log_norm, use_custom, obs_loglik, loglik_data
):  # pragma: no cover
    N = E.shape[0]
    out = np.empty(N)
    for i in prange(N):
        x = E[i].copy()
        if use_custom:
            out[i] = obs_loglik(y, x, loglik_data)
        else:
            r = Rm12 @ (y - observe(x, observe_data))
            out[i] = -0.5 * (r @ r) - log_norm
    return out


@njit(cache=True)
def _weighted_moments(E, lw, mean_out, sd_out):  # pragma: no cover
    N, d = E.shape
    w = np.exp(lw)
    w /= w.sum()
    for j in range(d):
        mu = 0.0
        for i in range(N):
            mu += w[i] * E[i, j]
        var = 0.0
        for i in range(N):
            var += w[i] * (E[i, j] - mu) ** 2
        mean_out[j] = mu
        sd_out[j] = math.sqrt(var)


_M2 = float64[:, ::1]
_M3 = float64[:, :, ::1]
_V = float64[::1]

PF_CHUNK_SIG = types.void(
    GENERATOR,
    _M2,
    _V,
    int64,
    int64,
    float64,
    float64,
    int64,
    STEP,
    _V,
    OBSERVE,
    _V,
    _M2,
    types.uint8[::1],
    _M2,
    _M2,
    float64,
    boolean,
    OBS_LOGLIK,
    _V,
    float64,
    float64,
    int64,
    _M2,
    _M2,
    _M2,
    _M2,
    _M3,
    _M2,
    _V,
    _V,
    _V,
)


@lazy_njit(PF_CHUNK_SIG, cache=True)
def particle_chunk(
    rng,
    E,
    lw,
    k0,
    k1,
    t0,
    dt,
    n_steps,
    step,
    step_data,
    observe,
    observe_data,
    Y,
    observed,
    Rm12,
    Qchol,
    log_norm,
    use_custom,
    obs_loglik,
    loglik_data,
    threshold,
    regularization,
    scheme,
    pred_mean,
    pred_sd,
    filt_mean,
    filt_sd,
    ens_out,
    logw_out,
    ess_out,
    lei_out,
    resampled_out,
):  # pragma: no cover
    """Run cycles ``k0 .. k1-1`` of the bootstrap particle filter in place.

    ``E`` (N, d) and ``lw`` (N,) are the particles and normalised log weights.
    ``ens_out``/``logw_out`` receive them after each cycle when non-empty.
    Cycles with ``observed[k] == 0`` keep the weights (no reweighting, no
    resampling, log-evidence increment 0).
    """
    N, d = E.shape
    h_opt = (4.0 / (N * (d + 2.0))) ** (1.0 / (d + 4.0))
    for k in range(k0, k1):
        forecast_members(E, k, t0, dt, n_steps, step, step_data)
        add_process_noise(rng, E, Qchol)
        _weighted_moments(E, lw, pred_mean[k], pred_sd[k])
        if observed[k] == 0:
            filt_mean[k] = pred_mean[k]
            filt_sd[k] = pred_sd[k]
            w = np.exp(lw)
            w /= w.sum()
            ess_out[k] = 1.0 / (w @ w)
            lei_out[k] = 0.0
            resampled_out[k] = 0.0
            if ens_out.shape[0] > 0:
                ens_out[k] = E
                logw_out[k] = lw
            continue
        ll = _logliks(
            E, Y[k], observe, observe_data, Rm12, log_norm, use_custom, obs_loglik, loglik_data
        )
        a = lw + ll
        lse = logsumexp(a)
        lei_out[k] = lse  # lw normalised, so logsumexp(lw) = 0
        if not math.isfinite(lse):
            # every particle has zero likelihood: keep the weights, flag the cycle
            a = lw.copy()
            lse = logsumexp(a)
        lw[:] = a - lse
        _weighted_moments(E, lw, filt_mean[k], filt_sd[k])
        w = np.exp(lw)
        w /= w.sum()
        ess = 1.0 / (w @ w)
        ess_out[k] = ess
        resampled_out[k] = 0.0
        if ess <= threshold * N:
            resampled_out[k] = 1.0
            jitter = regularization > 0.0
            if jitter:
                mu = w @ E
                unbias = 1.0 / max(1.0 - (w @ w), 1e-12)
                C12 = np.empty((N, d))
                for i in range(N):
                    C12[i] = math.sqrt(unbias * w[i]) * (E[i] - mu)
                # C = C12^T C12; jitter xi C^{1/2} with a symmetric square root
                lam, V = np.linalg.eigh(C12.T @ C12)
                Csq = np.ascontiguousarray((V * np.sqrt(np.maximum(lam, 0.0))) @ V.T)
            if scheme == SYSTEMATIC:
                idx = systematic_from_uniform(w, rng.random(), N)
            elif scheme == STRATIFIED:
                idx = stratified_from_uniforms(w, rng.random(N))
            else:
                idx = multinomial_from_uniforms(w, rng.random(N))
            En = np.empty((N, d))
            for i in range(N):
                En[i] = E[idx[i]]
            if jitter:
                Xi = rng.standard_normal((N, d))
                En += (regularization * h_opt) * (Xi @ Csq)
            E[:] = En
            lw[:] = -math.log(N)
        if ens_out.shape[0] > 0:
            ens_out[k] = E
            logw_out[k] = lw
