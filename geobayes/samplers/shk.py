"""SHK: the spherical Hellinger-Kantorovich (Wasserstein-Fisher-Rao) flow of KL, as particles.

The flow
--------
For a target ``pi ~ exp(-V)`` the spherical Hellinger-Kantorovich gradient flow of
``KL(rho | pi)`` couples transport (weight ``a``) and reaction (weight ``b``):

.. math::

    \\partial_t \\rho = a\\,\\nabla\\cdot\\big(\\rho\\,\\nabla \\log(\\rho/\\pi)\\big)
        - b\\,\\rho\\,\\Big(\\log(\\rho/\\pi) - \\int \\rho \\log(\\rho/\\pi)\\Big).

The first term is the Fokker-Planck equation of overdamped Langevin dynamics, the second
a mass-preserving birth-death (Fisher-Rao) term; together they are the birth-death
Langevin dynamics of Lu, Lu & Nolen (2019), whose asymptotic rate does not depend on the
height of potential barriers.  ``a = 0`` is pure birth-death, ``b = 0`` plain
(unadjusted) Langevin.  The normalizing constant of ``pi`` cancels in the centred rate.

The particle algorithm (BDLS), one step of size ``dt``
------------------------------------------------------
1. Langevin move (ULA): ``x_i += a dt grad log pi(x_i) + sqrt(2 a dt) xi_i``.  By default
   the move is preconditioned by the particles' per-coordinate spread, Metropolis-adjusted
   (MALA) and its step adapted to the acceptance rate (``metropolis``, ``precondition``,
   ``adapt_step``): real posteriors mix scales the plain step cannot serve (it diverged on
   posteriordb's arK and gp_pois_regr).  The flow below is the unadjusted, unpreconditioned
   move (``metropolis=False, precondition=False``).
2. Kernel density estimate at every particle, in log space (:mod:`geobayes.math.kde`):
   ``log rho_hat_i``, O(N d) memory, parallel over particles.
3. Rates ``beta_i = log rho_hat_i + V(x_i)`` (``rate="kde"``; ``rate="blob"`` adds the
   kernelized-energy term ``(1/N) sum_j K_h(x_j - x_i) / rho_hat_j`` of Lu, Slepcev & Wang;
   ``rate="kde_corrected"``, for ``d <= 2``, subtracts Pampel et al.'s equilibrium bias
   ``c(x) = log((K_h * pi)(x) / pi(x))``, leaving ``log rho_hat_i - log (K_h * pi~)(x_i)``
   with the smoothed target computed by quadrature on a grid; the constant
   ``int pi c`` of the paper drops out in the centring),
   centred: ``beta_i -= mean_j beta_j`` (the spherical normalization).
4. Events with the rates frozen, particles visited in a random order: with probability
   ``1 - exp(-b |beta_i| dt)`` particle ``i`` is killed (``beta_i > 0``: overwritten by a
   copy of a uniformly chosen other particle) or duplicated (``beta_i < 0``: its copy
   overwrites a uniformly chosen other particle).  A particle already overwritten in this
   step does not fire.  The particle count never changes and every position after the
   events is a copy of a position before them.

``splitting="strang"`` runs half a step of birth-death, a Langevin step, and another
half step of birth-death.  ``n_births`` counts duplications, ``n_deaths`` kills (each event
also overwrites one other particle, which is not counted twice).

Bandwidth
---------
``bandwidth="silverman"`` (default): ``h_k = h_scale * sd_k * (4/((d+2)N))^(1/(d+4))`` on
the particles' own per-coordinate spread, re-estimated every step.  It oversmooths
multimodal ensembles (spec correction 2.10.1: with ``h`` as large as a mode's width pure
birth-death collapses the mode); ``bandwidth="knn"`` uses a local scale instead, the
median distance to the ``knn``-th nearest neighbour (default ``knn = ceil(sqrt(N))``)
times ``h_scale``; a number (or one number per coordinate) fixes ``h``.  For a Gaussian
target the KDE rate biases the equilibrium variance by about ``-h^2/3`` (``a = b = 1``)
and ``-h^2`` (pure birth-death, ``a = 0``).

The support problem
-------------------
Birth-death only reweights mass where particles already are: it cannot create a mode
that no particle has reached, and with ``a = 0`` it never moves a particle at all (each
duplicate stays on top of its parent).  The default initialization is therefore
overdispersed: uniform on ``[-init_radius, init_radius]^d`` (``init_radius = 4`` on the
unconstrained scale, twice Stan's range), so that every mode inside that box is seeded.
Pass ``initial_particles`` drawn from a prior (or any law covering all modes) when the
target lives elsewhere.

Output
------
The final ensemble is an equally weighted set of draws (``chain`` = independent
replicate, ``draw`` = particle); per-iteration statistics (``n_births``, ``n_deaths``,
``mean_log_ratio`` = mean of ``log rho_hat + V`` before centring, an estimate of
``KL(rho | pi) - log Z`` that decreases as the ensemble converges (with
``rate="kde_corrected"`` the mean of ``log rho_hat - log(K_h * pi~)``: the same for the
smoothed densities, up to a constant), ``bandwidth``,
``max_event_prob``, ``n_capped``, ``n_nonfinite`` (non-finite proposals, rejected under
MALA), ``acceptance`` (of the move), ``step_scale`` (the adapted ``lambda``)) have dims
``(chain, iteration)``.
R-hat and ESS are meaningless here: particles are not a Markov chain.

Privacy
-------
:func:`shk_pure_dp_epsilon` gives the pure-DP level of the continuous pure-reaction flow
(spec section 2.6); it does not cover the finite-particle algorithm.

References
----------
Y. Lu, J. Lu, J. Nolen, "Accelerating Langevin sampling with birth-death", arXiv:1905.09863.
A. Mustafi, S. Mukherjee, "On the stability of spherical Hellinger-Kantorovich flows and
their implications for differential privacy", arXiv:2605.23879.
Y. Lu, D. Slepcev, L. Wang, "Birth-death dynamics for sampling: global convergence,
approximations and their asymptotics", arXiv:2211.00450.
B. Pampel, S. Holbach, L. Hartung, O. Valsson, birth-death sampling with a bias-corrected
kernel rate, arXiv:2209.00607.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from numba import boolean, float64, int64, njit, prange, types, void  # noqa: F401

from geobayes._lazy import lazy_njit
from geobayes.math.kde import (
    column_sd,
    kde_blob_term,
    kde_log_density,
    knn_bandwidth,
    silverman_bandwidth,
)
from geobayes.samplers._population import N_FIXED_STATS, POP_STEP_SIG
from geobayes.samplers.particle import ParticleMethod
from geobayes.types import GENERATOR, LPG

__all__ = [
    "SHK",
    "SHK_STAT_NAMES",
    "shk_langevin_move",
    "shk_rates",
    "shk_log_smoothed_target",
    "shk_events",
    "shk_step",
    "shk_pure_dp_epsilon",
]

# --- layout of the float64 parameter vector read by the kernels -------------------------
P_A, P_B, P_DT, P_BW, P_HSCALE, P_RATE, P_SELF, P_SPLIT, P_PMAX, P_KNN, P_CUTOFF, P_BIN = range(12)
P_MOVE, P_PRECOND, P_ADAPT = 12, 13, 14  # 0, 0, 0: Lu, Lu & Nolen's plain ULA move
N_PARAMS = 15  # the fixed bandwidth (one entry per coordinate) follows when P_BW == BW_FIXED
MOVE_ULA, MOVE_MALA = 0, 1
TARGET_ACCEPTANCE = 0.574  # MALA's optimal acceptance rate (Roberts & Rosenthal 1998)
_LOG_SCALE_LIMIT = 40.0
BW_SILVERMAN, BW_KNN, BW_FIXED = 0, 1, 2
RATE_KDE, RATE_BLOB, RATE_CORRECTED = 0, 1, 2
STATUS_GRID_TOO_LARGE = 1  # kde_corrected: the grid of the target would exceed _CORR_MAX_GRID
SPLIT_LIE, SPLIT_STRANG = 0, 1

#: Per-iteration statistics written by :func:`shk_run`, in column order.
SHK_STAT_NAMES = (
    "n_births",
    "n_deaths",
    "mean_log_ratio",
    "bandwidth",
    "max_event_prob",
    "n_capped",
    "n_nonfinite",
    "acceptance",
    "step_scale",
)
N_SHK_STATS = len(SHK_STAT_NAMES)


@njit(cache=True, nogil=True, inline="always")
def _store_evaluation(i, val, grad, lp, g):
    """Store particle ``i``'s log density and gradient; 1 if any of them is not finite."""
    lp[i] = val
    bad = 0 if math.isfinite(val) else 1
    for k in range(g.shape[1]):
        g[i, k] = grad[k]
        if not math.isfinite(grad[k]):
            bad = 1
    return bad


@lazy_njit(
    int64(
        float64[:, ::1],  # x (in/out)
        float64[::1],  # lp (in/out)
        float64[:, ::1],  # g (in/out)
        float64[:, ::1],  # z standard normals
        float64,  # a
        float64,  # dt
        LPG,
        float64[::1],
        int64[::1],
    ),
    cache=True,
    parallel=True,
    nogil=True,
)
def shk_langevin_move(x, lp, g, z, a, dt, lpg, fdata, idata):
    """One ULA move of every particle, then log density and gradient at the new points.

    Returns the number of particles with a non-finite log density or gradient.
    """
    n, d = x.shape
    drift = a * dt
    noise = math.sqrt(2.0 * a * dt)
    bad = np.zeros(n, dtype=np.int64)
    for i in prange(n):
        for k in range(d):
            x[i, k] += drift * g[i, k] + noise * z[i, k]
        val, grad = lpg(x[i], fdata, idata)
        bad[i] = _store_evaluation(i, val, grad, lp, g)
    return bad.sum()


@lazy_njit(
    types.UniTuple(int64, 2)(
        float64[:, ::1],  # x (in/out)
        float64[::1],  # lp (in/out)
        float64[:, ::1],  # g (in/out)
        float64[:, ::1],  # z standard normals
        float64[::1],  # u uniforms (MALA accept/reject)
        float64[::1],  # eps: drift coefficient per coordinate, a dt lambda sc^2
        boolean,  # metropolis
        LPG,
        float64[::1],
        int64[::1],
    ),
    cache=True,
    parallel=True,
    nogil=True,
)
def shk_preconditioned_move(x, lp, g, z, u, eps, metropolis, lpg, fdata, idata):
    """Preconditioned Langevin move ``x' = x + eps * g + sqrt(2 eps) z`` of every particle.

    ``eps_k = a dt lambda sc_k^2`` is the diagonal preconditioner times the step.  With
    ``metropolis`` the move is MALA: accepted with probability ``min(1, pi(x') q(x | x') /
    (pi(x) q(x' | x)))`` (ratios of ``pi~``, so the normalizing constant cancels) and a
    proposal with a non-finite log density or gradient is rejected; each particle keeps
    its own Markov kernel, which leaves ``pi`` invariant whatever the step.  Without it the
    move is the plain (preconditioned) ULA step.  Returns ``(accepted, non-finite)``.
    """
    n, d = x.shape
    acc = np.zeros(n, dtype=np.int64)
    bad = np.zeros(n, dtype=np.int64)
    proposals = np.empty((n, d))  # one allocation per move, not one per particle
    for i in prange(n):
        xp = proposals[i]
        fwd = 0.0
        for k in range(d):
            xp[k] = x[i, k] + eps[k] * g[i, k] + math.sqrt(2.0 * eps[k]) * z[i, k]
            fwd += 0.5 * z[i, k] * z[i, k]
        val, grad = lpg(xp, fdata, idata)
        finite = math.isfinite(val)
        for k in range(d):
            if not math.isfinite(grad[k]):
                finite = False
        if not finite:
            bad[i] = 1
        take = True
        if metropolis:
            if not finite:
                take = False
            elif math.isfinite(lp[i]):
                bwd = 0.0
                for k in range(d):
                    t = x[i, k] - xp[k] - eps[k] * grad[k]
                    bwd += t * t / (4.0 * eps[k])
                log_alpha = val - lp[i] - bwd + fwd
                take = u[i] > 0.0 and math.log(u[i]) < log_alpha
        if take:
            acc[i] = 1
            lp[i] = val
            for k in range(d):
                x[i, k] = xp[k]
                g[i, k] = grad[k]
    return acc.sum(), bad.sum()


@lazy_njit(
    float64(
        float64[:, ::1],  # x
        float64[::1],  # lp
        float64[::1],  # h (bandwidth per coordinate)
        int64,  # rate
        boolean,  # include_self
        float64[::1],  # beta (out)
        float64[::1],  # scratch of length n
        float64,  # KDE cutoff in bandwidths (inf: exact)
        int64,  # 1-D binned KDE grid points per bandwidth (0: pairwise)
    ),
    cache=True,
    nogil=True,
)
def shk_rates(x, lp, h, rate, include_self, beta, scratch, cutoff, per_h):
    """Centred birth-death rates ``beta_i``; returns their mean before centring.

    ``beta_i = log rho_hat_i - log pi~(x_i)`` (plus the blob term for ``rate=1``), then
    ``beta -= mean(beta)`` over the finite entries.  A particle with ``log pi~ = -inf``
    gets ``beta = +inf`` (killed with probability 1); one whose KDE underflows (possible
    only without the self term) gets ``-inf`` (duplicated with probability 1).
    """
    n = x.shape[0]
    kde_log_density(x, h, include_self, beta, cutoff, per_h)
    if rate == RATE_BLOB:
        kde_blob_term(x, h, include_self, beta, scratch, cutoff, per_h)
        for i in range(n):
            beta[i] += scratch[i]
    s = 0.0
    m = 0
    for i in range(n):
        beta[i] -= lp[i]
        if math.isfinite(beta[i]):
            s += beta[i]
            m += 1
    mean = s / m if m > 0 else np.nan
    for i in range(n):
        if math.isfinite(beta[i]):
            beta[i] -= mean
    return mean


_CORR_PER_H = 2.0  # grid spacing h/2 for K_h * pi (trapezoid error ~ exp(-2 pi^2 4) = 7e-35)
_CORR_CUTOFF = 8.0  # kernel terms beyond 8 bandwidths (< exp(-32) = 1.3e-14 of the peak) omitted
_CORR_MAX_GRID = 1 << 20  # grid points per step; the spacing coarsens to h before refusing


@lazy_njit(
    int64(
        float64[:, ::1],  # x (N, d), d <= 2
        float64[:, ::1],  # g (N, d): grad log pi~ at the particles (centres the windows)
        float64[::1],  # h (d,)
        LPG,
        float64[::1],
        int64[::1],
        float64[::1],  # out: log (K_h * pi~)(x_i) + const
    ),
    cache=True,
    parallel=True,
    nogil=True,
)
def shk_log_smoothed_target(x, g, h, lpg, fdata, idata, out):
    """``out_i = log (K_h * pi~)(x_i)`` up to one constant, by quadrature on a grid (d <= 2).

    The unnormalized target is evaluated on a regular grid over the particles' bounding
    box widened by 8 bandwidths, spacing ``h_k / 2`` per coordinate (coarsened up to
    ``h_k`` when the grid would exceed 2^20 points); each particle's convolution sum
    runs, in log space with a running maximum, over the grid points within 8 bandwidths
    of the segment from ``x_i`` to ``x_i + h^2 grad log pi~(x_i)`` (per coordinate): the
    integrand ``pi~(y) K_h(x_i - y)`` peaks on that segment when ``log pi~`` is concave,
    and in a steep tail it peaks many bandwidths away from ``x_i``.
    For a Gaussian kernel the trapezoid rule with spacing ``h/2`` errs by about
    ``exp(-8 pi^2)`` relative when ``pi`` is smooth on the scale ``h``.  The quadrature
    weight and the kernel's normalization are constants, which the centred rate drops.
    Returns the number of grid points, or ``-1`` (``out`` untouched) if the box is too
    large even at spacing ``h``.  One thread per grid point / particle, fixed order:
    thread-count independent.
    """
    n, d = x.shape
    lo = np.empty(2)
    delta = np.ones(2)
    m = np.ones(2, dtype=np.int64)
    for k in range(d):
        a = np.inf
        b = -np.inf
        for i in range(n):
            a = min(a, x[i, k])
            b = max(b, x[i, k])
        lo[k] = a - _CORR_CUTOFF * h[k]
        delta[k] = h[k] / _CORR_PER_H
        m[k] = int(math.ceil((b + _CORR_CUTOFF * h[k] - lo[k]) / delta[k])) + 1
    total = m[0] * m[1]
    if total > _CORR_MAX_GRID:
        f = math.sqrt(total / _CORR_MAX_GRID) if d == 2 else total / _CORR_MAX_GRID
        if f > _CORR_PER_H:  # even spacing h is too many points
            return -1
        for k in range(d):
            delta[k] *= f
            m[k] = int(math.ceil((m[k] - 1) / f)) + 1
        total = m[0] * m[1]
    logp = np.empty(total)
    for gidx in prange(total):
        y = np.empty(d)
        y[0] = lo[0] + (gidx % m[0]) * delta[0]
        if d == 2:
            y[1] = lo[1] + (gidx // m[0]) * delta[1]
        val, _ = lpg(y, fdata, idata)
        logp[gidx] = val if not math.isnan(val) else -np.inf
    for i in prange(n):
        i0 = np.zeros(2, dtype=np.int64)
        i1 = np.zeros(2, dtype=np.int64)
        for k in range(d):
            reach = _CORR_CUTOFF * h[k]
            shift = h[k] * h[k] * g[i, k] if math.isfinite(g[i, k]) else 0.0
            a = x[i, k] + min(shift, 0.0) - reach
            b = x[i, k] + max(shift, 0.0) + reach
            i0[k] = min(m[k] - 1, max(0, int(math.ceil((a - lo[k]) / delta[k]))))
            i1[k] = max(0, min(m[k] - 1, int(math.floor((b - lo[k]) / delta[k]))))
        mx = -np.inf
        s = 0.0
        for j1 in range(i0[1], i1[1] + 1):
            e1 = 0.0
            if d == 2:
                t = (x[i, 1] - (lo[1] + j1 * delta[1])) / h[1]
                e1 = -0.5 * t * t
            for j0 in range(i0[0], i1[0] + 1):
                lv = logp[j1 * m[0] + j0]
                if lv == -np.inf:
                    continue
                t = (x[i, 0] - (lo[0] + j0 * delta[0])) / h[0]
                e = lv + e1 - 0.5 * t * t
                if e > mx:  # running log-sum-exp
                    s = s * math.exp(mx - e) + 1.0
                    mx = e
                else:
                    s += math.exp(e - mx)
        out[i] = mx + math.log(s) if s > 0.0 else -np.inf
    return total


@lazy_njit(
    types.UniTuple(int64, 3)(
        GENERATOR,
        float64[:, ::1],  # x (in/out)
        float64[::1],  # lp (in/out)
        float64[:, ::1],  # g (in/out)
        float64[::1],  # beta (centred rates)
        float64,  # b * dt
        float64,  # cap on the event probability
        boolean[::1],  # scratch: overwritten flags
    ),
    cache=True,
    nogil=True,
)
def shk_events(rng, x, lp, g, beta, bdt, pmax, done):
    """Kill/duplicate events with frozen rates; returns ``(n_births, n_deaths, n_capped)``.

    Draws ``3 N`` uniforms at once: the event uniforms, a random visiting order
    (Fisher-Yates) and one partner index per visited particle (used if it fires), the
    indices as ``floor(u * m)``.  Copies move the position together with its log density
    and gradient.
    """
    n = x.shape[0]
    r = rng.random(3 * n)  # one generator method: cheap to compile, one call per step
    u = r[:n]
    order = np.empty(n, dtype=np.int64)
    for t in range(n):
        order[t] = t
    for t in range(n - 1, 0, -1):  # Fisher-Yates shuffle
        j = min(int(r[n + t] * (t + 1)), t)
        order[t], order[j] = order[j], order[t]
    done[:] = False
    births = 0
    deaths = 0
    capped = 0
    for t in range(n):
        i = order[t]
        bi = beta[i]
        if done[i] or math.isnan(bi) or bi == 0.0:
            continue
        p = 1.0 - math.exp(-bdt * abs(bi))
        if p > pmax:
            p = pmax
            capped += 1
        if u[i] >= p:
            continue
        j = min(int(r[2 * n + t] * (n - 1)), n - 2)  # uniform on {0..n-1} minus {i}
        if j >= i:
            j += 1
        if bi > 0.0:  # too many here: kill i, replace by a copy of j
            src, dst = j, i
            deaths += 1
        else:  # too few here: duplicate i onto j
            src, dst = i, j
            births += 1
        x[dst, :] = x[src, :]
        g[dst, :] = g[src, :]
        lp[dst] = lp[src]
        done[dst] = True
    return births, deaths, capped


@lazy_njit(
    void(float64[:, ::1], float64[::1], float64[::1], float64[::1]),
    cache=True,
    nogil=True,
)
def _bandwidth(x, params, h_fixed, h):
    mode = int(params[P_BW])
    if mode == BW_FIXED:
        h[:] = h_fixed
    elif mode == BW_KNN:
        knn_bandwidth(x, params[P_HSCALE], int(params[P_KNN]), h)
    else:
        silverman_bandwidth(x, params[P_HSCALE], h)


@lazy_njit(
    int64(
        GENERATOR,
        float64[:, ::1],
        float64[::1],
        float64[:, ::1],
        float64[::1],
        float64[::1],
        float64,  # dt of this birth-death substep
        float64[::1],  # stats row (accumulates births, deaths, capped; sets the others)
        float64[::1],  # beta scratch
        float64[::1],  # scratch
        boolean[::1],  # done scratch
        float64[::1],  # h scratch
        LPG,
        float64[::1],
        int64[::1],
    ),
    cache=True,
    nogil=True,
)
def _birth_death(rng, x, lp, g, params, h_fixed, dt, row, beta, scratch, done, h, lpg, fdata,
                 idata):  # fmt: skip
    """One birth-death substep; returns its model evaluations (the kde_corrected grid), or
    ``-STATUS_GRID_TOO_LARGE``."""
    _bandwidth(x, params, h_fixed, h)
    rate = int(params[P_RATE])
    lq = lp
    n_grid = 0
    if rate == RATE_CORRECTED:  # beta = log rho_hat - log (K_h * pi~): V cancels
        lq = np.empty(lp.shape[0])
        n_grid = shk_log_smoothed_target(x, g, h, lpg, fdata, idata, lq)
        if n_grid < 0:
            return -STATUS_GRID_TOO_LARGE
        for i in range(lp.shape[0]):
            if lp[i] == -np.inf:  # outside the support: killed, as with the other rates
                lq[i] = -np.inf
        rate = RATE_KDE
    mean = shk_rates(
        x,
        lq,
        h,
        rate,
        params[P_SELF] != 0.0,
        beta,
        scratch,
        params[P_CUTOFF],
        int(params[P_BIN]),
    )
    bdt = params[P_B] * dt
    bmax = 0.0
    for i in range(beta.shape[0]):
        if abs(beta[i]) > bmax:
            bmax = abs(beta[i])
    births, deaths, capped = shk_events(rng, x, lp, g, beta, bdt, params[P_PMAX], done)
    row[0] += births
    row[1] += deaths
    row[2] = mean
    lh = 0.0
    for k in range(h.shape[0]):
        lh += math.log(h[k])
    row[3] = math.exp(lh / h.shape[0])  # geometric mean of the widths
    row[4] = max(row[4], 1.0 - math.exp(-bdt * bmax))
    row[5] += capped
    return n_grid


def aux_size(n, d):
    """Length of SHK's persistent state: a flag, log densities ``(N,)``, gradients ``(N, d)``,
    the log step scale ``log lambda`` and the coordinate scales ``sc`` ``(d,)``."""
    return 1 + n + n * d + 1 + d


@lazy_njit(
    int64(float64[:, ::1], float64[::1], float64[:, ::1], LPG, float64[::1], int64[::1]),
    cache=True,
    parallel=True,
    nogil=True,
)
def _evaluate(x, lp, g, lpg, fdata, idata):
    n = x.shape[0]
    bad = np.zeros(n, dtype=np.int64)
    for i in prange(n):
        val, grad = lpg(x[i], fdata, idata)
        bad[i] = _store_evaluation(i, val, grad, lp, g)
    return bad.sum()


@njit(cache=True, nogil=True)
def _spread(x, g, sc):
    """Coordinate scales into ``sc``: ``min(sd_k, 1 / rms_k(grad))`` over the particles.

    The particles' spread is the target's scale once they have converged; before that
    (a start far wider than the posterior) the gradients' root mean square gives the
    local scale, ``1/rms`` being the conditional standard deviation for a Gaussian
    target.  Kept where neither is usable.
    """
    n, d = x.shape
    for k in range(d):
        g2 = 0.0
        m = 0
        for i in range(n):
            if math.isfinite(g[i, k]):
                g2 += g[i, k] * g[i, k]
                m += 1
        sd = column_sd(x, k, 0)
        if m > 0 and g2 > 0.0:
            sd = min(sd, 1.0 / math.sqrt(g2 / m))
        if sd > 0.0 and math.isfinite(sd):
            sc[k] = sd
        elif not sc[k] > 0.0:
            sc[k] = 1.0


@lazy_njit(POP_STEP_SIG, cache=True, nogil=True)
def shk_step(rng, x, w, aux, lpg, fdata, idata, params, stats):
    """One SHK iteration of one replicate (population-step contract); returns 0.

    ``aux = [initialized flag, lp (N), grad (N*d)]``: the log densities and gradients at
    the particles travel with them (copied on events), so each iteration costs ``N``
    model evaluations.  ``params = [a, b, dt, bandwidth mode, h_scale, rate, include_self,
    splitting, max_event_prob, knn, cutoff, per_h, fixed h (d entries)]``.  Statistics:
    ``[diverging, n_evals]`` then :data:`SHK_STAT_NAMES`.  All randomness is drawn
    serially from ``rng``; parallel loops do arithmetic only (thread-count independent).
    """
    n, d = x.shape
    lp = aux[1 : 1 + n]
    g = aux[1 + n : 1 + n + n * d].reshape((n, d))
    h_fixed = params[N_PARAMS : N_PARAMS + d].copy()
    if h_fixed.shape[0] < d:
        h_fixed = np.ones(d)
    n_evals = 0
    n_bad = 0
    if aux[0] == 0.0:  # first iteration: log density and gradient at the initial particles
        n_bad = _evaluate(x, lp, g, lpg, fdata, idata)
        n_evals += n
        aux[0] = 1.0
    a = params[P_A]
    b = params[P_B]
    dt = params[P_DT]
    strang = int(params[P_SPLIT]) == SPLIT_STRANG
    row = stats[N_FIXED_STATS:]
    row[2] = np.nan
    row[3] = np.nan
    beta = np.empty(n)
    scratch = np.empty(n)
    done = np.empty(n, dtype=np.bool_)
    h = np.empty(d)
    r = 0
    if b > 0.0 and strang:
        r = _birth_death(rng, x, lp, g, params, h_fixed, 0.5 * dt, row, beta, scratch, done, h,
                         lpg, fdata, idata)  # fmt: skip
        n_evals += max(r, 0)
    move = int(params[P_MOVE])
    precond = params[P_PRECOND] > 0.0
    row[7] = 1.0
    row[8] = 1.0
    if a > 0.0 and r >= 0:
        z = rng.standard_normal((n, d))
        if move == MOVE_ULA and not precond:  # Lu, Lu & Nolen's move, as specified
            n_bad = shk_langevin_move(x, lp, g, z, a, dt, lpg, fdata, idata)
        else:
            base = 1 + n + n * d
            sc = aux[base + 1 : base + 1 + d]
            if precond:
                _spread(x, g, sc)
            else:
                sc[:] = 1.0
            u = rng.random(n) if move == MOVE_MALA else np.ones(n)
            lam = math.exp(aux[base])
            eps = np.empty(d)
            for k in range(d):
                eps[k] = a * dt * lam * sc[k] * sc[k]
            acc, nonfinite = shk_preconditioned_move(
                x, lp, g, z, u, eps, move == MOVE_MALA, lpg, fdata, idata
            )
            rate_acc = acc / n
            row[7] = rate_acc
            row[8] = lam
            if move == MOVE_MALA:
                row[6] = nonfinite  # rejected proposals; the particles stay valid
                n_bad = 0
                if params[P_ADAPT] > 0.0:  # Robbins-Monro on the population's acceptance
                    aux[base] = min(
                        max(aux[base] + rate_acc - TARGET_ACCEPTANCE, -_LOG_SCALE_LIMIT),
                        _LOG_SCALE_LIMIT,
                    )
            else:
                n_bad = nonfinite
        n_evals += n
    if b > 0.0 and r >= 0:
        r = _birth_death(rng, x, lp, g, params, h_fixed, 0.5 * dt if strang else dt, row, beta,
                         scratch, done, h, lpg, fdata, idata)  # fmt: skip
        n_evals += max(r, 0)
    status = -r if r < 0 else 0
    row[6] = max(row[6], n_bad)
    stats[0] = 1.0 if n_bad > 0 else 0.0
    stats[1] = n_evals
    for i in range(n):
        w[i] = 1.0 / n
    return status


def shk_pure_dp_epsilon(t, epsilon, b=1.0):
    """Pure-DP level of the continuous pure-reaction SHK flow at time ``t``.

    For the exponential mechanism ``pi_D ~ exp(-epsilon u(D, .) / (2 Delta u))`` the
    potentials of neighbouring data sets differ by at most ``epsilon / 2`` uniformly.  The
    pure-reaction flow (``a = 0``) started from a data-independent ``rho_0`` is the
    geometric interpolation ``rho_t ~ rho_0^(exp(-b t)) pi_D^(1 - exp(-b t))``, so
    ``sup |log rho_t^D / rho_t^D'| <= 2 (1 - exp(-b t)) (epsilon / 2)``: releasing one
    draw of ``rho_t`` is ``(1 - exp(-b t)) epsilon``-DP.

    Parameters
    ----------
    t : float or array_like
        Flow time (>= 0).
    epsilon : float
        Privacy level of the exact exponential mechanism (> 0).
    b : float
        Reaction weight (> 0).

    Returns
    -------
    float or ndarray
        ``(1 - exp(-b t)) * epsilon``; it tends to ``epsilon`` as ``t -> inf``.

    Notes
    -----
    Assumptions, all of which matter:

    * it holds for the **continuous** pure-reaction flow (spec section 2.6, derived from
      the closed form above), **not** for the finite-particle algorithm: the KDE,
      the random events and the time discretization are not covered, and the particle
      ensemble is a set of N dependent draws, not one draw;
    * the transport part is off (``a = 0``); the general SHK flow's bound is in
      Mustafi & Mukherjee (arXiv:2605.23879), whose constants we could not read;
    * ``rho_0`` does not depend on the data, and ``sup |V_D - V_D'| <= epsilon / 2``.

    Examples
    --------
    >>> from geobayes.samplers.shk import shk_pure_dp_epsilon
    >>> round(shk_pure_dp_epsilon(1.0, 2.0, b=1.0), 6)
    1.264241
    """
    eps = float(epsilon)
    bb = float(b)
    if not (math.isfinite(eps) and eps > 0):
        raise ValueError(f"epsilon must be a positive finite number, got {epsilon!r}")
    if not (math.isfinite(bb) and bb > 0):
        raise ValueError(f"b must be a positive finite number (the reaction weight), got {b!r}")
    tt = np.asarray(t, dtype=float)
    if np.any(~np.isfinite(tt)) or np.any(tt < 0):
        raise ValueError(f"t must be finite and >= 0, got {t!r}")
    out = -np.expm1(-bb * tt) * eps
    return float(out) if out.ndim == 0 else out


_BANDWIDTHS = {"silverman": BW_SILVERMAN, "knn": BW_KNN}
_RATES = {"kde": RATE_KDE, "blob": RATE_BLOB, "kde_corrected": RATE_CORRECTED}
_SPLITTINGS = {"lie": SPLIT_LIE, "strang": SPLIT_STRANG}
_KDE_MODES = ("auto", "exact", "window", "binned")
_WINDOW_CUTOFF = 9.0  # omitted kernel terms < exp(-9^2/2) = 2.6e-18 of the self term
_BIN_PER_H = 32  # 1-D binned KDE: grid spacing h/32 (|error| in log rho_hat ~ 1e-4..1e-3)
MIN_PARTICLES = 10


def _positive(name, v, allow_zero=False):
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, got {type(v).__name__}")
    if not math.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        need = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be a finite number {need}, got {v!r}")


@dataclass(frozen=True)
class SHK(ParticleMethod):
    """Birth-death Langevin sampler: particles of the SHK (Wasserstein-Fisher-Rao) flow of KL.

    Parameters
    ----------
    n_particles : int
        Particles ``N`` per replicate (default 1000; at least 10 and ``2 d + 2``: the KDE
        needs a population).
    n_steps : int
        Iterations (default 1000); the flow time is ``n_steps * step_size``.
    step_size : float
        Time step ``dt`` (> 0, default 0.01) shared by the Langevin move and the events.
        ULA needs ``dt < 2 / L`` (``L`` the Lipschitz constant of the gradient) and biases the
        variance by about ``dt / 2`` relative; ``b * max|beta| * dt <= 0.5`` keeps the events
        well resolved (see ``max_event_prob`` in ``sample_stats``).
    a, b : float
        Transport (Langevin) and reaction (birth-death) weights, >= 0 and not both 0
        (default 1, 1 as in Lu, Lu & Nolen).  ``b = 0`` is plain ULA, ``a = 0`` pure
        birth-death (which only reweights the initial cloud).
    bandwidth : {"silverman", "knn"} or float or array of shape (dim,)
        KDE bandwidth: the rule of thumb on the particles' per-coordinate spread (default),
        the local k-nearest-neighbour scale (for multimodal targets, spec correction
        2.10.1), or fixed widths (> 0).
    h_scale : float
        Multiplier of the data-driven bandwidths (> 0, default 1).
    knn : int, optional
        Neighbour rank of ``bandwidth="knn"`` (default ``ceil(sqrt(N))``).
    rate : {"kde", "blob", "kde_corrected"}
        Rate estimator: Lu-Lu-Nolen's ``log rho_hat + V`` (default); the kernelized-energy
        rate of Lu, Slepcev & Wang (``"blob"``, one more pairwise pass); or the bias-corrected
        rate of Pampel et al. (``"kde_corrected"``, ``dim <= 2``): ``log rho_hat + V - c`` with
        ``c = log((K_h * pi) / pi)``, i.e. ``log rho_hat - log(K_h * pi~)``, which compares
        the KDE with the target smoothed by the same kernel, so it vanishes at ``rho = pi``
        (the plain KDE rate does not: it over-depletes barriers by ``O(h^2)``).  The target
        is evaluated on a grid of spacing ``h/2`` over the particles' box each step (more
        model calls, counted in ``n_evals``).
    include_self : bool
        Include ``j = i`` in the KDE (default True; the public bdld code excludes it).
    splitting : {"lie", "strang"}
        Move then birth-death (default), or half birth-death, move, half birth-death.
    max_event_prob : float
        Safeguard cap on an event's probability in (0, 1] (default 1: no cap).  Capping
        biases the transient (spec correction 2.10.2); ``n_capped`` counts how often it binds.
    kde : {"auto", "exact", "window", "binned"}
        KDE evaluation: every pair (``exact``), pairs within 9 bandwidths along the first
        coordinate (``window``, same result to 1e-15), or linear binning on a grid of
        spacing ``h/32`` (``binned``, 1-D only, about 1e-4 in ``log rho_hat``).  ``auto``
        (default) is ``binned`` in 1-D and ``exact`` otherwise.
    init_scale : float
        Initial particles uniform on ``[-init_scale, init_scale]^dim`` (default 4: an
        overdispersed start, see the support problem in the module notes).
    particle_history : bool
        Keep every iteration's particles (``n_steps * N * dim`` floats per replicate).
    metropolis : bool
        Metropolis-adjust the Langevin move (MALA, default True): each particle's proposal
        is accepted with the MALA probability, so a step too large for the target (a stiff
        posterior, a start far in the tails) is rejected instead of diverging, and the move
        leaves ``pi`` invariant (no ULA bias).  False is Lu, Lu & Nolen's unadjusted move.
    precondition : bool
        Diagonal preconditioner for the move (default True): the drift and noise of
        coordinate ``k`` are scaled by ``sc_k^2`` and ``sc_k``, the particles' standard
        deviation in that coordinate (recomputed every step), so coordinates on very
        different scales (arK: posterior sds 0.008 to 0.09) move alike.
    adapt_step : bool
        With ``metropolis``, adapt a global factor ``lambda`` of the move's step every
        iteration (Robbins-Monro on the population's acceptance rate, target 0.574),
        reported as ``step_scale`` (default True).  The move's step is then
        ``a * step_size * lambda * sc^2`` while the birth-death events keep ``step_size``.
        With ``metropolis=False, precondition=False`` (and any ``adapt_step``) the step is
        exactly the flow of the module notes, whose Gaussian moment ODEs the tests check.

    Examples
    --------
    >>> import geobayes
    >>> tr = geobayes.sample("mixture_2d", method="shk", n_particles=200, n_steps=50,
    ...                      chains=1, seed=0, progress=False)
    >>> tr.posterior["x"].shape
    (1, 200, 2)
    """

    n_particles: int = 1000
    n_steps: int = 1000
    step_size: float = 0.01
    a: float = 1.0
    b: float = 1.0
    bandwidth: object = "silverman"
    h_scale: float = 1.0
    knn: int | None = None
    rate: str = "kde"
    include_self: bool = True
    splitting: str = "lie"
    max_event_prob: float = 1.0
    kde: str = "auto"
    init_scale: float | None = 4.0
    metropolis: bool = True
    precondition: bool = True
    adapt_step: bool = True

    name: ClassVar[str] = "shk"
    weighted: ClassVar[bool] = False
    extra_stat_names: ClassVar[tuple[str, ...]] = SHK_STAT_NAMES
    stat_names: ClassVar[tuple[str, ...]] = ("diverging", "n_evals", *SHK_STAT_NAMES)

    def __post_init__(self):
        super().__post_init__()
        if self.n_particles < MIN_PARTICLES:
            raise ValueError(
                f"n_particles must be >= {MIN_PARTICLES} for the kernel density estimate of "
                f"SHK, got {self.n_particles}"
            )
        _positive("step_size", self.step_size)
        _positive("a", self.a, allow_zero=True)
        _positive("b", self.b, allow_zero=True)
        if self.a == 0 and self.b == 0:
            raise ValueError(
                "a and b are both 0, so nothing moves; set a > 0 (Langevin transport), "
                "b > 0 (birth-death) or both (a = b = 1 is Lu, Lu & Nolen's sampler)"
            )
        _positive("h_scale", self.h_scale)
        bw = self.bandwidth
        if isinstance(bw, str):
            if bw not in _BANDWIDTHS:
                raise ValueError(
                    f"bandwidth must be 'silverman', 'knn' or a positive number, got {bw!r}"
                )
        else:
            arr = np.atleast_1d(np.asarray(bw, dtype=float)) if not isinstance(bw, bool) else None
            if arr is None or arr.ndim != 1 or not np.all(np.isfinite(arr)) or np.any(arr <= 0):
                raise ValueError(
                    "bandwidth must be 'silverman', 'knn', a positive number or an array of "
                    f"positive widths (one per dimension), got {bw!r}"
                )
        if self.knn is not None and (
            isinstance(self.knn, bool) or not isinstance(self.knn, (int, np.integer))
            or not 1 <= self.knn < self.n_particles
        ):  # fmt: skip
            raise ValueError(f"knn must be an integer in [1, n_particles), got {self.knn!r}")
        for name, table in (("rate", _RATES), ("splitting", _SPLITTINGS)):
            if getattr(self, name) not in table:
                raise ValueError(
                    f"{name} must be one of {', '.join(map(repr, table))}, "
                    f"got {getattr(self, name)!r}"
                )
        if self.kde not in _KDE_MODES:
            raise ValueError(f"kde must be one of {', '.join(_KDE_MODES)}, got {self.kde!r}")
        _positive("max_event_prob", self.max_event_prob)
        if self.max_event_prob > 1:
            raise ValueError(f"max_event_prob must be in (0, 1], got {self.max_event_prob}")
        if self.init_scale is None:
            object.__setattr__(self, "init_scale", 4.0)

    @property
    def step_fn(self):
        """The jitted population step (type ``POP_STEP``)."""
        return shk_step

    def params_array(self, model, rng=None) -> np.ndarray:
        """The step's parameter vector for ``model`` (checks the KDE needs against ``dim``)."""
        d = model.dim
        n = self.n_particles
        if n < 2 * d + 2:
            raise ValueError(
                f"n_particles={n} is too few for a kernel density estimate in dim {d}; "
                f"use at least {2 * d + 2} (and many more: KDE quality needs N >> d)"
            )
        if self.kde == "binned" and d != 1:
            raise ValueError(f"kde='binned' is for 1-D targets, the model has dim {d}")
        if self.rate == "kde_corrected" and d > 2:
            raise ValueError(
                f"rate='kde_corrected' evaluates the target on a grid, so it is for dim <= 2; "
                f"the model has dim {d}: use rate='kde' or rate='blob'"
            )
        p = np.zeros(N_PARAMS + d)
        p[P_A], p[P_B], p[P_DT] = self.a, self.b, self.step_size
        p[P_HSCALE] = self.h_scale
        p[P_RATE] = _RATES[self.rate]
        p[P_SELF] = 1.0 if self.include_self else 0.0
        p[P_SPLIT] = _SPLITTINGS[self.splitting]
        p[P_PMAX] = self.max_event_prob
        p[P_MOVE] = MOVE_MALA if self.metropolis else MOVE_ULA
        p[P_PRECOND] = 1.0 if self.precondition else 0.0
        p[P_ADAPT] = 1.0 if (self.adapt_step and self.metropolis) else 0.0
        p[P_KNN] = self.knn if self.knn is not None else math.ceil(math.sqrt(n))
        p[P_CUTOFF] = _WINDOW_CUTOFF if self.kde in ("window", "binned", "auto") else np.inf
        binned = self.kde == "binned" or (self.kde == "auto" and d == 1)
        p[P_BIN] = _BIN_PER_H if binned else 0
        if self.kde == "auto" and d > 1:
            p[P_CUTOFF] = np.inf
        if isinstance(self.bandwidth, str):
            p[P_BW] = _BANDWIDTHS[self.bandwidth]
        else:
            h = np.atleast_1d(np.asarray(self.bandwidth, dtype=float))
            if h.size == 1:
                h = np.full(d, h[0])
            if h.shape != (d,):
                raise ValueError(f"bandwidth needs 1 or {d} widths for dim {d}, got {h.size}")
            p[P_BW] = BW_FIXED
            p[N_PARAMS:] = h
        return p

    def error_message(self, code: int, model) -> str:
        """Message for a fatal status of :func:`shk_step`."""
        if code == STATUS_GRID_TOO_LARGE:
            return (
                f"shk: rate='kde_corrected' needs the target of {model.name!r} on a grid over "
                f"the particles, which would exceed {_CORR_MAX_GRID} points even at spacing h "
                "(particles spread over more than about 1000 bandwidths); use rate='kde', a "
                "larger bandwidth/h_scale, or initial particles in a smaller box"
            )
        return super().error_message(code, model)

    def initial_aux(self, n: int, d: int) -> np.ndarray:
        """``[0 (not yet evaluated), lp (N), grad (N*d)]``."""
        return np.zeros(aux_size(n, d))

    def memory_bytes(self, n: int, d: int) -> int:
        """``O(N d)``: state, sorted copies and scratch (no ``N x N`` matrix)."""
        return 8 * (6 * n * (d + 1) + 64 * n)
