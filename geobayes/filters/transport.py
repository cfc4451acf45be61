r"""Coupling-informed transport filter: block-triangular analysis by an MMD gradient flow.

After Zeng, Jiang, Sun & Xiao (2026), "Coupling-Informed Transport Maps for
Bayesian Filtering in Nonlinear Dynamical Systems" (arXiv 2605.13174); only the
abstract could be read, the construction is the reconstruction of filters spec
§2 (see the method class :class:`geobayes.filters.methods.TransportFilter`).

One analysis (one local domain; notation of spec §2):

1. Joint samples (the coupling): forecast members ``x_i`` with synthetic
   observations ``y_i`` drawn from the observation *simulator*
   (likelihood-free; for additive Gaussian noise ``y_i = h(x_i) + R^{1/2} z_i``).
2. Linear pre-conditioning: gain ``K`` (empirical ``C_xy C_yy^{-1}``, analytic
   ``C_xh (C_hh + R)^{-1}`` or none) and residuals ``x'_i = x_i - K (y_i - ybar)``.
3. Standardised joint coordinates ``u = (lambda_y sqrt(c) (y - ybar)/s_y, (x' - xbar')/s_x)``
   (``c`` the localisation taper of each observation), bandwidth ``h = c_h``
   times the median pairwise distance.
4. Reference particles ``(u_{y,j}, u_{x,sigma(j)})`` for ``P`` random
   derangements ``sigma`` (the product of marginals) and target particles
   ``u_j`` (the joint).  The block-triangular map moves only the x-block of
   the reference particles along the MMD gradient flow towards the target,
   ``x <- x + eta h^2 v(u)`` with
   ``v(u) = mean_r g_r (u_x - r_x) - mean_j g_j (u_x - u_{j,x})``
   (``g = k'/``-factor of the kernel), the same steps applied to analysis
   particles started at ``(u_y*, u_{x,i})``, i.e. the map ``T(y*, .)``.
5. Stop at the first step whose reference-target ``MMD^2`` is at or below the
   sampling-noise floor (``MMD^2`` between two independent derangement
   references), or after ``max_steps``.
6. ``x^a_i = s_x a_i + xbar' + K (y* - ybar)``.

Domain localisation: each block of state components is analysed with its
local observations (the LETKF's :func:`~geobayes.filters._localization.local_obs_sets`),
in parallel over blocks (``prange``); every block writes its own columns and
all random numbers (synthetic observations, derangements, injected noise)
are drawn serially beforehand, so a seed gives bit-identical output whatever
the thread count.
"""

from __future__ import annotations

import math

import numpy as np
from numba import boolean, float64, int64, njit, prange, types

from ..types import GENERATOR
from ._lazy import lazy_njit
from ._types import OBS_SIMULATE, OBSERVE, STEP
from .enkf import (
    add_process_noise,
    ensemble_moments,
    forecast_members,
    observe_members,
    post_process,
)

__all__ = [
    "GAUSSIAN",
    "INVERSE_MULTIQUADRIC",
    "NEGATIVE_DISTANCE",
    "GAIN_NONE",
    "GAIN_EMPIRICAL",
    "GAIN_ANALYTIC",
    "transport_local",
    "transport_analysis",
    "derangement",
    "transport_chunk",
    "no_simulator",
]

#: Kernel codes (:class:`geobayes.filters.methods.TransportKernel`).
GAUSSIAN = 0
INVERSE_MULTIQUADRIC = 1
NEGATIVE_DISTANCE = 2
#: Gain codes (:class:`geobayes.filters.methods.Gain`).
GAIN_NONE = 0
GAIN_EMPIRICAL = 1
GAIN_ANALYTIC = 2
#: Number of per-analysis statistics returned by :func:`transport_local`.
N_STATS = 4  # mmd2_initial, mmd2_final, mmd2_null, n_flow_steps


@njit(cache=True)
def no_simulator(x, z, data):  # pragma: no cover
    """Placeholder passed when observations are ``h(x) + N(0, R)``."""
    return np.zeros(0)


@njit(cache=True)
def derangement(rng, n):  # pragma: no cover
    """A uniformly random permutation of ``0..n-1`` without fixed points (rejection)."""
    while True:
        p = np.argsort(rng.random(n))
        ok = True
        for i in range(n):
            if p[i] == i:
                ok = False
                break
        if ok:
            return p


@njit(cache=True, inline="always")
def _kval(r2, h2, kernel):  # pragma: no cover
    if kernel == GAUSSIAN:
        return math.exp(-0.5 * r2 / h2)
    if kernel == INVERSE_MULTIQUADRIC:
        return 1.0 / math.sqrt(1.0 + r2 / h2)
    return -math.sqrt(r2)


@njit(cache=True, inline="always")
def _kgrad(r2, h2, kernel):  # pragma: no cover
    """``g`` with ``grad_u k(u, v) = -g (u - v)``, times the step scale (``h^2`` or 1)."""
    if kernel == GAUSSIAN:
        return math.exp(-0.5 * r2 / h2)  # (k / h^2) * h^2
    if kernel == INVERSE_MULTIQUADRIC:
        q = 1.0 + r2 / h2
        return 1.0 / (q * math.sqrt(q))  # (q^{-3/2} / h^2) * h^2
    r = math.sqrt(r2)
    return 1.0 / r if r > 0.0 else 0.0


@njit(cache=True)
def _sq(Uy, Ux, i, Vy, Vx, j):  # pragma: no cover
    acc = 0.0
    for q in range(Uy.shape[1]):
        t = Uy[i, q] - Vy[j, q]
        acc += t * t
    for q in range(Ux.shape[1]):
        t = Ux[i, q] - Vx[j, q]
        acc += t * t
    return acc


@njit(cache=True)
def _ref_pass(Ex, Rx, Tx, Dyy, N, h2, kernel, V, sym):  # pragma: no cover
    """Field at the reference particles and the kernel sums of the MMD.

    Evaluation points ``Ex`` (M, dx) carry the y-coordinates of the reference
    particles (index ``r % N``), whose squared y-distances ``Dyy`` are fixed
    during the flow.  Writes the step direction into ``V`` and returns
    ``(sum_rr k, sum_rt k)`` (meaningful only when ``Ex is Rx``, ``sym``).
    """
    M, dx = Rx.shape
    for r in range(M):
        for q in range(dx):
            V[r, q] = 0.0
    krr = 0.0
    krt = 0.0
    if sym:  # Ex == Rx: each pair once
        for r1 in range(M):
            j1 = r1 % N
            for r2 in range(r1 + 1, M):
                d2 = Dyy[j1, r2 % N]
                for q in range(dx):
                    t = Rx[r1, q] - Rx[r2, q]
                    d2 += t * t
                krr += 2.0 * _kval(d2, h2, kernel)
                g = _kgrad(d2, h2, kernel) / M
                for q in range(dx):
                    t = g * (Rx[r1, q] - Rx[r2, q])
                    V[r1, q] += t
                    V[r2, q] -= t
            krr += _kval(0.0, h2, kernel)
    else:
        for r1 in range(M):
            j1 = r1 % N
            for r2 in range(M):
                d2 = Dyy[j1, r2 % N]
                for q in range(dx):
                    t = Ex[r1, q] - Rx[r2, q]
                    d2 += t * t
                g = _kgrad(d2, h2, kernel) / M
                for q in range(dx):
                    V[r1, q] += g * (Ex[r1, q] - Rx[r2, q])
    for r in range(M):
        j1 = r % N
        for j in range(N):
            d2 = Dyy[j1, j]
            for q in range(dx):
                t = Ex[r, q] - Tx[j, q]
                d2 += t * t
            if sym:
                krt += _kval(d2, h2, kernel)
            g = _kgrad(d2, h2, kernel) / N
            for q in range(dx):
                V[r, q] -= g * (Ex[r, q] - Tx[j, q])
    return krr, krt


@njit(cache=True)
def _ksym(Rx, Dyy, N, h2, kernel):  # pragma: no cover
    """``sum_{r, r'} k`` over one set of particles (y-coordinates of member ``r % N``)."""
    M, dx = Rx.shape
    acc = M * _kval(0.0, h2, kernel)
    for r1 in range(M):
        j1 = r1 % N
        for r2 in range(r1 + 1, M):
            d2 = Dyy[j1, r2 % N]
            for q in range(dx):
                t = Rx[r1, q] - Rx[r2, q]
                d2 += t * t
            acc += 2.0 * _kval(d2, h2, kernel)
    return acc


@njit(cache=True)
def _kcross(Rx, Bx, Dyy, N, h2, kernel):  # pragma: no cover
    """``sum_{r, j} k`` between two sets (y-coordinates of members ``r % N`` and ``j``)."""
    M, dx = Rx.shape
    acc = 0.0
    for r in range(M):
        j1 = r % N
        for j in range(Bx.shape[0]):
            d2 = Dyy[j1, j]
            for q in range(dx):
                t = Rx[r, q] - Bx[j, q]
                d2 += t * t
            acc += _kval(d2, h2, kernel)
    return acc


@njit(cache=True)
def _star_pass(Ax, Rx, Tx, dstar, N, h2, kernel, V):  # pragma: no cover
    """Field at the analysis particles ``(u_y*, a_i)``; ``dstar[j] = |u_y* - u_{y,j}|^2``."""
    n, dx = Ax.shape
    M = Rx.shape[0]
    for i in range(n):
        for q in range(dx):
            V[i, q] = 0.0
        for r in range(M):
            d2 = dstar[r % N]
            for q in range(dx):
                t = Ax[i, q] - Rx[r, q]
                d2 += t * t
            g = _kgrad(d2, h2, kernel) / M
            for q in range(dx):
                V[i, q] += g * (Ax[i, q] - Rx[r, q])
        for j in range(N):
            d2 = dstar[j]
            for q in range(dx):
                t = Ax[i, q] - Tx[j, q]
                d2 += t * t
            g = _kgrad(d2, h2, kernel) / N
            for q in range(dx):
                V[i, q] -= g * (Ax[i, q] - Tx[j, q])


@njit(cache=True)
def _move(P, V, eta, clip):  # pragma: no cover
    """``P += eta V`` with each row's displacement clipped to norm ``clip``."""
    for i in range(P.shape[0]):
        nrm = 0.0
        for q in range(P.shape[1]):
            nrm += (eta * V[i, q]) ** 2
        nrm = math.sqrt(nrm)
        f = eta
        if clip > 0.0 and nrm > clip:
            f = eta * clip / nrm
        for q in range(P.shape[1]):
            P[i, q] += f * V[i, q]


@njit(cache=True)
def _solve_gain(Cxy, Cyy):  # pragma: no cover
    """``Cxy Cyy^{-1}`` by a symmetric solve (``Cyy`` floored on the diagonal)."""
    m = Cyy.shape[0]
    A = Cyy.copy()
    for j in range(m):
        if A[j, j] <= 1e-300:
            A[j, j] = 1e-300
    return np.ascontiguousarray(np.linalg.solve(A, np.ascontiguousarray(Cxy.T)).T)


@njit(cache=True, nogil=True)
def transport_local(
    X,
    Y,
    HX,
    ystar,
    coef,
    R,
    gain,
    kernel,
    c_h,
    lam_y,
    eta,
    max_steps,
    clip,
    perms,
    perm_null,
    noise,
    noise_scale,
    use_floor,
    stats,
):  # pragma: no cover
    """One block-triangular transport analysis (spec §2.3-2.5); returns ``X^a`` (N, dx).

    Parameters
    ----------
    X : (N, dx) forecast states of the domain.
    Y : (N, m) synthetic observations; ``HX`` (N, m) ``h(x_i)`` (analytic gain only).
    ystar : (m,) the actual observation; ``coef`` (m,) taper coefficients in (0, 1].
    R : (m, m) observation noise covariance (analytic gain only).
    gain, kernel : int codes.
    c_h, lam_y, eta, clip : bandwidth factor, y-block weight, step factor,
        per-step displacement cap in units of ``h`` (0: none).
    max_steps : int
    perms : (P, N) int derangements; ``perm_null`` (N,) an independent one.
    noise : (max_steps, P*N + N, dx) standard normals, or empty (no injection).
    noise_scale : ``beta_0`` of the injected noise (standardised units).
    use_floor : stop at the noise floor (else run ``max_steps`` steps).
    stats : (4,) out: ``mmd2_initial``, ``mmd2_final``, ``mmd2_null``, ``n_flow_steps``.
    """
    N, dx = X.shape
    m = Y.shape[1]
    P = perms.shape[0]
    M = P * N
    # ---- means
    ybar = np.zeros(m)
    for i in range(N):
        ybar += Y[i]
    ybar /= N
    xbar = np.zeros(dx)
    for i in range(N):
        xbar += X[i]
    xbar /= N
    Ya = Y - ybar
    Xa = X - xbar
    # ---- gain
    K = np.zeros((dx, m))
    if gain == GAIN_EMPIRICAL:
        Cyy = (Ya.T @ Ya) / (N - 1.0)
        for j in range(m):
            Cyy[j, j] += (1.0 / coef[j] - 1.0) * Cyy[j, j]
        K = _solve_gain((Xa.T @ Ya) / (N - 1.0), Cyy)
    elif gain == GAIN_ANALYTIC:
        hbar = np.zeros(m)
        for i in range(N):
            hbar += HX[i]
        hbar /= N
        Ha = HX - hbar
        C = (Ha.T @ Ha) / (N - 1.0)
        for a in range(m):
            for b in range(m):
                C[a, b] += R[a, b] / math.sqrt(coef[a] * coef[b])
        K = _solve_gain((Xa.T @ Ha) / (N - 1.0), C)
    # residual states x' = x - K (y - ybar)
    Xr = X - Ya @ K.T
    xrbar = np.zeros(dx)
    for i in range(N):
        xrbar += Xr[i]
    xrbar /= N
    # ---- standardised coordinates
    sy = np.empty(m)
    for j in range(m):
        ss = 0.0
        for i in range(N):
            ss += Ya[i, j] ** 2
        sy[j] = max(math.sqrt(ss / (N - 1.0)), 1e-12)
    sx = np.empty(dx)
    for q in range(dx):
        ss = 0.0
        for i in range(N):
            ss += (Xr[i, q] - xrbar[q]) ** 2
        sx[q] = max(math.sqrt(ss / (N - 1.0)), 1e-12)
    Ty = np.empty((N, m))
    Tx = np.empty((N, dx))
    ustar = np.empty(m)
    for j in range(m):
        w = math.sqrt(coef[j]) / sy[j]
        ustar[j] = w * (ystar[j] - ybar[j])
        for i in range(N):
            Ty[i, j] = w * Ya[i, j]
    for q in range(dx):
        for i in range(N):
            Tx[i, q] = (Xr[i, q] - xrbar[q]) / sx[q]
    # bandwidth: c_h * median pairwise distance (before lambda_y)
    npair = N * (N - 1) // 2
    dists = np.empty(npair)
    c = 0
    for i in range(N):
        for j in range(i + 1, N):
            dists[c] = math.sqrt(_sq(Ty, Tx, i, Ty, Tx, j))
            c += 1
    h = c_h * np.median(dists)
    if not h > 0.0:
        h = 1.0
    h2 = h * h
    if lam_y != 1.0:
        Ty *= lam_y
        ustar *= lam_y
    # ---- reference (product of marginals), null reference, analysis particles
    Rx = np.empty((M, dx))  # reference particle p * N + j has the y-coordinates of member j
    for p in range(P):
        for j in range(N):
            Rx[p * N + j] = Tx[perms[p, j]]
    Bx = np.empty((N, dx))
    for j in range(N):
        Bx[j] = Tx[perm_null[j]]
    # squared y-distances, fixed during the flow
    Dyy = np.zeros((N, N))
    for i in range(N):
        for j in range(i + 1, N):
            acc = 0.0
            for q in range(m):
                t = Ty[i, q] - Ty[j, q]
                acc += t * t
            Dyy[i, j] = acc
            Dyy[j, i] = acc
    dstar = np.zeros(N)
    for j in range(N):
        acc = 0.0
        for q in range(m):
            t = ustar[q] - Ty[j, q]
            acc += t * t
        dstar[j] = acc
    Ax = Tx.copy()
    # target-target term (constant); noise floor between two independent references
    ktt = _ksym(Tx, Dyy, N, h2, kernel) / (N * N)
    mmd_null = 0.0
    if use_floor:
        k11 = _ksym(Rx[:N], Dyy, N, h2, kernel)
        k22 = _ksym(Bx, Dyy, N, h2, kernel)
        mmd_null = (k11 + k22 - 2.0 * _kcross(Rx[:N], Bx, Dyy, N, h2, kernel)) / (N * N)
    cap = clip * h
    Vr = np.empty((M, dx))
    Va = np.empty((N, dx))
    inject = noise.shape[0] > 0 and noise_scale > 0.0
    Ex = np.empty((M, dx))
    Ea = np.empty((N, dx))
    mmd = 0.0
    n_steps = 0
    for step in range(max_steps + 1):
        if inject:
            krr = _ksym(Rx, Dyy, N, h2, kernel)
            krt = _kcross(Rx, Tx, Dyy, N, h2, kernel)
        else:
            krr, krt = _ref_pass(Rx, Rx, Tx, Dyy, N, h2, kernel, Vr, True)
        mmd = krr / (M * M) + ktt - 2.0 * krt / (M * N)
        if step == 0:
            stats[0] = mmd
        if (use_floor and mmd <= mmd_null) or step == max_steps:
            break
        if inject:  # evaluate the field at perturbed positions
            beta = noise_scale * (1.0 - step / max_steps)
            for i in range(M):
                for q in range(dx):
                    Ex[i, q] = Rx[i, q] + beta * noise[step, i, q]
            for i in range(N):
                for q in range(dx):
                    Ea[i, q] = Ax[i, q] + beta * noise[step, M + i, q]
            _ref_pass(Ex, Rx, Tx, Dyy, N, h2, kernel, Vr, False)
            _star_pass(Ea, Rx, Tx, dstar, N, h2, kernel, Va)
        else:
            _star_pass(Ax, Rx, Tx, dstar, N, h2, kernel, Va)
        _move(Rx, Vr, eta, cap)
        _move(Ax, Va, eta, cap)
        n_steps += 1
    stats[1] = mmd
    stats[2] = mmd_null
    stats[3] = n_steps
    # ---- back to physical units
    shift = K @ (ystar - ybar)
    out = np.empty((N, dx))
    for i in range(N):
        for q in range(dx):
            out[i, q] = Ax[i, q] * sx[q] + xrbar[q] + shift[q]
    return out


@njit(parallel=True, cache=True)
def transport_analysis(
    E,
    Y,
    HX,
    ystar,
    R,
    block_ptr,
    indptr,
    indices,
    sqrtc,
    gain,
    kernel,
    c_h,
    lam_y,
    eta,
    max_steps,
    clip,
    perms,
    perm_null,
    noise,
    noise_scale,
    use_floor,
    stats_out,
):  # pragma: no cover
    """Localised transport analysis (one domain per block), parallel over blocks.

    With a single block holding every component and every observation (coefficients 1)
    this is the global analysis.  ``stats_out`` (n_blocks, 4) receives each block's
    statistics.  Blocks without observations keep the forecast.
    """
    N, d = E.shape
    n_blocks = block_ptr.shape[0] - 1
    Ea = np.empty((N, d))
    for b in prange(n_blocks):
        l0 = block_ptr[b]
        nb = block_ptr[b + 1] - l0
        a = indptr[b]
        nl = indptr[b + 1] - a
        if nl == 0:
            for i in range(N):
                for q in range(nb):
                    Ea[i, l0 + q] = E[i, l0 + q]
            for s in range(4):
                stats_out[b, s] = 0.0
            continue
        Xl = np.empty((N, nb))
        for i in range(N):
            for q in range(nb):
                Xl[i, q] = E[i, l0 + q]
        Yl = np.empty((N, nl))
        Hl = np.empty((N, nl if HX.shape[0] > 0 else 0))
        yl = np.empty(nl)
        cl = np.empty(nl)
        Rl = np.empty((nl if R.shape[0] > 0 else 0, nl if R.shape[0] > 0 else 0))
        for jj in range(nl):
            j = indices[a + jj]
            yl[jj] = ystar[j]
            cl[jj] = sqrtc[a + jj] ** 2
            for i in range(N):
                Yl[i, jj] = Y[i, j]
            if HX.shape[0] > 0:
                for i in range(N):
                    Hl[i, jj] = HX[i, j]
            if R.shape[0] > 0:
                for kk in range(nl):
                    Rl[jj, kk] = R[j, indices[a + kk]]
        noise_b = noise
        st = np.empty(4)
        Xa = transport_local(
            Xl,
            Yl,
            Hl,
            yl,
            cl,
            Rl,
            gain,
            kernel,
            c_h,
            lam_y,
            eta,
            max_steps,
            clip,
            perms,
            perm_null,
            noise_b,
            noise_scale,
            use_floor,
            st,
        )
        for s in range(4):
            stats_out[b, s] = st[s]
        for i in range(N):
            for q in range(nb):
                Ea[i, l0 + q] = Xa[i, q]
    return Ea


@njit(parallel=True, cache=True)
def simulate_members(E, Z, simulate, sim_data, m):  # pragma: no cover
    """Synthetic observations ``simulate(x_i, z_i, data)`` for every member, shape (N, m)."""
    Y = np.empty((E.shape[0], m))
    for i in prange(E.shape[0]):
        Y[i] = simulate(E[i].copy(), Z[i].copy(), sim_data)
    return Y


_M2 = float64[:, ::1]
_M3 = float64[:, :, ::1]
_V = float64[::1]
_I = int64[::1]

TRANSPORT_CHUNK_SIG = types.void(
    GENERATOR,  # rng
    _M2,  # E
    int64,  # k0
    int64,  # k1
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
    _M2,  # Yobs
    types.uint8[::1],  # observed
    _M2,  # R
    _M2,  # Rchol
    _M2,  # Qchol
    _I,  # block_ptr
    _I,  # indptr
    _I,  # indices
    _V,  # sqrtc
    int64,  # gain
    int64,  # kernel
    float64,  # c_h
    float64,  # lam_y
    float64,  # eta
    int64,  # max_steps
    float64,  # clip
    int64,  # n_pairings
    float64,  # noise_scale
    boolean,  # use_floor
    float64,  # inflation
    _M2,  # pred_mean
    _M2,  # pred_sd
    _M2,  # filt_mean
    _M2,  # filt_sd
    _M3,  # ens_out
    _M2,  # stats (K, 4)
)


@lazy_njit(TRANSPORT_CHUNK_SIG, cache=True)
def transport_chunk(
    rng,
    E,
    k0,
    k1,
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
    Yobs,
    observed,
    R,
    Rchol,
    Qchol,
    block_ptr,
    indptr,
    indices,
    sqrtc,
    gain,
    kernel,
    c_h,
    lam_y,
    eta,
    max_steps,
    clip,
    n_pairings,
    noise_scale,
    use_floor,
    inflation,
    pred_mean,
    pred_sd,
    filt_mean,
    filt_sd,
    ens_out,
    stats,
):  # pragma: no cover
    """Run cycles ``k0 .. k1-1`` of the transport filter, updating ``E`` in place.

    ``stats[k]`` receives the domain means of ``mmd2_initial``, ``mmd2_final``,
    ``mmd2_null`` and ``n_flow_steps``.  Random numbers per analysis, in this
    order: synthetic-observation noise (N x noise_dim), ``n_pairings + 1``
    derangements, injected flow noise when ``noise_scale > 0``.
    """
    N, d = E.shape
    m = Yobs.shape[1]
    n_blocks = block_ptr.shape[0] - 1
    dx_max = 0
    for b in range(n_blocks):
        dx_max = max(dx_max, block_ptr[b + 1] - block_ptr[b])
    empty2 = np.zeros((0, 0))
    for k in range(k0, k1):
        forecast_members(E, k, t0, dt, n_steps, step, step_data)
        add_process_noise(rng, E, Qchol)
        ensemble_moments(E, pred_mean[k], pred_sd[k])
        if observed[k] == 0:
            filt_mean[k] = pred_mean[k]
            filt_sd[k] = pred_sd[k]
            for s in range(4):
                stats[k, s] = 0.0
            if ens_out.shape[0] > 0:
                ens_out[k] = E
            continue
        Z = rng.standard_normal((N, noise_dim))
        if use_simulator:
            Ys = simulate_members(E, Z, simulate, sim_data, m)
            HX = empty2
        else:
            HX = observe_members(E, observe, observe_data, m)
            Ys = HX + Z @ Rchol.T
            if gain != GAIN_ANALYTIC:
                HX = empty2
        perms = np.empty((n_pairings, N), np.int64)
        for p in range(n_pairings):
            perms[p] = derangement(rng, N)
        perm_null = derangement(rng, N)
        if noise_scale > 0.0:
            noise = rng.standard_normal((max_steps, n_pairings * N + N, dx_max))
        else:
            noise = np.zeros((0, 0, 0))
        st = np.empty((n_blocks, 4))
        Ea = transport_analysis(
            E,
            Ys,
            HX,
            Yobs[k],
            R if gain == GAIN_ANALYTIC else empty2,
            block_ptr,
            indptr,
            indices,
            sqrtc,
            gain,
            kernel,
            c_h,
            lam_y,
            eta,
            max_steps,
            clip,
            perms,
            perm_null,
            noise,
            noise_scale,
            use_floor,
            st,
        )
        for s in range(4):
            acc = 0.0
            for b in range(n_blocks):
                acc += st[b, s]
            stats[k, s] = acc / n_blocks
        E[:] = post_process(Ea, inflation, empty2)
        ensemble_moments(E, filt_mean[k], filt_sd[k])
        if ens_out.shape[0] > 0:
            ens_out[k] = E
