r"""Optimisation variant of the transport filter's analysis (filters spec §2.6).

The flow variant (:mod:`geobayes.filters.transport`) moves the reference particles
along the MMD gradient flow.  This variant instead *parametrises* the block-triangular
map and fits it:

.. math::

    T^X(y, x) = x + B \, \phi(y, x), \qquad
    \phi(y, x) = \big(y,\; x,\; k_\phi((y, x), c_1), \dots, k_\phi((y, x), c_L)\big),

(standardised joint coordinates of the spec §2.3-2.4, after the same linear
pre-conditioning), with linear terms in ``y`` and ``x`` and ``L`` Gaussian RBF
features centred at the joint (target) particles ``c_l = (y_l, x_l)``.  ``B`` minimises

.. math::

    \mathrm{MMD}^2\big((y_j, T^X(y_j, \tilde x_j))_j,\; (y_j, x_j)_j\big)
    + \rho \, \lVert B_{\mathrm{rbf}} \rVert_F^2

by L-BFGS (:func:`scipy.optimize.minimize`), where ``x~_j = x_{sigma(j)}`` pairs each
observation with an independent state (a random derangement: the product of
marginals) and ``rho`` (``ridge``) penalises the RBF coefficients.  The objective and
its hand-written gradient are jitted (:func:`mmd_objective`).  L-BFGS stops at the
spec's noise floor (the first iterate whose ``MMD^2`` is at or below the ``MMD^2``
between two independent derangement references) or after ``max_steps`` iterations.
The analysis is ``x^a_i = T^X(y*, x_i)`` mapped back to physical units, plus the
gain's shift.

Known answer.  With the linear features only and no pre-conditioning
(``gain="none"``, ``rbf_centres=0``) the map is ``x + B_y y + B_x x``; on a
linear-Gaussian problem the product of marginals is pushed exactly onto the joint
when ``B_y`` is the Kalman gain ``C_xy C_yy^{-1}`` (in standardised units) and
``(I + B_x) P_f (I + B_x)^T`` the Kalman analysis covariance, so the MMD minimiser
recovers the Kalman update for any characteristic kernel -- the linear-kernel limit
of Zeng & Jiang (2024), "Ensemble transport filter via optimized maximum mean
discrepancy" (arXiv 2407.11518), which recovers an EnKF-type update.

The problem is non-convex (the reason the paper introduces the flow); started from
``B = 0`` (the linear update of the flow variant before any flow step), L-BFGS
finds the nearby local minimum.  The analysis runs in Python over local domains
(one L-BFGS solve per domain), so it is serial over domains; random numbers are
drawn in the jitted forecast kernel in a fixed order, so a seed gives the same
result whatever the thread count.
"""

from __future__ import annotations

import math

import numpy as np
from numba import boolean, float64, int64, njit, types

from ..types import GENERATOR
from ._lazy import lazy_njit
from ._types import OBS_SIMULATE, OBSERVE, STEP
from .enkf import finish_cycle, forecast_cycle, observe_members, post_process
from .transport import (
    GAIN_ANALYTIC,
    GAUSSIAN,
    INVERSE_MULTIQUADRIC,
    _standardise,
    bandwidth,
    derangement,
    kernel_regression,
    precondition,
    simulate_members,
)

__all__ = [
    "opt_setup",
    "mmd_objective",
    "mmd2_sets",
    "optimise_local",
    "opt_forecast",
    "make_run",
]


@njit(cache=True, inline="always")
def _kd(s, h2, kernel):  # pragma: no cover
    """Kernel value and derivative with respect to the squared distance ``s``."""
    if kernel == GAUSSIAN:
        k = math.exp(-0.5 * s / h2)
        return k, -0.5 * k / h2
    if kernel == INVERSE_MULTIQUADRIC:
        t = 1.0 / math.sqrt(1.0 + s / h2)
        return t, -0.5 * t * t * t / h2
    if s <= 1e-300:
        return 0.0, 0.0
    r = math.sqrt(s)
    return -r, -0.5 / r


#: Regression stage codes of :func:`opt_setup`.
REG_NONE = 0
REG_KERNEL = 1
REG_KERNEL_SCALE = 2


@njit(cache=True)
def _rescale_residuals(D, Tx):  # pragma: no cover
    """Heteroscedastic conditional model ``x = m(y) + s(y) eps``: ``Tx_i <- Tx_i s(y*) / s(y_i)``.

    ``s_q(y)^2`` is the Nadaraya-Watson (Gaussian kernel in y, bandwidth^2 the median of
    the squared y-distances ``D[:N]``) average of the squared residuals ``Tx[:, q]^2``;
    row ``N`` of ``D`` holds the distances to ``y*``.  Each residual is so brought to
    the conditional scale at the observed value (per particle, per component).
    """
    N, dx = Tx.shape
    up = np.empty(N * (N - 1) // 2)
    c = 0
    for i in range(N):
        for j in range(i + 1, N):
            up[c] = D[i, j]
            c += 1
    hy2 = np.median(up)
    if not hy2 > 0.0:
        return
    R2 = Tx * Tx
    sstar = np.zeros(dx)
    wsum = 0.0
    for j in range(N):
        w = math.exp(-0.5 * D[N, j] / hy2)
        wsum += w
        for q in range(dx):
            sstar[q] += w * R2[j, q]
    sstar = np.sqrt(sstar / max(wsum, 1e-300))
    si = np.empty(dx)  # one scratch row for every particle (no temporaries in the loop)
    for i in range(N):
        si[:] = 0.0
        ws = 0.0
        for j in range(N):
            w = math.exp(-0.5 * D[i, j] / hy2)
            ws += w
            for q in range(dx):
                si[q] += w * R2[j, q]
        for q in range(dx):
            sq = math.sqrt(si[q] / max(ws, 1e-300))
            if sq > 1e-12 and sstar[q] > 1e-12:
                Tx[i, q] *= sstar[q] / sq


@njit(cache=True)
def opt_setup(
    X, Y, HX, ystar, coef, R, gain, c_h, lam_y, perm, perm_null, n_centres, regression=0
):  # pragma: no cover
    """Standardised joint sample, reference pairing and features of one analysis.

    Same pre-conditioning, standardisation and bandwidth as the flow variant
    (:func:`geobayes.filters.transport.transport_local`).  Returns
    ``(Dyy, Tx, X0, Xnull, Phi, Phis, h2, xrbar, sx, ywt, shift, K)``: squared y-distances
    (N, N) (including ``lam_y``), standardised residual states (targets, N x dx), the
    reference states ``Tx[perm]`` and the null reference ``Tx[perm_null]``, the
    features at the reference points (N, p) and at ``(y*, Tx_i)`` (N, p), the
    bandwidth^2, the residual mean and scale, the y-scaling (standardised y = ywt *
    (y - ybar)), the gain's shift ``K (y* - ybar)`` and the pre-conditioning gain ``K``.
    ``regression``: :data:`REG_NONE`, :data:`REG_KERNEL` (the flow's kernel ridge
    regression of the residuals on y, :func:`~geobayes.filters.transport.kernel_regression`)
    or :data:`REG_KERNEL_SCALE` (the same, then a heteroscedastic scale, see
    :func:`_rescale_residuals`); the fitted mean at ``y*`` goes into ``xrbar``.
    """
    N, dx = X.shape
    m = Y.shape[1]
    ybar, K, xrbar, sx, Tx, ywt, Ty, ustar, D = precondition(X, Y, HX, ystar, coef, R, gain)
    if regression != REG_NONE:  # nonlinear conditional mean (and scale) given y
        mstar = kernel_regression(D, Tx)  # Tx <- leave-one-out residuals
        if regression == REG_KERNEL_SCALE:
            _rescale_residuals(D, Tx)
        mu, se, Tx = _standardise(Tx)
        for q in range(dx):
            xrbar[q] += (mstar[q] + mu[q]) * sx[q]
            sx[q] *= se[q]
    # bandwidth from the joint distances before lam_y (spec §2.4)
    Dyy = np.ascontiguousarray(D[:N])
    h = bandwidth(Dyy, Tx, c_h)
    h2 = h * h
    lam2 = lam_y * lam_y
    Dyy *= lam2
    Ty = Ty * lam_y
    ustar = ustar * lam_y
    for j in range(m):
        ywt[j] *= lam_y
    X0 = np.empty((N, dx))
    Xnull = np.empty((N, dx))
    for i in range(N):
        X0[i] = Tx[perm[i]]
        Xnull[i] = Tx[perm_null[i]]
    L = min(n_centres, N)
    p = m + dx + L
    Phi = np.empty((N, p))
    Phis = np.empty((N, p))
    for i in range(N):
        for q in range(m):
            Phi[i, q] = Ty[i, q]
            Phis[i, q] = ustar[q]
        for q in range(dx):
            Phi[i, m + q] = X0[i, q]
            Phis[i, m + q] = Tx[i, q]
        for ell in range(L):
            a = 0.0
            b = 0.0
            for q in range(m):
                t = Ty[i, q] - Ty[ell, q]
                a += t * t
                t = ustar[q] - Ty[ell, q]
                b += t * t
            for q in range(dx):
                t = X0[i, q] - Tx[ell, q]
                a += t * t
                t = Tx[i, q] - Tx[ell, q]
                b += t * t
            Phi[i, m + dx + ell] = math.exp(-0.5 * a / h2)
            Phis[i, m + dx + ell] = math.exp(-0.5 * b / h2)
    shift = K @ (ystar - ybar)
    return Dyy, Tx, X0, Xnull, Phi, Phis, h2, xrbar, sx, ywt, shift, K


@njit(cache=True)
def mmd2_sets(A, T, Dyy, h2, kernel):  # pragma: no cover
    """``MMD^2`` between the joint samples ``(y_j, A_j)`` and ``(y_j, T_j)`` (same y's)."""
    N, dx = A.shape
    saa = 0.0
    stt = 0.0
    sat = 0.0
    for i in range(N):
        for j in range(N):
            a = Dyy[i, j]
            b = Dyy[i, j]
            c = Dyy[i, j]
            for q in range(dx):
                t = A[i, q] - A[j, q]
                a += t * t
                t = T[i, q] - T[j, q]
                b += t * t
                t = A[i, q] - T[j, q]
                c += t * t
            saa += _kd(a, h2, kernel)[0]
            stt += _kd(b, h2, kernel)[0]
            sat += _kd(c, h2, kernel)[0]
    return (saa + stt - 2.0 * sat) / (N * N)


@njit(cache=True)
def mmd_objective(b, Phi, X0, Tx, Dyy, h2, kernel, ridge, n_lin, ktt):  # pragma: no cover
    """Penalised objective, its gradient with respect to ``b = vec(B)`` and the ``MMD^2``.

    ``B = b.reshape(dx, p)``; the reference states are ``X0 + Phi B^T``; ``ktt`` is the
    constant target-target term ``sum_ij k(t_i, t_j) / N^2``; the penalty
    ``ridge * ||B[:, n_lin:]||^2`` acts on the coefficients from column ``n_lin`` on (the
    filter passes 0: every coefficient is shrunk towards ``B = 0``, the linear update).
    Returns ``(objective, gradient, mmd2)``.
    """
    N, dx = X0.shape
    p = Phi.shape[1]
    B = b.reshape((dx, p))
    Rx = X0 + Phi @ B.T
    G = np.zeros((N, dx))
    diff = np.empty(dx)
    srr = 0.0
    srt = 0.0
    for i in range(N):
        for j in range(N):
            s = Dyy[i, j]
            for q in range(dx):
                t = Rx[i, q] - Rx[j, q]
                diff[q] = t
                s += t * t
            k, kp = _kd(s, h2, kernel)
            srr += k
            for q in range(dx):
                G[i, q] += 4.0 * kp * diff[q]
            s = Dyy[i, j]
            for q in range(dx):
                t = Rx[i, q] - Tx[j, q]
                diff[q] = t
                s += t * t
            k, kp = _kd(s, h2, kernel)
            srt += k
            for q in range(dx):
                G[i, q] -= 4.0 * kp * diff[q]
    inv = 1.0 / (N * N)
    mmd = (srr - 2.0 * srt) * inv + ktt
    grad = (G.T @ Phi) * inv
    pen = 0.0
    for q in range(dx):
        for c in range(n_lin, p):
            pen += B[q, c] * B[q, c]
            grad[q, c] += 2.0 * ridge * B[q, c]
    return mmd + ridge * pen, grad.ravel(), mmd


def optimise_local(X, Y, HX, ystar, coef, R, opts, perm, perm_null, stats=None):
    """One analysis of the optimisation variant; returns ``(X^a, info)``.

    Parameters
    ----------
    X, Y, HX, ystar, coef, R
        As :func:`geobayes.filters.transport.transport_local` (forecast states (N, dx),
        synthetic observations (N, m), ``h(x_i)`` (analytic gain only), the observation,
        taper coefficients, ``R`` (analytic gain only)).
    opts : tuple
        ``(gain, kernel, c_h, lam_y, max_iter, use_floor, n_centres, ridge[, regression])``
        (regression code of :func:`opt_setup`, default none).
    perm, perm_null : int arrays (N,)
        The reference derangement and an independent one (noise floor).
    stats : array (4,), optional
        Receives ``mmd2_initial``, ``mmd2_final``, ``mmd2_null`` and the L-BFGS
        iterations.

    Returns
    -------
    Xa : ndarray (N, dx)
    info : dict
        ``B`` (dx, p) in standardised units and ``gain`` (dx, m): the total linear
        response to ``y`` in physical units (pre-conditioning gain plus ``B_y``).
    """
    from scipy.optimize import minimize

    gain, kernel, c_h, lam_y, max_iter, use_floor, n_centres, ridge = opts[:8]
    regression = opts[8] if len(opts) > 8 else REG_NONE
    Dyy, Tx, X0, Xnull, Phi, Phis, h2, xrbar, sx, ywt, shift, K = opt_setup(
        X, Y, HX, ystar, coef, R, gain, c_h, lam_y, perm, perm_null, n_centres, regression
    )
    N, dx = Tx.shape
    m = Y.shape[1]
    p = Phi.shape[1]
    n_lin = 0  # the ridge shrinks every coefficient towards the linear update (B = 0)
    ktt = _ktt(Tx, Dyy, h2, kernel)
    floor = mmd2_sets(X0, Xnull, Dyy, h2, kernel) if use_floor else -np.inf
    last = {"x": None, "mmd": np.inf}
    path = {"prev": np.zeros(dx * p), "cross": None}

    def fun(b):
        v, g, mmd = mmd_objective(b, Phi, X0, Tx, Dyy, h2, kernel, ridge, n_lin, ktt)
        last["x"], last["mmd"] = b.copy(), mmd
        return v, g

    def callback(intermediate_result):
        x = intermediate_result.x
        if last["x"] is None or not np.array_equal(x, last["x"]):
            fun(x)
        if last["mmd"] <= floor:
            path["cross"] = x.copy()
            raise StopIteration
        path["prev"] = x.copy()

    def mmd_at(b):
        return mmd_objective(b, Phi, X0, Tx, Dyy, h2, kernel, ridge, n_lin, ktt)[2]

    b0 = np.zeros(dx * p)
    mmd0 = mmd_at(b0)
    B = np.zeros((dx, p))
    nit = 0
    if mmd0 > floor and max_iter > 0:
        res = minimize(
            fun,
            b0,
            jac=True,
            method="L-BFGS-B",
            callback=callback,
            options={"maxiter": int(max_iter), "gtol": 1e-12, "ftol": 1e-12},
        )
        b = res.x
        nit = int(res.nit)
        if path["cross"] is not None:
            # the last iteration jumped below the noise floor: stop where the segment from
            # the previous iterate crosses it (bisection), as the flow stops at the floor
            lo, hi, b_lo, b_hi = 0.0, 1.0, path["prev"], path["cross"]
            for _ in range(_N_BISECT):
                t = 0.5 * (lo + hi)
                if mmd_at(b_lo + t * (b_hi - b_lo)) <= floor:
                    hi = t
                else:
                    lo = t
            b = b_lo + hi * (b_hi - b_lo)
        B = b.reshape(dx, p)
    mmd = mmd_objective(B.ravel(), Phi, X0, Tx, Dyy, h2, kernel, ridge, n_lin, ktt)[2]
    A = Tx + Phis @ B.T
    Xa = A * sx + xrbar + shift
    if stats is not None:
        stats[:] = (mmd0, mmd, floor if use_floor else 0.0, nit)
    # total linear response to y in physical units: the gain plus B_y
    info = {"B": B, "gain": K + sx[:, None] * B[:, :m] * ywt[None, :]}
    return Xa, info


@njit(cache=True)
def _ktt(T, Dyy, h2, kernel):  # pragma: no cover
    N, dx = T.shape
    s = 0.0
    for i in range(N):
        for j in range(N):
            a = Dyy[i, j]
            for q in range(dx):
                t = T[i, q] - T[j, q]
                a += t * t
            s += _kd(a, h2, kernel)[0]
    return s / (N * N)


# ------------------------------------------------------------------ filter cycle
#: Bisection steps locating the noise-floor crossing on the last L-BFGS segment.
_N_BISECT = 10

_M2 = float64[:, ::1]
_M3 = float64[:, :, ::1]
_V = float64[::1]

OPT_FORECAST_SIG = types.Tuple((boolean, _M2, _M2, types.int64[:, ::1]))(
    GENERATOR,  # rng
    _M2,  # E
    int64,  # k
    float64,  # t0
    float64,  # dt
    int64,  # n_steps
    STEP,
    _V,
    OBSERVE,
    _V,
    boolean,  # use_simulator
    OBS_SIMULATE,
    _V,  # sim_data
    int64,  # noise_dim
    int64,  # m
    _M2,  # Rchol
    _M2,  # Qchol
    types.uint8[::1],  # observed
    boolean,  # want_hx
    types.UniTuple(_M2, 4),  # moments
    _M3,  # ens_out
)


@lazy_njit(OPT_FORECAST_SIG, cache=True)
def opt_forecast(
    rng,
    E,
    k,
    t0,
    dt,
    n_steps,
    step,
    step_data,
    observe,
    observe_data,
    use_simulator,
    simulate,
    sim_data,
    noise_dim,
    m,
    Rchol,
    Qchol,
    observed,
    want_hx,
    moments,
    ens_out,
):  # pragma: no cover
    """Forecast of cycle ``k`` and the draws of its analysis.

    Returns ``(observed, Y, HX, perms)``: whether cycle ``k`` has an observation
    (else the forecast is stored as the analysis), the synthetic observations (N, m),
    ``h(x_i)`` (empty unless ``want_hx``) and two derangements (the reference and the
    noise-floor pairing).  Draws in the order of the flow variant's chunk.
    """
    N = E.shape[0]
    empty2 = np.zeros((0, 0))
    if not forecast_cycle(
        rng, E, k, t0, dt, n_steps, step, step_data, Qchol, observed, moments, ens_out
    ):
        return False, empty2, empty2, np.zeros((0, 0), np.int64)
    Z = rng.standard_normal((N, noise_dim))
    if use_simulator:
        Ys = simulate_members(E, Z, simulate, sim_data, m)
        HX = empty2
    else:
        HX = observe_members(E, observe, observe_data, m)
        Ys = HX + Z @ Rchol.T
        if not want_hx:
            HX = empty2
    perms = np.empty((2, N), np.int64)
    perms[0] = derangement(rng, N)
    perms[1] = derangement(rng, N)
    return True, Ys, np.ascontiguousarray(HX), perms


@njit(cache=True)
def opt_finish(E, Ea, inflation, k, moments, ens_out):  # pragma: no cover
    """Inflate the analysis ensemble and store cycle ``k``."""
    finish_cycle(E, post_process(Ea, inflation, np.zeros((0, 0))), k, moments, ens_out)


def make_run(
    front,
    ssm,
    E,
    rng,
    y,
    observed,
    R,
    Rchol,
    use_sim,
    simulate,
    sim_data,
    noise_dim,
    domains,
    gain,
    kernel,
    out,
):
    """``run(k0, k1)`` of the optimisation variant for the driver's chunk loop."""
    from .methods import Stopping

    block_ptr, indptr, indices, sqrtc = domains
    opts = (
        int(gain),
        int(kernel),
        float(front.bandwidth_factor),
        float(front.obs_weight),
        int(front.max_steps),
        front.stopping is not Stopping.MAX_STEPS,  # either floor: the sampled one here
        int(front.rbf_centres),
        float(front.ridge),
        {"none": REG_NONE, "kernel": REG_KERNEL, "kernel_scale": REG_KERNEL_SCALE}[
            front.regression.value
        ],
    )
    want_hx = gain == GAIN_ANALYTIC
    moments = (out["pred_mean"], out["pred_sd"], out["filt_mean"], out["filt_sd"])
    n_blocks = block_ptr.shape[0] - 1
    m = ssm.obs_dim
    empty = np.zeros((0, 0))

    def run(k0, k1):
        for k in range(k0, k1):
            out["tstats"][k] = 0.0
            ok, Ys, HX, perms = opt_forecast(
                rng,
                E,
                k,
                ssm.t0,
                ssm.dt,
                ssm.steps_per_obs,
                ssm.step,
                ssm.step_data,
                ssm.observe,
                ssm.observe_data,
                use_sim,
                simulate,
                sim_data,
                int(noise_dim),
                int(m),
                Rchol,
                ssm._process_chol,
                observed,
                want_hx,
                moments,
                out["ens"],
            )
            if not ok:
                continue
            Ea = E.copy()
            st = np.zeros(4)
            acc = np.zeros(4)
            for b in range(n_blocks):
                cols = np.arange(block_ptr[b], block_ptr[b + 1])
                obs = indices[indptr[b] : indptr[b + 1]]
                if obs.size == 0:
                    continue
                coef = sqrtc[indptr[b] : indptr[b + 1]] ** 2
                Xl = np.ascontiguousarray(E[:, cols])
                Yl = np.ascontiguousarray(Ys[:, obs])
                Hl = np.ascontiguousarray(HX[:, obs]) if want_hx else empty
                Rl = np.ascontiguousarray(R[np.ix_(obs, obs)]) if want_hx else empty
                Xa, _ = optimise_local(
                    Xl,
                    Yl,
                    Hl,
                    np.ascontiguousarray(y[k, obs]),
                    coef,
                    Rl,
                    opts,
                    perms[0],
                    perms[1],
                    st,
                )
                Ea[:, cols] = Xa
                acc += st
            out["tstats"][k] = acc / n_blocks
            opt_finish(E, Ea, float(front.inflation), k, moments, out["ens"])

    return run
