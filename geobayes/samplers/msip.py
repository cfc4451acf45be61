r"""MSIP: mean shift interacting particles, a weighted MMD quadrature rule for a target.

Belhadji, Sharp & Marzouk, "To discretize continually: mean shift interacting particle
systems for Bayesian inference" (arXiv 2605.14142) and "Weighted quantization using MMD:
from mean field to mean shift via gradient flows" (arXiv 2502.10600); spec
``samplers.md`` §1 with the corrections of §1.12.

MSIP moves ``N`` nodes ``Y`` so that the weighted rule ``sum_i w_i delta_{y_i}`` minimizes
the MMD to ``pi`` for the RBF kernel ``k_sigma``.  With the kernel mean embedding
``v0(y) = int k(y, x) pi(dx)`` and the mean-shift vector ``m(y) = v1(y)/v0(y) - y``, one
iteration is the relaxed fixed point

.. math::

    T(Y)_i = \frac{\sum_j A_{ij} v_0(y_j) (y_j + m(y_j))}{\sum_j A_{ij} v_0(y_j)},\quad
    A = (K + \tau I)^{-1},\quad
    y_i \leftarrow y_i + \eta\, \mathrm{cap}(T(Y)_i - y_i),

with weights ``w_i = den_i / sum_j den_j`` (they sum to one and may be negative).
Numerator and denominator both scale with ``1/Z``, so the dynamics do not depend on the
normalizing constant: ``log v0`` is kept in log space, the right-hand side is scaled by
``exp(log v0 - max log v0)`` and rows whose denominator underflows are recomputed in log
space from the row of ``A`` (a signed log-sum-exp *with* its shift added back, the
pitfall of spec §1.7).

Estimators of ``(log v0, m)`` at a node ``y`` (spec §1.4), with an inner rule
``(z_q, omega_q)`` for ``N(0, I)``, ``x_q = y + sigma z_q``, ``l_q = log omega_q + log
pi~(x_q)`` and ``s = softmax(l)``:

* ``"gradient_free"``: ``log v0 = logsumexp(l)``, ``m = sum_q s_q sigma z_q``;
* ``"gradient_informed"``: same ``log v0``, ``m = sum_q s_q [(1-gamma) sigma z_q + gamma
  sigma^2 grad log pi~(x_q)]``;
* ``"point"``: ``log v0 = log pi~(y)``, ``m = gamma sigma^2 grad log pi~(y)`` (bias
  ``O(sigma^2)``: on a Gaussian the rule's covariance is ``S - sigma^2 I``);
* ``"exact"``: closed forms for a Gaussian (mixture) target that carries them (tests);
* ``"empirical"``: kernel sums over a data set (quantization, :func:`quantize`).

Defaults follow spec §1.12 (the ones of §1.6 failed on a prototype): nugget ``tau =
1e-3`` raised x10 on a failed Cholesky, relaxation ``eta = 0.5`` with a displacement cap of
one bandwidth, bandwidth = median nearest-neighbour distance of the current particles
(recomputed every ``bandwidth_every`` iterations), gradient-informed estimator with
``gamma = 1`` and one shared symmetric inner rule (``+-e_i`` times 3 Gauss-Laguerre radii);
``backtrack=True`` halves ``eta`` until ``log G = log v0' (K + tau I)^-1 v0`` does not
decrease (``MMD^2 = c - G/Z^2``: monotone MMD for deterministic estimators).

Scale-aware defaults (``precondition=True``, adaptive bandwidth; added after posteriordb's
arK, eight schools and gp_pois_regr defeated the isotropic kernel): at each refresh of the
bandwidth (iterations 0, 1, 2, 4, 8, then every ``bandwidth_every``) the coordinate scales
``sc_k = max(sd_k, 1/rms_k(grad log pi~))`` (the particles' spread, floored by the target's
local scale) are computed, and when they differ by more than a factor 10 the kernel acts
on ``x / sc`` -- exact MSIP for the Gaussian kernel of covariance ``sigma^2 diag(sc^2)``,
so ``Z``-invariance and the fixed-point derivation are unchanged; otherwise it stays
isotropic (preconditioning a well-scaled 10-D Gaussian made 2 of 5 runs blow up).
A gradient-informed shift longer, in the kernel's coordinates, than the farthest inner
node means the rule does not resolve the target at this bandwidth (a particle far in a
steep tail, where ``sigma^2 grad`` at the best node points anywhere); that particle takes
the gradient-free estimate instead.  When no inner node of any particle has a finite
density the adaptive bandwidth is halved (at the current particles up to 40 times; after
a move, the move is refused and the next iteration uses half the bandwidth) before the run
stops with an error.

Examples
--------
>>> import geobayes
>>> trace = geobayes.sample("mixture_2d", method="msip", n_particles=30, n_steps=100,
...                         chains=1, seed=0, progress=False)
>>> w = trace.sample_stats["weight"].values
>>> w.shape, round(float(w.sum()), 12)
((1, 30), 1.0)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from numba import float64, int64, njit, types

from geobayes._lazy import lazy_njit
from geobayes.math.kde import column_sd
from geobayes.math.kernels import median_nn_distance, rbf_gram
from geobayes.math.mmd import embedding, mixture_c, pack_mixture, prepare
from geobayes.math.quadrature import axes_rule, mc_rule, spherical_rule
from geobayes.samplers._population import N_FIXED_STATS, POP_STEP_SIG
from geobayes.samplers.particle import ParticleMethod
from geobayes.types import LPG

__all__ = ["MSIP", "msip_step", "embeddings", "ESTIMATORS", "quantize"]

#: Estimator names -> code read by the kernel.
ESTIMATORS = {
    "gradient_free": 0,
    "gradient_informed": 1,
    "point": 2,
    "exact": 3,
    "empirical": 4,
}
_QUADRATURES = ("axes", "spherical", "mc", "mc_antithetic")

# params header layout
_P_EST, _P_GAMMA, _P_SIGMA, _P_EVERY, _P_TAU, _P_ETA, _P_CAP, _P_BACK, _P_Q, _P_NMIX = range(10)
_P_MAXHALF = 10
_P_PRECOND = 11  # 1: kernel on coordinates standardized by the particles' spread
_P_HEADER = 12
# aux header layout
_A_ITER, _A_SIGMA, _A_LOGG, _A_VALID, _A_C, _A_CSIGMA = range(6)
_A_HEADER = 8
# after the header: log v0 (N), m (N d), T (N d), then the coordinate scales s (d)
_SIGMA_HALVINGS = 40  # adaptive bandwidth halved up to this often when no node has a density
_SCALE_RATIO = 10.0  # precondition only when the coordinate scales differ more than this
_EARLY_REFRESH = 16  # bandwidth/scales also refreshed at iterations 1, 2, 4, 8 (< this)
_WILD_ABS_SUM = 5.0  # sum |w| above this (negative mass > 2): the rule is not trusted

#: Fatal status codes of the step.
STATUS_SINGULAR = 1
STATUS_NO_DENSITY = 2
_NUGGET_RAISES = 8  # tau0 * 10**8 at most

_EXTRA_STATS = (
    "mmd",
    "log_g",
    "bandwidth",
    "nugget",
    "relaxation",
    "n_backtracks",
    "max_shift",
    "n_negative_weights",
)


@njit(cache=True, nogil=True)
def _embed_one(y, m_out, sigma, sc, lpg, fdata, idata, params, est, prep, work):
    """``(log v0(y), n_evals)``; writes ``m(y)`` into ``m_out``.

    ``sc`` (d,) are the coordinate scales of the kernel: its covariance is
    ``sigma^2 diag(sc^2)`` (all ones without preconditioning; the exact and empirical
    estimators are only used with ones).
    """
    d = y.shape[0]
    gamma = params[_P_GAMMA]
    if est == 3:  # exact Gaussian-mixture embedding
        return embedding(prep, y, m_out, work), 0
    if est == 4:  # empirical target: fdata = data (n, d) row-major
        n = idata[0]
        c = -0.5 / (sigma * sigma)
        amax = -np.inf
        for i in range(n):
            s = 0.0
            for k in range(d):
                t = y[k] - fdata[i * d + k]
                s += t * t
            work[i] = c * s
            if work[i] > amax:
                amax = work[i]
        tot = 0.0
        for k in range(d):
            m_out[k] = 0.0
        for i in range(n):
            e = math.exp(work[i] - amax)
            tot += e
            for k in range(d):
                m_out[k] += e * fdata[i * d + k]
        for k in range(d):
            m_out[k] = m_out[k] / tot - y[k]
        return amax + math.log(tot) - math.log(n), 0
    if est == 2:  # point estimator
        lp, g = lpg(y, fdata, idata)
        if not math.isfinite(lp):
            for k in range(d):
                m_out[k] = 0.0
            return -np.inf, 1
        s2g = gamma * sigma * sigma
        for k in range(d):
            m_out[k] = s2g * sc[k] * sc[k] * g[k] if math.isfinite(g[k]) else 0.0
        return lp, 1
    # quadrature estimators
    q_n = int(params[_P_Q])
    z0 = _P_HEADER
    w0 = _P_HEADER + q_n * d
    x = np.empty(d)
    for k in range(d):
        m_out[k] = 0.0
    amax = -np.inf
    gi = est == 1
    for q in range(q_n):
        for k in range(d):
            x[k] = y[k] + sigma * sc[k] * params[z0 + q * d + k]
        lp, g = lpg(x, fdata, idata)
        lq = math.log(params[w0 + q]) + lp if math.isfinite(lp) else -np.inf
        work[q] = lq
        if lq == -np.inf:
            continue
        # running softmax-weighted sum (rescale when the max grows)
        if lq > amax:
            scale = math.exp(amax - lq) if amax > -np.inf else 0.0
            for k in range(d):
                m_out[k] *= scale
            work[q_n] = work[q_n] * scale if amax > -np.inf else 0.0
            amax = lq
        e = math.exp(lq - amax)
        work[q_n] += e
        for k in range(d):
            zk = sigma * sc[k] * params[z0 + q * d + k]
            if gi:
                gk = g[k] if math.isfinite(g[k]) else 0.0
                m_out[k] += e * ((1.0 - gamma) * zk + gamma * sigma * sigma * sc[k] * sc[k] * gk)
            else:
                m_out[k] += e * zk
    if amax == -np.inf:
        work[q_n] = 0.0
        return -np.inf, q_n
    tot = work[q_n]
    work[q_n] = 0.0
    if gi:
        # an implausible gradient-informed shift, longer (in the kernel's coordinates) than
        # the farthest inner node: the rule does not resolve the target at this bandwidth
        # (a particle far in a steep tail, where sigma^2 grad at the best node points
        # anywhere); take the gradient-free estimate (towards the best nodes) instead
        r2 = 0.0
        zmax = 0.0
        for k in range(d):
            t = m_out[k] / (tot * sigma * sc[k])
            r2 += t * t
        for q in range(q_n):
            zz = 0.0
            for k in range(d):
                zz += params[z0 + q * d + k] ** 2
            zmax = max(zmax, zz)
        if r2 > zmax:
            for k in range(d):
                m_out[k] = 0.0
            for q in range(q_n):
                if work[q] > -np.inf:
                    e = math.exp(work[q] - amax)
                    for k in range(d):
                        m_out[k] += e * sigma * sc[k] * params[z0 + q * d + k]
    for k in range(d):
        m_out[k] /= tot
    return amax + math.log(tot), q_n


@njit(cache=True, nogil=True)
def _embed_all(x, lv0, mm, sigma, sc, lpg, fdata, idata, params):
    """Estimator at every particle; returns the number of model evaluations."""
    n, d = x.shape
    est = int(params[_P_EST])
    q_n = int(params[_P_Q])
    nmix = int(params[_P_NMIX])
    if est == 3:
        mix = params[_P_HEADER + q_n * d + q_n : _P_HEADER + q_n * d + q_n + nmix]
        prep = prepare(np.ascontiguousarray(mix), sigma)
        work = np.empty(int(mix[0]))
    else:
        prep = np.empty(0)
        work = np.empty(max(q_n + 1, idata[0] if est == 4 else 1))
    if est != 3 and est != 4:
        work[q_n] = 0.0
    evals = 0
    for i in range(n):
        lv, ne = _embed_one(x[i], mm[i], sigma, sc, lpg, fdata, idata, params, est, prep, work)
        lv0[i] = lv if not math.isnan(lv) else -np.inf
        evals += ne
    return evals


@lazy_njit(
    int64(
        float64[:, ::1],
        float64,
        LPG,
        float64[::1],
        int64[::1],
        float64[::1],
        float64[::1],
        float64[:, ::1],
    ),
    cache=True,
    nogil=True,
)
def embeddings(x, sigma, lpg, fdata, idata, params, lv0_out, m_out):
    """``log v0`` and ``m`` at every row of ``x`` with the estimator in ``params``.

    ``params`` is :meth:`MSIP.params_array`; returns the number of model evaluations.
    One compiled kernel for every model (tests and benchmarks call it directly).
    """
    return _embed_all(x, lv0_out, m_out, sigma, np.ones(x.shape[1]), lpg, fdata, idata, params)


@njit(cache=True, nogil=True)
def _cholesky(kmat, tau0):
    """Cholesky of ``K + tau I`` with ``tau`` raised x10 on failure: ``(L, tau, ok)``."""
    n = kmat.shape[0]
    tau = tau0
    for _ in range(_NUGGET_RAISES + 1):
        a = kmat.copy()
        for i in range(n):
            a[i, i] += tau
        ok = True
        try:
            low = np.linalg.cholesky(a)
        except Exception:  # noqa: BLE001 - Numba raises LinAlgError, caught as Exception
            ok = False
            low = a
        if ok:
            for i in range(n):  # LAPACK lets NaN through
                if not (low[i, i] > 0.0 and math.isfinite(low[i, i])):
                    ok = False
        if ok:
            return low, tau, True
        tau *= 10.0
    return kmat, tau, False


_BLOCK = 64  # rows per block of the triangular solves (off-diagonal blocks go to BLAS gemm)


@njit(cache=True, nogil=True)
def _chol_solve(low, b):
    """Solve ``L L' X = B`` in place of ``B`` (shape ``(n, m)``), blocked.

    Off-diagonal blocks are matrix products (BLAS ``gemm`` through ``np.dot``); only the
    ``_BLOCK``-row diagonal blocks are substituted in scalar loops.
    """
    n, m = b.shape
    for i0 in range(0, n, _BLOCK):  # forward: L y = b
        i1 = min(i0 + _BLOCK, n)
        if i0 > 0:
            b[i0:i1] -= np.dot(np.ascontiguousarray(low[i0:i1, :i0]), b[:i0])
        for i in range(i0, i1):
            for k in range(i0, i):
                lik = low[i, k]
                for c in range(m):
                    b[i, c] -= lik * b[k, c]
            inv = 1.0 / low[i, i]
            for c in range(m):
                b[i, c] *= inv
    for i1 in range(n, 0, -_BLOCK):  # backward: L' x = y
        i0 = max(i1 - _BLOCK, 0)
        if i1 < n:
            blk = np.ascontiguousarray(low[i1:, i0:i1])
            b[i0:i1] -= np.dot(blk.T, b[i1:])
        for i in range(i1 - 1, i0 - 1, -1):
            inv = 1.0 / low[i, i]
            for c in range(m):
                b[i, c] *= inv
            for k in range(i0, i):
                lik = low[i, k]
                for c in range(m):
                    b[k, c] -= lik * b[i, c]


@njit(cache=True, nogil=True)
def _log_row(low, i, x, lv0, mm, t_out):
    """Row ``i`` of the map in log space from the row of ``A``: ``(log|den|, sign)``."""
    n, d = x.shape
    e = np.zeros((n, 1))
    e[i, 0] = 1.0
    _chol_solve(low, e)
    amax = -np.inf
    for j in range(n):
        if e[j, 0] != 0.0 and lv0[j] > -np.inf:
            v = math.log(abs(e[j, 0])) + lv0[j]
            if v > amax:
                amax = v
    if amax == -np.inf:
        return -np.inf, 0.0
    den = 0.0
    for k in range(d):
        t_out[k] = 0.0
    for j in range(n):
        if e[j, 0] != 0.0 and lv0[j] > -np.inf:
            c = math.copysign(math.exp(math.log(abs(e[j, 0])) + lv0[j] - amax), e[j, 0])
            den += c
            for k in range(d):
                t_out[k] += c * (x[j, k] + mm[j, k])
    if den == 0.0:
        return -np.inf, 0.0
    for k in range(d):
        t_out[k] /= den
    return amax + math.log(abs(den)), math.copysign(1.0, den)


@njit(cache=True, nogil=True)
def _weigh(x, lv0, mm, kmat, tau0, t_out, w_out):
    """Map ``T`` and signed normalized weights at ``x``.

    Returns ``(status, log G, tau, diverging)``; ``w_out`` is left untouched when the
    weights cannot be normalized (``diverging``).
    """
    n, d = x.shape
    lvmax = -np.inf
    for j in range(n):
        if lv0[j] > lvmax:
            lvmax = lv0[j]
    if lvmax == -np.inf or not math.isfinite(lvmax):
        return STATUS_NO_DENSITY, math.nan, tau0, True
    low, tau, ok = _cholesky(kmat, tau0)
    if not ok:
        return STATUS_SINGULAR, math.nan, tau, True
    b = np.empty((n, d + 1))
    bscale = np.empty(n)
    for j in range(n):
        s = math.exp(lv0[j] - lvmax) if lv0[j] > -np.inf else 0.0
        bscale[j] = s
        for k in range(d):
            b[j, k] = s * (x[j, k] + mm[j, k]) if s > 0.0 else 0.0
        b[j, d] = s
    _chol_solve(low, b)
    g = 0.0
    for j in range(n):
        g += bscale[j] * b[j, d]
    log_g = 2.0 * lvmax + math.log(g) if g > 0.0 else -np.inf
    la = np.empty(n)
    sg = np.empty(n)
    for i in range(n):
        den = b[i, d]
        good = math.isfinite(den) and abs(den) > 1e-250
        if good:
            for k in range(d):
                t_out[i, k] = b[i, k] / den
                if not math.isfinite(t_out[i, k]):
                    good = False
        if good:
            la[i] = math.log(abs(den)) + lvmax
            sg[i] = math.copysign(1.0, den)
        else:
            la[i], sg[i] = _log_row(low, i, x, lv0, mm, t_out[i])
            if sg[i] == 0.0:  # no information at all: stay put
                for k in range(d):
                    t_out[i, k] = x[i, k]
    amax = -np.inf
    for i in range(n):
        if la[i] > amax:
            amax = la[i]
    tot = 0.0
    wn = np.empty(n)
    for i in range(n):
        wn[i] = sg[i] * math.exp(la[i] - amax) if la[i] > -np.inf else 0.0
        tot += wn[i]
    if not (tot > 0.0 and math.isfinite(tot)):
        return 0, log_g, tau, True
    for i in range(n):
        w_out[i] = wn[i] / tot
    return 0, log_g, tau, False


@njit(cache=True, nogil=True)
def _scaled_mixture(mix, sc):
    """The packed mixture ``[k, d, a, mu, S]`` in the coordinates ``x / sc``."""
    k = int(mix[0])
    d = int(mix[1])
    out = mix.copy()
    o = 2 + k
    for c in range(k):
        for i in range(d):
            out[o + c * d + i] = mix[o + c * d + i] / sc[i]
    o = 2 + k + k * d
    for c in range(k):
        for i in range(d):
            for j in range(d):
                out[o + c * d * d + i * d + j] = mix[o + c * d * d + i * d + j] / (sc[i] * sc[j])
    return out


@njit(cache=True, nogil=True)
def _exact_mmd(x, w, kmat, sigma, params, aux, fdata, idata, lv0, sc):
    """Exact MMD of the rule when the target allows (mixture closed form, empirical).

    With preconditioning (``sc`` not all ones) the kernel acts on ``x / sc``, and so does
    the closed form: the mixture is transformed to those coordinates.
    """
    n, d = x.shape
    est = int(params[_P_EST])
    q_n = int(params[_P_Q])
    nmix = int(params[_P_NMIX])
    quad = 0.0
    for i in range(n):
        for j in range(n):
            quad += w[i] * w[j] * kmat[i, j]
    if nmix > 0:
        mix = np.ascontiguousarray(
            params[_P_HEADER + q_n * d + q_n : _P_HEADER + q_n * d + q_n + nmix]
        )
        if params[_P_PRECOND] > 0.0:
            mix = _scaled_mixture(mix, sc)
            x = x.copy()
            for i in range(n):
                for k in range(d):
                    x[i, k] /= sc[k]
        if aux[_A_CSIGMA] != sigma:
            aux[_A_C] = mixture_c(mix, sigma)
            aux[_A_CSIGMA] = sigma
        prep = prepare(mix, sigma)
        work = np.empty(int(mix[0]))
        mtmp = np.empty(d)
        lin = 0.0
        for i in range(n):
            lin += w[i] * math.exp(embedding(prep, x[i], mtmp, work))
    elif est == 4:
        nd = idata[0]
        if aux[_A_CSIGMA] != sigma:
            c = -0.5 / (sigma * sigma)
            acc = 0.0
            for a in range(nd):
                for b in range(nd):
                    s = 0.0
                    for k in range(d):
                        t = fdata[a * d + k] - fdata[b * d + k]
                        s += t * t
                    acc += math.exp(c * s)
            aux[_A_C] = acc / (nd * nd)
            aux[_A_CSIGMA] = sigma
        lin = 0.0
        for i in range(n):
            lin += w[i] * math.exp(lv0[i])
    else:
        return math.nan
    v = quad - 2.0 * lin + aux[_A_C]
    return math.sqrt(v) if v > 0.0 else 0.0


@njit(cache=True, nogil=True)
def _scaled(x, sc):
    """``x / sc`` row by row (the coordinates the kernel acts on)."""
    n, d = x.shape
    u = np.empty((n, d))
    for i in range(n):
        for k in range(d):
            u[i, k] = x[i, k] / sc[k]
    return u


@njit(cache=True, nogil=True)
def _refresh_scales(x, sc, lpg, fdata, idata):
    """Refresh the coordinate scales ``sc``; returns the model evaluations (``N``).

    ``sc_k = max(sd_k, 1 / rms_k(grad))``: the particles' spread, floored by the local
    scale of the target, ``1 / sqrt(mean_i (d log pi / d x_k)(x_i)^2)`` (for a Gaussian
    target at equilibrium, the conditional standard deviations).  The floor stops a
    coordinate in which the particles have (nearly) collapsed from shrinking the kernel
    until the estimator no longer sees the target's spread in it; the spread wins while
    the particles are still far out (large gradients).  Kept where neither is usable.
    """
    n, d = x.shape
    g2 = np.zeros(d)
    m = 0
    for i in range(n):
        lp, g = lpg(x[i], fdata, idata)
        ok = math.isfinite(lp)
        for k in range(d):
            if not math.isfinite(g[k]):
                ok = False
        if ok:
            m += 1
            for k in range(d):
                g2[k] += g[k] * g[k]
    for k in range(d):
        sd = column_sd(x, k, 0)
        if m > 0 and g2[k] > 0.0:
            sd = max(sd, 1.0 / math.sqrt(g2[k] / m))
        if sd > 0.0 and math.isfinite(sd):
            sc[k] = sd
    return n


@lazy_njit(POP_STEP_SIG, cache=True, nogil=True)
def msip_step(rng, x, w, aux, lpg, fdata, idata, params, stats):
    """One relaxed MSIP iteration (see the module docstring); deterministic, ``rng`` unused.

    ``aux`` caches ``log v0``, ``m`` and ``T`` at the current particles, so each iteration
    costs one estimator pass and one Cholesky at the new particles.  With
    preconditioning the kernel's covariance is ``sigma^2 diag(sc^2)``, ``sc`` the
    particles' per-coordinate spread kept in ``aux`` and refreshed with the bandwidth.
    """
    n, d = x.shape
    it = int(aux[_A_ITER])
    lv0 = aux[_A_HEADER : _A_HEADER + n]
    mm = aux[_A_HEADER + n : _A_HEADER + n + n * d].reshape((n, d))
    tt = aux[_A_HEADER + n + n * d : _A_HEADER + n + 2 * n * d].reshape((n, d))
    sc = aux[_A_HEADER + n + 2 * n * d : _A_HEADER + n + 2 * n * d + d]
    sigma_fixed = params[_P_SIGMA]
    every = int(params[_P_EVERY])
    tau0 = params[_P_TAU]
    eta0 = params[_P_ETA]
    cap = params[_P_CAP]
    backtrack = params[_P_BACK] > 0.0
    max_half = int(params[_P_MAXHALF])
    precond = params[_P_PRECOND] > 0.0
    evals = 0
    # bandwidth (and coordinate scales), refreshed every `every` iterations and, early on,
    # at iterations 1, 2, 4, 8 while the population contracts from its start
    sigma = aux[_A_SIGMA]
    if sigma_fixed > 0.0:
        sigma = sigma_fixed
    elif (
        sigma <= 0.0
        or (every > 0 and it % every == 0)
        or (it < _EARLY_REFRESH and it > 0 and (it & (it - 1)) == 0)
    ):
        if precond:
            evals += _refresh_scales(x, sc, lpg, fdata, idata)
            lo = np.inf
            hi = 0.0
            for k in range(d):
                lo = min(lo, sc[k])
                hi = max(hi, sc[k])
            if hi < _SCALE_RATIO * lo:  # well scaled: keep the isotropic kernel
                sc[:] = 1.0
            aux[_A_VALID] = 0.0
            aux[_A_CSIGMA] = -1.0
        s = median_nn_distance(_scaled(x, sc))
        if s > 0.0 and math.isfinite(s):
            sigma = s
        elif not sigma > 0.0:
            sigma = 1.0
    if sigma != aux[_A_SIGMA]:
        aux[_A_VALID] = 0.0
        aux[_A_SIGMA] = sigma
    diverging = False
    tau = tau0
    # map at the current particles (cached from the previous iteration when valid)
    if aux[_A_VALID] == 0.0:
        n_try = 0
        while True:
            evals += _embed_all(x, lv0, mm, sigma, sc, lpg, fdata, idata, params)
            kmat = rbf_gram(_scaled(x, sc), sigma)
            status, log_g, tau, div = _weigh(x, lv0, mm, kmat, tau0, tt, w)
            # no inner node has a finite density: an adaptive bandwidth is too wide for
            # where the particles are (a start far in the tails); halve it
            if status != STATUS_NO_DENSITY or sigma_fixed > 0.0 or n_try >= _SIGMA_HALVINGS:
                break
            sigma *= 0.5
            n_try += 1
        aux[_A_SIGMA] = sigma
        if status != 0:
            stats[0] = 1.0
            stats[1] = evals
            return status
        aux[_A_LOGG] = log_g
        aux[_A_VALID] = 1.0
        diverging = diverging or div
    log_g_old = aux[_A_LOGG]
    # relaxed, capped move (the cap is in the kernel's coordinates)
    disp = np.empty((n, d))
    max_shift = 0.0
    for i in range(n):
        s = 0.0
        for k in range(d):
            disp[i, k] = tt[i, k] - x[i, k]
            s += (disp[i, k] / sc[k]) ** 2
        s = math.sqrt(s)
        if cap > 0.0 and s > cap * sigma:
            f = cap * sigma / s
            for k in range(d):
                disp[i, k] *= f
            s = cap * sigma
        if s > max_shift:
            max_shift = s
    eta = eta0
    n_half = 0
    xn = np.empty((n, d))
    lv0n = np.empty(n)
    mmn = np.empty((n, d))
    ttn = np.empty((n, d))
    wn = w.copy()
    while True:
        for i in range(n):
            for k in range(d):
                xn[i, k] = x[i, k] + eta * disp[i, k]
        evals += _embed_all(xn, lv0n, mmn, sigma, sc, lpg, fdata, idata, params)
        kmat = rbf_gram(_scaled(xn, sc), sigma)
        status, log_g, tau, div = _weigh(xn, lv0n, mmn, kmat, tau0, ttn, wn)
        if status == STATUS_NO_DENSITY and sigma_fixed <= 0.0 and sigma > 1e-12:
            # the move left every inner node without a density: stay, and halve the
            # adaptive bandwidth for the next iteration
            aux[_A_SIGMA] = 0.5 * sigma
            aux[_A_VALID] = 0.0
            aux[_A_ITER] = it + 1
            stats[0] = 1.0
            stats[1] = evals
            stats[N_FIXED_STATS] = math.nan
            stats[N_FIXED_STATS + 1] = aux[_A_LOGG]
            stats[N_FIXED_STATS + 2] = sigma
            stats[N_FIXED_STATS + 3] = tau
            return 0
        if status != 0:
            stats[0] = 1.0
            stats[1] = evals
            return status
        if not backtrack or log_g >= log_g_old or n_half >= max_half:
            break
        eta *= 0.5
        n_half += 1
    accept = not backtrack or log_g >= log_g_old
    if accept:
        x[:, :] = xn
        lv0[:] = lv0n
        mm[:, :] = mmn
        tt[:, :] = ttn
        aux[_A_LOGG] = log_g
        if not div:
            w[:] = wn
        diverging = diverging or div
    else:
        eta = 0.0
    aux[_A_ITER] = it + 1
    n_neg = 0
    for i in range(n):
        if w[i] < 0.0:
            n_neg += 1
    mmd = _exact_mmd(x, w, kmat, sigma, params, aux, fdata, idata, lv0, sc) if accept else math.nan
    stats[0] = 1.0 if diverging else 0.0
    stats[1] = evals
    o = N_FIXED_STATS
    stats[o] = mmd
    stats[o + 1] = aux[_A_LOGG]
    stats[o + 2] = sigma
    stats[o + 3] = tau
    stats[o + 4] = eta
    stats[o + 5] = n_half
    stats[o + 6] = eta * max_shift
    stats[o + 7] = n_neg
    return 0


def _gaussian_mixture_of(model):
    """Packed closed-form mixture of a model that carries one, else ``None``."""
    mix = getattr(model, "gaussian_mixture", None)
    if mix is None:
        return None
    return pack_mixture(*mix)


@dataclass(frozen=True)
class MSIP(ParticleMethod):
    """Mean shift interacting particles: an ``N``-point weighted quadrature rule.

    Parameters
    ----------
    n_particles : int
        Size ``N`` of the rule (default 100).
    n_steps : int
        Iterations (default 500).
    estimator : str
        ``"gradient_informed"`` (default), ``"gradient_free"``, ``"point"``, ``"exact"``
        (closed form, Gaussian and Gaussian-mixture targets only) or ``"empirical"`` (data
        quantization, see :func:`quantize`).
    gamma : float
        Blend of the gradient-informed and point estimators (default 1: pure gradient).
    bandwidth : float, optional
        Fixed kernel length scale ``sigma``; by default the median nearest-neighbour
        distance of the particles, recomputed every ``bandwidth_every`` iterations.
    bandwidth_every : int
        Iterations between bandwidth updates (default 20).
    nugget : float
        Initial ``tau`` added to the unit diagonal of ``K`` (default 1e-3), raised x10 up to
        8 times when the Cholesky fails.
    relaxation : float
        ``eta`` in (0, 1] (default 0.5).
    cap : float
        Per-particle displacement cap in bandwidths (default 1; 0 disables it).
    backtrack : bool
        Halve ``eta`` (up to 20 times) until ``log G`` does not decrease: monotone MMD for
        deterministic estimators (default False).
    quadrature : str
        Inner rule for ``N(0, I)``: ``"axes"`` (default: ``+-e_i`` times ``n_radial``
        Gauss-Laguerre radii, shared by every particle and iteration), ``"spherical"``
        (``n_directions`` random directions times the radii), ``"mc"`` or
        ``"mc_antithetic"`` (``n_nodes`` normal draws fixed for the run).
    n_radial, n_directions, n_nodes : int
        Sizes of the inner rules.
    rotate : bool
        Apply a random rotation (from the replicate's seed) to the inner rule.
    precondition : bool
        With the adaptive bandwidth (default), let the kernel act on coordinates
        standardized by ``sc`` (the particles' per-coordinate spread floored by the
        target's local scale) when those scales differ by more than a factor 10: its
        covariance is ``sigma^2 diag(sc^2)``, the inner rule is scaled the same way, the
        displacement cap is measured in those coordinates and ``sc`` is refreshed with the
        bandwidth (default True).  One isotropic bandwidth cannot serve a posterior whose
        coordinates differ in scale by orders of magnitude (e.g. arK: sds 0.008 to 0.09).
        Ignored with a fixed ``bandwidth`` (given in the model's coordinates) and for the
        ``"exact"`` and ``"empirical"`` estimators.

    Notes
    -----
    Output (see :mod:`geobayes.trace`): ``posterior`` holds the nodes (``chain`` =
    replicate, ``draw`` = particle), ``sample_stats.weight`` the signed quadrature weights
    (sum 1 per replicate; they may be negative) and per-iteration statistics with dim
    ``iteration``: ``mmd`` (exact MMD with the current bandwidth where the target has a
    closed form -- Gaussian or Gaussian-mixture models, empirical targets -- else NaN:
    without ``Z`` there is no estimate), ``log_g`` (the ``Z``-free objective, increasing
    with decreasing MMD), ``bandwidth``, ``nugget``, ``relaxation``, ``n_backtracks``,
    ``max_shift``, ``n_negative_weights``, ``diverging`` and ``n_evals``.

    The signed rule is a low-dimensional tool: with the default ``N = 100`` it reproduces
    means and covariances in two dimensions far better than ``N`` i.i.d. draws, but on a
    10-D standard Gaussian its sds come out 0.54-0.85, and on 7-13-dimensional posteriors
    a quarter to half of the weights turn negative.  When a replicate ends with ``sum |w|
    > 5`` (negative weights carrying more than twice the target's mass) or a weighted
    variance ``<= 0``, :func:`geobayes.sample` returns the trace with an
    :class:`geobayes.errors.UnstableQuadratureWarning` naming the replicates.
    """

    n_particles: int = 100
    n_steps: int = 500
    estimator: str = "gradient_informed"
    gamma: float = 1.0
    bandwidth: float | None = None
    bandwidth_every: int = 20
    nugget: float = 1e-3
    relaxation: float = 0.5
    cap: float = 1.0
    backtrack: bool = False
    quadrature: str = "axes"
    n_radial: int = 3
    n_directions: int = 8
    n_nodes: int = 20
    rotate: bool = False
    precondition: bool = True

    name: ClassVar[str] = "msip"
    weighted: ClassVar[bool] = True
    extra_stat_names: ClassVar[tuple[str, ...]] = _EXTRA_STATS
    stat_names: ClassVar[tuple[str, ...]] = ("diverging", "n_evals", *_EXTRA_STATS)

    def __post_init__(self):
        super().__post_init__()
        if self.estimator not in ESTIMATORS:
            raise ValueError(
                f"estimator must be one of {', '.join(ESTIMATORS)}, got {self.estimator!r}"
            )
        if self.quadrature not in _QUADRATURES:
            raise ValueError(
                f"quadrature must be one of {', '.join(_QUADRATURES)}, got {self.quadrature!r}"
            )
        for name in ("nugget", "relaxation"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise ValueError(f"{name} must be a positive number, got {v!r}")
        if self.relaxation > 1:
            raise ValueError(f"relaxation must be in (0, 1], got {self.relaxation}")
        if not (isinstance(self.cap, (int, float)) and self.cap >= 0):
            raise ValueError(f"cap must be >= 0 (0 disables it), got {self.cap!r}")
        if self.bandwidth is not None and not (
            isinstance(self.bandwidth, (int, float))
            and math.isfinite(self.bandwidth)
            and self.bandwidth > 0
        ):
            raise ValueError(
                f"bandwidth must be a positive number or None (adaptive), got {self.bandwidth!r}"
            )
        if not (isinstance(self.gamma, (int, float)) and 0 <= self.gamma <= 1):
            raise ValueError(f"gamma must be in [0, 1], got {self.gamma!r}")
        for name in ("bandwidth_every", "n_radial", "n_directions", "n_nodes"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")

    @property
    def step_fn(self):
        """The jitted population step (type ``POP_STEP``)."""
        return msip_step

    def inner_rule(self, d: int, rng: np.random.Generator | None = None):
        """Nodes ``(Q, d)`` and weights of the inner rule for ``N(0, I_d)``."""
        if self.estimator in ("point", "exact", "empirical"):
            return np.zeros((1, d)), np.ones(1)
        if self.quadrature == "axes":
            z, w = axes_rule(d, self.n_radial)
        elif self.quadrature == "spherical":
            z, w = spherical_rule(d, self.n_directions, self.n_radial, rng)
        else:
            z, w = mc_rule(d, self.n_nodes, rng, antithetic=self.quadrature == "mc_antithetic")
        if self.rotate:
            q, r = np.linalg.qr(np.random.default_rng(rng).standard_normal((d, d)))
            z = np.ascontiguousarray(z @ (q * np.sign(np.diag(r))).T)
        return z, w

    def params_array(self, model, rng: np.random.Generator) -> np.ndarray:
        """Header, inner rule and (when the model has one) the closed-form mixture."""
        d = model.dim
        z, w = self.inner_rule(d, rng)
        mix = _gaussian_mixture_of(model)
        if self.estimator == "exact" and mix is None:
            raise ValueError(
                f"estimator='exact' needs a Gaussian or Gaussian-mixture target with closed-form "
                f"embeddings; model {model.name!r} has none (use 'gradient_informed')"
            )
        if self.estimator == "empirical" and getattr(model, "empirical_data", None) is None:
            raise ValueError("estimator='empirical' is for geobayes.samplers.msip.quantize(data)")
        if mix is None:
            mix = np.zeros(0)
        head = np.zeros(_P_HEADER)
        head[_P_EST] = ESTIMATORS[self.estimator]
        head[_P_GAMMA] = self.gamma
        head[_P_SIGMA] = self.bandwidth or 0.0
        head[_P_EVERY] = self.bandwidth_every
        head[_P_TAU] = self.nugget
        head[_P_ETA] = self.relaxation
        head[_P_CAP] = self.cap
        head[_P_BACK] = 1.0 if self.backtrack else 0.0
        head[_P_Q] = z.shape[0]
        head[_P_NMIX] = mix.size
        head[_P_MAXHALF] = 20
        head[_P_PRECOND] = (
            1.0
            if self.precondition
            and self.bandwidth is None
            and self.estimator in ("gradient_free", "gradient_informed", "point")
            else 0.0
        )
        return np.ascontiguousarray(np.concatenate([head, z.ravel(), w, mix]))

    def initial_aux(self, n: int, d: int) -> np.ndarray:
        """``[iteration, bandwidth, log G, cache valid, c, sigma of c, -, -]`` + caches
        (``log v0`` (N), ``m`` (N d), ``T`` (N d)) + coordinate scales (d, initially 1)."""
        aux = np.zeros(_A_HEADER + n + 2 * n * d + d)
        aux[_A_CSIGMA] = -1.0
        aux[_A_HEADER + n + 2 * n * d :] = 1.0
        return aux

    def memory_bytes(self, n: int, d: int) -> int:
        """Four ``N x N`` matrices (K, its Cholesky factor, a copy, LAPACK's work) + ``O(N d)``.

        Three were counted at first; ``benchmarks/memory`` measured 1.07x that estimate
        (N = 1500, 2 replicates), so the estimate now keeps a margin.
        """
        return 8 * (4 * n * n + 12 * n * (d + 1))

    def result_warning(self, xs: np.ndarray, ws: np.ndarray, model) -> str | None:
        """Name the replicates whose signed rule is too wild to trust (see Notes)."""
        labs = np.abs(ws).sum(axis=1)
        bad = []
        for r in range(ws.shape[0]):
            mean = ws[r] @ xs[r]
            var = ws[r] @ (xs[r] - mean) ** 2
            if labs[r] > _WILD_ABS_SUM or np.any(var <= 0.0):
                bad.append(r)
        if not bad:
            return None
        shown = ", ".join(f"{r} ({labs[r]:.3g})" for r in bad[:8]) + (
            " ..." if len(bad) > 8 else ""
        )
        return (
            f"msip on model {model.name!r}: the quadrature rule of {len(bad)} of {ws.shape[0]} "
            f"replicate(s) is unstable -- sum |w| above {_WILD_ABS_SUM:g} (negative weights "
            "carrying more than twice the target's mass) or a weighted variance <= 0; replicate "
            f"(sum |w|): {shown}.  Means from it may be off and variances are not reliable.  "
            "MSIP's signed rule suits low-dimensional targets of moderate shape (a 2-D "
            f"mixture or ring; this one has {model.dim} dimensions): try more particles "
            "(n_particles=), or a chain method (method='nuts')"
        )

    def error_message(self, code: int, model) -> str:
        """Messages for the step's fatal status codes."""
        if code == STATUS_SINGULAR:
            return (
                f"msip: the kernel matrix stayed singular after raising the nugget from "
                f"{self.nugget:g} to {self.nugget * 10**_NUGGET_RAISES:g} on model "
                f"{model.name!r} (coincident particles or a bandwidth far too large); set a "
                "smaller bandwidth= or a larger nugget="
            )
        if code == STATUS_NO_DENSITY:
            return (
                f"msip: the estimated log density is -inf or NaN at every particle on model "
                f"{model.name!r}; start the particles inside the support (initial_points=) "
                "or check the model"
            )
        return super().error_message(code, model)


def quantize(data, n_particles: int = 50, *, chains: int = 1, seed=None, **kwargs):
    """Weighted MMD quantization of a data set (empirical-target MSIP, arXiv 2502.10600).

    The target is the empirical measure of ``data``; ``v0`` and ``m`` are exact kernel
    sums over the data (``O(N n d)`` per iteration), and as the bandwidth goes to 0 the
    iteration approaches Lloyd's algorithm (k-means).  ``mmd`` in ``sample_stats`` is the
    exact MMD to the data.

    Parameters
    ----------
    data : array of shape (n, d)
        The sample to summarize.
    n_particles : int
        Size of the weighted rule.
    chains : int
        Independent replicates.
    seed : int, optional
    **kwargs
        MSIP hyperparameters (``bandwidth``, ``n_steps``, ``relaxation``, ...) and
        ``geobayes.sample`` options (``progress``, ``initial_points``, ``cores``).

    Returns
    -------
    xarray.DataTree
        A weighted trace: ``posterior.x`` (chain, draw, x_dim) and
        ``sample_stats.weight``.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> data = np.concatenate([rng.normal(-3, 0.3, (200, 1)), rng.normal(3, 0.3, (100, 1))])
    >>> t = quantize(data, 4, bandwidth=0.5, n_steps=200, seed=0, progress=False)
    >>> np.round(np.sort(t.posterior["x"].values.ravel()), 0).tolist()
    [-3.0, -3.0, 3.0, 3.0]
    """
    from geobayes.driver import sample
    from geobayes.models.base import Model

    x = np.ascontiguousarray(np.asarray(data, dtype=np.float64))
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2 or x.shape[0] < 1 or not np.all(np.isfinite(x)):
        raise ValueError("data must be a finite array of shape (n, d) with n >= 1")
    n, d = x.shape
    model = Model(
        _empirical_lpg,
        params={"x": (d,)},
        data=(x.ravel(), np.array([n, d], dtype=np.int64)),
        name="empirical",
    )
    model.empirical_data = x
    drive = {k: kwargs.pop(k) for k in ("progress", "initial_points", "cores") if k in kwargs}
    if "initial_points" not in drive:
        rng = np.random.default_rng(seed)
        idx = np.stack(
            [rng.choice(n, size=n_particles, replace=n_particles > n) for _ in range(chains)]
        )
        drive["initial_points"] = x[idx] + 1e-6 * rng.standard_normal((chains, n_particles, d))
    return sample(
        model,
        method=MSIP(n_particles=n_particles, estimator="empirical", **kwargs),
        chains=chains,
        seed=seed,
        **drive,
    )


@lazy_njit(types.Tuple((float64, float64[::1]))(float64[::1], float64[::1], int64[::1]), cache=True)
def _empirical_lpg(theta, fdata, idata):
    """Log of a unit-bandwidth Gaussian KDE of the data (only used for initial checks)."""
    n = idata[0]
    d = idata[1]
    g = np.zeros(d)
    amax = -np.inf
    vals = np.empty(n)
    for i in range(n):
        s = 0.0
        for k in range(d):
            t = theta[k] - fdata[i * d + k]
            s += t * t
        vals[i] = -0.5 * s
        if vals[i] > amax:
            amax = vals[i]
    tot = 0.0
    for i in range(n):
        e = math.exp(vals[i] - amax)
        tot += e
        for k in range(d):
            g[k] += e * (fdata[i * d + k] - theta[k])
    for k in range(d):
        g[k] /= tot
    return amax + math.log(tot / n), g
