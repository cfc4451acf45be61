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
   references): by default its expectation in closed form
   (:func:`expected_noise_floor`, ``N^2`` one-block kernel evaluations, no
   sampling noise), or one sampled second reference (spec §2.5); or after
   ``max_steps``.
6. ``x^a_i = s_x a_i + xbar' + K (y* - ybar)``.

Domain localisation: each block of state components (by default as many
contiguous components as the localisation radius spans,
:func:`~geobayes.filters._localization.transport_batch_size`: a quarter of
the analyses on Lorenz-96, same RMSE to seed noise) is analysed with its
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
from .enkf import finish_cycle, forecast_cycle, observe_members, post_process

__all__ = [
    "GAUSSIAN",
    "INVERSE_MULTIQUADRIC",
    "NEGATIVE_DISTANCE",
    "GAIN_NONE",
    "GAIN_EMPIRICAL",
    "GAIN_ANALYTIC",
    "REGRESSION_NONE",
    "REGRESSION_KERNEL",
    "STOP_MAX_STEPS",
    "STOP_NOISE_FLOOR",
    "STOP_EXPECTED_FLOOR",
    "expected_noise_floor",
    "precondition",
    "bandwidth",
    "kernel_regression",
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
#: Regression codes (:class:`geobayes.filters.methods.Regression`).
REGRESSION_NONE = 0
REGRESSION_KERNEL = 1
#: Ridge penalties of the kernel regression, relative to the mean eigenvalue of the Gram matrix.
_RIDGE_GRID = np.array([1e-3, 1e-2, 1e-1, 1.0, 10.0])
#: Stopping-rule codes (:class:`geobayes.filters.methods.Stopping`): run ``max_steps``
#: steps, stop at the sampled noise floor, or at its expectation (:func:`expected_noise_floor`).
STOP_MAX_STEPS = 0
STOP_NOISE_FLOOR = 1
STOP_EXPECTED_FLOOR = 2
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


#: Fast-math flags of the kernel-sum loops: reassociation lets LLVM vectorise the
#: sums over particles (deterministic for a given build, whatever the thread count).
_FM = {"reassoc", "contract", "nsz"}


@njit(cache=True, fastmath=_FM, error_model="numpy", inline="always")
def _krow(d2, g, n, ih2, kernel, w):  # pragma: no cover
    """``sum_b k(d2_b)`` over ``b < n`` for squared distances ``d2``, and ``g_b`` with
    ``grad_u k(u, v) = -g (u - v)`` times ``w`` and the step scale (``h^2`` for the
    Gaussian and inverse multiquadric kernels, else 1)."""
    s = 0.0
    if kernel == GAUSSIAN:
        c = -0.5 * ih2
        for b in range(n):
            e = math.exp(c * d2[b])
            s += e
            g[b] = w * e
    elif kernel == INVERSE_MULTIQUADRIC:
        for b in range(n):
            kv = 1.0 / math.sqrt(1.0 + ih2 * d2[b])
            s += kv
            g[b] = w * kv * kv * kv
    else:
        for b in range(n):
            r = math.sqrt(d2[b])
            s -= r
            g[b] = w / r if r > 0.0 else 0.0
    return s


@njit(cache=True, fastmath=_FM, error_model="numpy")
def _pairs(At, arow, Bt, D, h2, kernel, w, Vt, d2, g):  # pragma: no cover
    """Kernel sums between two particle sets; returns ``sum_{a, b} k(a, b)``.

    Particle sets are stored transposed, ``(dx, n)``.  Particle ``a`` of ``At``
    has the y-coordinates of row ``arow[a]`` of ``D`` (the squared y-distances,
    fixed during the flow) and particle ``b`` of ``Bt`` those of column
    ``b mod N``.  When ``Vt`` is non-empty, ``Vt[:, a] += w * sum_b g(a, b) (a - b)``
    (the step direction, see :func:`_krow`).  ``d2``, ``g``: scratch of length ``N``.
    """
    dx, na = At.shape
    N = D.shape[1]
    nblk = Bt.shape[1] // N
    grad = Vt.shape[0] > 0
    ih2 = 1.0 / h2
    acc = 0.0
    for a in range(na):
        Drow = D[arow[a]]
        for p in range(nblk):
            off = p * N
            for b in range(N):
                d2[b] = Drow[b]
            for q in range(dx):
                x = At[q, a]
                Bq = Bt[q]
                for b in range(N):
                    t = x - Bq[off + b]
                    d2[b] += t * t
            acc += _krow(d2, g, N, ih2, kernel, w)
            if grad:
                for q in range(dx):
                    x = At[q, a]
                    Bq = Bt[q]
                    s = 0.0
                    for b in range(N):
                        s += g[b] * (x - Bq[off + b])
                    Vt[q, a] += s
    return acc


@njit(cache=True, fastmath=_FM, error_model="numpy")
def _pairs_sym(At, arow, D, h2, kernel, w, Vt, d2, g):  # pragma: no cover
    """:func:`_pairs` of a set with itself (``arow[b] = b mod N``), each pair evaluated once."""
    dx, na = At.shape
    N = D.shape[1]
    nblk = na // N
    grad = Vt.shape[0] > 0
    ih2 = 1.0 / h2
    acc = na * _kval(0.0, h2, kernel)
    for a in range(na):
        Drow = D[arow[a]]
        for p in range((a + 1) // N, nblk):
            lo = max(a + 1, p * N)
            n = (p + 1) * N - lo
            doff = lo - p * N
            for b in range(n):
                d2[b] = Drow[doff + b]
            for q in range(dx):
                x = At[q, a]
                Aq = At[q]
                for b in range(n):
                    t = x - Aq[lo + b]
                    d2[b] += t * t
            acc += 2.0 * _krow(d2, g, n, ih2, kernel, w)
            if grad:
                for q in range(dx):
                    x = At[q, a]
                    Aq = At[q]
                    Vq = Vt[q]
                    s = 0.0
                    for b in range(n):
                        t = g[b] * (x - Aq[lo + b])
                        s += t
                        Vq[lo + b] -= t
                    Vt[q, a] += s
    return acc


@njit(cache=True, fastmath=_FM, error_model="numpy")
def expected_noise_floor(Tt, D, k11, h2, kernel, d2, g):  # pragma: no cover
    r"""Expected ``MMD^2`` between two independent derangement references (the noise floor).

    The sampled floor of spec §2.5 is the ``MMD^2`` between the reference
    ``(y_j, x_{sigma(j)})`` and a second one ``(y_j, x_{tau(j)})``.  Its expectation
    over ``tau`` (and, through ``k11``, over ``sigma``), with the pairs of distinct
    members treated as those of a uniform random permutation, is

    .. math::

        \frac{2}{N^3} \Big(N^2 k(0) + k_{11} - \sum_{a, b} k(0_y, x_a - x_b)
        - \sum_{i, j} k(y_i - y_j, 0_x)\Big),

    with ``k11`` the first reference's self-sum :math:`\sum_{i,j} k(r_i, r_j)`
    (a draw of its own expectation, already computed at step 0).  The two other
    sums are over the state block and the observation block alone: ``N^2`` kernel
    evaluations in all against ``1.5 N^2`` joint pairs for the sampled floor, and
    no sampling noise in the threshold.  It matches the mean of the sampled floor
    to a few per cent (tests); the ``O(1/N)`` corrections of the derangement are
    below that.

    ``Tt`` (dx, N): the residual states (transposed, standardised); ``D`` the
    squared y-distances (:func:`transport_local`); ``d2``, ``g`` scratch of length ``N``.
    """
    dx, N = Tt.shape
    rows = np.zeros(N, np.int64)
    zero = np.zeros((1, N))
    none = np.empty((0, 0))
    sx = _pairs_sym(Tt, rows, zero, h2, kernel, 0.0, none, d2, g)
    for i in range(N):
        rows[i] = i
    sy = _pairs_sym(np.empty((0, N)), rows, D, h2, kernel, 0.0, none, d2, g)
    return _floor_formula(N, _kval(0.0, h2, kernel), k11, sx, sy)


@njit(cache=True, inline="always")
def _floor_formula(N, k0, k11, sx, sy):  # pragma: no cover
    """:func:`expected_noise_floor` from its sums (each over all ordered pairs)."""
    return 2.0 * (N * N * k0 + k11 - sx - sy) / (N * N * N)


@njit(cache=True, fastmath=_FM, error_model="numpy")
def _ksum(r2, h2, kernel):  # pragma: no cover
    """``sum_b k(r2_b)`` over squared distances ``r2`` (vectorised)."""
    ih2 = 1.0 / h2
    s = 0.0
    if kernel == GAUSSIAN:
        c = -0.5 * ih2
        for b in range(r2.shape[0]):
            s += math.exp(c * r2[b])
    elif kernel == INVERSE_MULTIQUADRIC:
        for b in range(r2.shape[0]):
            s += 1.0 / math.sqrt(1.0 + ih2 * r2[b])
    else:
        for b in range(r2.shape[0]):
            s -= math.sqrt(r2[b])
    return s


@njit(cache=True, fastmath=_FM, error_model="numpy")
def _joint_parts(D, Xt):  # pragma: no cover
    """The ``N (N - 1) / 2`` squared joint distances ``D[i, j] + |x_i - x_j|^2`` (``i < j``,
    ``Xt`` the transposed states, (dx, N)), with their state parts
    ``|x_i - x_j|^2`` and observation parts ``D[i, j]`` (``i < j``): every pair sum of the
    target self-term and of the expected noise floor is a kernel of one of these three
    arrays, so no distance is computed twice."""
    dx, N = Xt.shape
    n2 = N * (N - 1) // 2
    jd = np.empty(n2)
    sxd = np.empty(n2)
    dy = np.empty(n2)
    c = 0
    for i in range(N):
        n = N - i - 1
        Di = D[i]
        for j in range(n):
            v = Di[i + 1 + j]
            jd[c + j] = v
            dy[c + j] = v
            sxd[c + j] = 0.0
        for q in range(dx):
            x = Xt[q, i]
            Xq = Xt[q]
            for j in range(n):
                t = x - Xq[i + 1 + j]
                t2 = t * t
                jd[c + j] += t2
                sxd[c + j] += t2
        c += n
    return jd, sxd, dy


@njit(cache=True, error_model="numpy")
def _median(x):  # pragma: no cover
    """``np.median`` of a 1-D array (the same value), with fewer mispredicted branches.

    Quickselect on fresh data mispredicts about every other comparison: about 90 us
    for the 4950 pair distances of N = 100, against 20 us on data the branch
    predictor has seen.  Here a sorted stride sample of 128 values brackets the
    middle; one branch-free pass counts the values below the bracket and gathers
    those inside it (about a quarter), and the middle order statistics are
    selected among those.  When the bracket misses them (or on NaN) it falls back
    to ``np.median``.  The order statistics are exact, and so is the value.
    """
    n = x.shape[0]
    ns = 128
    if n < 8 * ns:
        return np.median(x)
    stride = n // ns
    smp = np.empty(ns)
    for i in range(ns):
        smp[i] = x[i * stride]
    smp.sort()
    lo = smp[ns // 2 - 16]
    hi = smp[ns // 2 + 15]
    band = np.empty(n)
    below = 0
    nb = 0
    bad = 0
    for i in range(n):
        v = x[i]
        below += v < lo
        band[nb] = v
        nb += (v >= lo) & (v <= hi)
        bad += v != v
    half = n >> 1
    k0 = half - 1 if n % 2 == 0 else half
    if bad > 0 or below > k0 or below + nb <= half:
        return np.median(x)
    kk = k0 - below
    part = np.partition(band[:nb], kk)
    a = part[kk]
    if n % 2 == 1:
        return a
    b = part[kk + 1]
    for i in range(kk + 2, nb):
        b = min(b, part[i])
    return (a + b) / 2


@njit(cache=True, error_model="numpy")
def _median_bandwidth(jd, c_h):  # pragma: no cover
    """``c_h`` times the median of the squared joint distances ``jd``, square-rooted; 1
    when degenerate (:func:`bandwidth`)."""
    h = 1.0
    if jd.shape[0] > 0:
        h = c_h * math.sqrt(_median(jd))
    if not h > 0.0:
        h = 1.0
    return h


@njit(cache=True, fastmath=_FM, error_model="numpy")
def _move(Pt, Vt, eta, clip, f):  # pragma: no cover
    """``Pt += eta Vt`` (transposed sets) with each particle's displacement clipped to
    norm ``clip``; ``f`` scratch of length ``n``."""
    dx, n = Pt.shape
    for i in range(n):
        f[i] = 0.0
    for q in range(dx):
        Vq = Vt[q]
        for i in range(n):
            f[i] += Vq[i] * Vq[i]
    for i in range(n):
        nrm = eta * math.sqrt(f[i])
        f[i] = eta * clip / nrm if clip > 0.0 and nrm > clip else eta
    for q in range(dx):
        Pq = Pt[q]
        Vq = Vt[q]
        for i in range(n):
            Pq[i] += f[i] * Vq[i]


@njit(cache=True, fastmath=_FM, error_model="numpy")
def _ydistances(Ty, ustar):  # pragma: no cover
    """Squared distances of the observation rows ``Ty`` (N, m): ``D`` (N + 1, N),
    ``D[i, j]`` between members ``i`` and ``j`` and ``D[N, j]`` between ``ustar`` and ``j``
    (each sum over the observations in order; the loops run over contiguous rows of
    members, so they vectorise)."""
    N, m = Ty.shape
    Yt = np.ascontiguousarray(Ty.T)
    D = np.empty((N + 1, N))
    acc = np.empty(N)
    for i in range(N):
        D[i, i] = 0.0
        n = N - i - 1
        for j in range(n):
            acc[j] = 0.0
        for q in range(m):
            t = Yt[q, i]
            Yq = Yt[q, i + 1 :]
            for j in range(n):
                u = t - Yq[j]
                acc[j] += u * u
        for j in range(n):
            D[i, i + 1 + j] = acc[j]
    for i in range(N):
        for j in range(i):
            D[i, j] = D[j, i]
    for j in range(N):
        acc[j] = 0.0
    for q in range(m):
        t = ustar[q]
        Yq = Yt[q]
        for j in range(N):
            u = t - Yq[j]
            acc[j] += u * u
    D[N] = acc
    return D


@njit(cache=True, error_model="numpy")
def _solve_gain(Cxy, Cyy):  # pragma: no cover
    """``Cxy Cyy^{-1}`` by a symmetric solve (``Cyy`` floored on the diagonal)."""
    m = Cyy.shape[0]
    A = Cyy.copy()
    for j in range(m):
        if A[j, j] <= 1e-300:
            A[j, j] = 1e-300
    return np.ascontiguousarray(np.linalg.solve(A, np.ascontiguousarray(Cxy.T)).T)


@njit(cache=True, error_model="numpy")
def _column_moments(A):  # pragma: no cover
    """Column means and standard deviations (``ddof = 1``, floor 1e-12) of ``A``."""
    N, p = A.shape
    mu = np.zeros(p)
    for i in range(N):
        mu += A[i]
    mu /= N
    sd = np.empty(p)
    ss = np.zeros(p)
    for i in range(N):
        for q in range(p):
            ss[q] += (A[i, q] - mu[q]) ** 2
    for q in range(p):
        sd[q] = max(math.sqrt(ss[q] / (N - 1.0)), 1e-12)
    return mu, sd


@njit(cache=True, error_model="numpy")
def _standardise(A):  # pragma: no cover
    """Column means, standard deviations (``ddof = 1``, floor 1e-12) and ``(A - mean) / sd``."""
    N, p = A.shape
    mu, sd = _column_moments(A)
    Z = np.empty((N, p))
    for i in range(N):
        for q in range(p):
            Z[i, q] = (A[i, q] - mu[q]) / sd[q]
    return mu, sd, Z


@njit(cache=True)
def kernel_regression(D, Tx):  # pragma: no cover
    """Nonlinear conditional mean of the residual states given the observations.

    Kernel ridge regression of ``Tx`` (N, dx) on the observations, whose squared
    (standardised) distances are ``D[:N]`` and whose distances to ``y*`` are
    ``D[N]`` (Gaussian kernel, bandwidth^2 the median of ``D``).  The ridge
    penalty is chosen from :data:`_RIDGE_GRID` by exact leave-one-out error,
    against the mean alone.  On return ``Tx`` holds the leave-one-out residuals
    (out-of-sample, so they keep the conditional spread); returns the fitted
    mean at ``y*`` (dx,).  When the mean alone predicts best, ``Tx`` is left
    as it is and ``0`` is returned.
    """
    N, dx = Tx.shape
    up = np.empty(N * (N - 1) // 2)
    c = 0
    for i in range(N):
        for j in range(i + 1, N):
            up[c] = D[i, j]
            c += 1
    hy2 = np.median(up)
    mstar = np.zeros(dx)
    if not hy2 > 0.0:
        return mstar
    G = np.empty((N, N))
    gs = np.empty(N)
    for i in range(N):
        for j in range(N):
            G[i, j] = math.exp(-0.5 * D[i, j] / hy2)
        gs[i] = math.exp(-0.5 * D[N, i] / hy2)
    w, U = np.linalg.eigh(G)
    for k in range(N):
        w[k] = max(w[k], 0.0)
    cbar = np.zeros(dx)
    for i in range(N):
        cbar += Tx[i]
    cbar /= N
    Tc = Tx - cbar
    UtT = np.ascontiguousarray(U.T) @ Tc
    U2 = U * U
    f1 = N / (N - 1.0)
    best = f1 * f1 * np.sum(Tc * Tc)  # leave-one-out error of the mean alone
    best_lam = -1.0
    lam0 = max(np.mean(w), 1e-300)
    for t in _RIDGE_GRID:
        lam = t * lam0
        f = w / (w + lam)
        F = U @ (f.reshape(-1, 1) * UtT)
        H = U2 @ f
        err = 0.0
        for i in range(N):
            den = 1.0 - H[i] + 1.0 / N  # the intercept's leverage 1/N
            for q in range(dx):
                e = (Tc[i, q] - F[i, q]) / den
                err += e * e
        if err < best:
            best = err
            best_lam = lam
    if best_lam < 0.0:
        return mstar
    f = w / (w + best_lam)
    F = U @ (f.reshape(-1, 1) * UtT)
    H = U2 @ f
    alpha = U @ (UtT / (w + best_lam).reshape(-1, 1))
    for i in range(N):
        den = 1.0 - H[i] + 1.0 / N
        for q in range(dx):
            Tx[i, q] = (Tc[i, q] - F[i, q]) / den
    mstar = cbar + gs @ alpha
    return mstar


@njit(cache=True, error_model="numpy")
def precondition(X, Y, HX, ystar, coef, R, gain):  # pragma: no cover
    """Linear pre-conditioning and standardisation of one analysis (spec §2.3).

    Shared by the flow (:func:`transport_local`) and the optimisation variant
    (:mod:`geobayes.filters.transport_opt`).  Returns ``(ybar, K, xrbar, sx, Tx, ywt,
    Ty, ustar, D)``: the synthetic observations' mean, the gain ``K`` (``gain`` code
    ``GAIN_*``; zero for none), the standardised residual states ``Tx`` (N, dx) of
    ``x - K (y - ybar)`` with their mean ``xrbar`` and scale ``sx``, the y-weights
    ``ywt = sqrt(coef) / sd(y)``, the weighted observations ``Ty`` (N, m) and ``ustar``
    (m,) of ``y*``, and their squared distances ``D`` (N + 1, N) (:func:`_ydistances`).
    """
    N, dx = X.shape
    m = Y.shape[1]
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
    # residual states x' = x - K (y - ybar), standardised
    xrbar, sx, Tx = _standardise(X - Ya @ K.T)
    sy = _column_moments(Ya)[1]
    ywt = np.empty(m)
    Ty = np.empty((N, m))
    ustar = np.empty(m)
    for j in range(m):
        w = math.sqrt(coef[j]) / sy[j]
        ywt[j] = w
        ustar[j] = w * (ystar[j] - ybar[j])
        for i in range(N):
            Ty[i, j] = w * Ya[i, j]
    # squared y-distances: D[i, j] between members i and j, D[N, j] between y* and j
    return ybar, K, xrbar, sx, Tx, ywt, Ty, ustar, _ydistances(Ty, ustar)


@njit(cache=True, error_model="numpy")
def bandwidth(D, Tx, c_h):  # pragma: no cover
    """The bandwidth ``h = c_h * median pairwise joint distance`` (spec §2.4), from the
    squared y-distances ``D`` and the states ``Tx`` (N, dx); 1 when degenerate."""
    if Tx.shape[0] < 2:
        return 1.0
    return _median_bandwidth(_joint_parts(D, np.ascontiguousarray(Tx.T))[0], c_h)


@njit(cache=True, nogil=True)
def transport_local(X, Y, HX, ystar, coef, R, cfg, draws, stats):  # pragma: no cover
    """One block-triangular transport analysis (spec §2.3-2.5); returns ``X^a`` (N, dx).

    Parameters
    ----------
    X : (N, dx) forecast states of the domain.
    Y : (N, m) synthetic observations; ``HX`` (N, m) ``h(x_i)`` (analytic gain only).
    ystar : (m,) the actual observation; ``coef`` (m,) taper coefficients in (0, 1].
    R : (m, m) observation noise covariance (analytic gain only).
    cfg : tuple ``(gain, kernel, c_h, lam_y, eta, max_steps, clip, noise_scale, stop,
        regression, n_sub)``:
        int codes of the gain and the kernel, bandwidth factor, y-block weight, step
        factor, maximum number of flow steps, per-step displacement cap in units of
        ``h`` (0: none), ``beta_0`` of the injected noise (standardised units),
        the stopping code (``STOP_*``: the sampled noise floor, its expectation
        :func:`expected_noise_floor`, or ``max_steps`` steps), the
        regression code (:func:`kernel_regression` of the residuals first, or none)
        and the field size ``n_sub``: when ``0 < n_sub < N`` the reference and
        target particles are those of ``n_sub`` members (the first entries of
        ``perm_null``) and the ``N`` analysis particles follow their field
        (``O(N n_sub)`` kernel pairs per step instead of ``O(N^2)``).
    draws : tuple ``(perms, perm_null, noise)``: (P, N) int derangements, an
        independent one (N,), and (max_steps, P*N + N, dx) standard normals or
        an empty array (no injection).
    stats : (4,) out: ``mmd2_initial``, ``mmd2_final``, ``mmd2_null``, ``n_flow_steps``.
    """
    gain, kernel, c_h, lam_y, eta, max_steps, clip, noise_scale, stop, regression, n_sub = cfg
    use_floor = stop != STOP_MAX_STEPS
    perms, perm_null, noise = draws
    N, dx = X.shape
    P = perms.shape[0]
    M = P * N
    ybar, K, xrbar, sx, Tx, _, _, _, D = precondition(X, Y, HX, ystar, coef, R, gain)
    # optional nonlinear regression stage: residuals about E[x' | y], re-standardised
    if regression == REGRESSION_KERNEL:
        mstar = kernel_regression(D, Tx)
        mu, se, Tx = _standardise(Tx)
        for q in range(dx):
            xrbar[q] += (mstar[q] + mu[q]) * sx[q]
            sx[q] *= se[q]
    # particle sets stored transposed (dx, n) so the kernel sums run over contiguous rows
    Tt = np.ascontiguousarray(Tx.T)
    # bandwidth: c_h * median pairwise distance (before lambda_y); the pair distances
    # are kept for the target self-term and the expected floor (fused below)
    jd, sxd, dy = _joint_parts(D, Tt)
    h = _median_bandwidth(jd, c_h)
    h2 = h * h
    fused = lam_y == 1.0 and not 0 < n_sub < N
    if lam_y != 1.0:
        D *= lam_y * lam_y
    # ---- reference (product of marginals), null reference, analysis particles
    At = Tt.copy()  # the analysis particles: every member, at y*
    Na = N
    Xs = Tt  # the states the reference particles are drawn from
    sub = np.arange(N)
    if 0 < n_sub < N:
        # the field (reference and target sums) from a random subset of n_sub members,
        # the first entries of the independent derangement: cost O(N n_sub) per step
        sub = perm_null[:n_sub].copy()
        Ts = np.empty((dx, n_sub))
        Ds = np.empty((n_sub + 1, n_sub))
        for b in range(n_sub):
            for q in range(dx):
                Ts[q, b] = Tt[q, sub[b]]
            for a in range(n_sub):
                Ds[a, b] = D[sub[a], sub[b]]
            Ds[n_sub, b] = D[N, sub[b]]
        Tt, D, N = Ts, Ds, n_sub
        M = P * N
    Rt = np.empty((dx, M))  # reference particle p * N + j has the y-coordinates of member j
    ridx = np.empty(M, np.int64)
    for p in range(P):
        for j in range(N):
            ridx[p * N + j] = j
            for q in range(dx):
                Rt[q, p * N + j] = Xs[q, perms[p, sub[j]]]
    midx = ridx[:N]
    sidx = np.full(Na, N, np.int64)  # the analysis particles sit at y* (row N of D)
    d2 = np.empty(N)
    gb = np.empty(N)
    fb = np.empty(max(M, Na))
    # target-target term (constant); noise floor between two independent references
    none = np.empty((0, 0))
    k0 = _kval(0.0, h2, kernel)
    if fused:  # from the stored pair distances: kernel evaluations only
        ktt = (N * k0 + 2.0 * _ksum(jd, h2, kernel)) / (N * N)
    else:
        ktt = _pairs_sym(Tt, midx, D, h2, kernel, 0.0, none, d2, gb) / (N * N)
    mmd_null = 0.0
    cap = clip * h
    Vr = np.empty((dx, M))
    Va = np.empty((dx, Na))
    inject = noise.shape[0] > 0 and noise_scale > 0.0
    Et = np.empty((dx, M))
    Ea = np.empty((dx, Na))
    mmd = 0.0
    n_steps = 0
    wr, wt = 1.0 / M, -1.0 / N
    for step in range(max_steps + 1):
        Vr[:] = 0.0
        Vg = none if inject else Vr  # the field at the current positions comes for free
        krr = _pairs_sym(Rt, ridx, D, h2, kernel, wr, Vg, d2, gb)
        krt = _pairs(Rt, ridx, Tt, D, h2, kernel, wt, Vg, d2, gb)
        mmd = krr / (M * M) + ktt - 2.0 * krt / (M * N)
        if step == 0:
            stats[0] = mmd
            if stop == STOP_EXPECTED_FLOOR:
                k11 = (
                    krr
                    if P == 1
                    else _pairs_sym(Rt[:, :N].copy(), midx, D, h2, kernel, 0.0, none, d2, gb)
                )
                if fused:
                    sxs = N * k0 + 2.0 * _ksum(sxd, h2, kernel)
                    sys_ = N * k0 + 2.0 * _ksum(dy, h2, kernel)
                    mmd_null = _floor_formula(N, k0, k11, sxs, sys_)
                else:
                    mmd_null = expected_noise_floor(Tt, D, k11, h2, kernel, d2, gb)
            elif use_floor:  # MMD^2 between the first reference and an independent one
                Bt = np.empty((dx, N))
                for j in range(N):
                    for q in range(dx):
                        Bt[q, j] = Xs[q, perm_null[sub[j]]]
                R1 = Rt if P == 1 else np.ascontiguousarray(Rt[:, :N])
                k11 = krr if P == 1 else _pairs_sym(R1, midx, D, h2, kernel, 0.0, none, d2, gb)
                k22 = _pairs_sym(Bt, midx, D, h2, kernel, 0.0, none, d2, gb)
                k12 = _pairs(R1, midx, Bt, D, h2, kernel, 0.0, none, d2, gb)
                mmd_null = (k11 + k22 - 2.0 * k12) / (N * N)
        if (use_floor and mmd <= mmd_null) or step == max_steps:
            break
        Pa = At
        if inject:  # evaluate the field at perturbed positions
            beta = noise_scale * (1.0 - step / max_steps)
            for q in range(dx):
                for i in range(M):
                    Et[q, i] = Rt[q, i] + beta * noise[step, i, q]
                for i in range(Na):
                    Ea[q, i] = At[q, i] + beta * noise[step, M + i, q]
            _pairs(Et, ridx, Rt, D, h2, kernel, wr, Vr, d2, gb)
            _pairs(Et, ridx, Tt, D, h2, kernel, wt, Vr, d2, gb)
            Pa = Ea
        Va[:] = 0.0
        _pairs(Pa, sidx, Rt, D, h2, kernel, wr, Va, d2, gb)
        _pairs(Pa, sidx, Tt, D, h2, kernel, wt, Va, d2, gb)
        _move(Rt, Vr, eta, cap, fb)
        _move(At, Va, eta, cap, fb)
        n_steps += 1
    stats[1] = mmd
    stats[2] = mmd_null
    stats[3] = n_steps
    # ---- back to physical units
    shift = K @ (ystar - ybar)
    out = np.empty((Na, dx))
    for i in range(Na):
        for q in range(dx):
            out[i, q] = At[q, i] * sx[q] + xrbar[q] + shift[q]
    return out


@njit(parallel=True, cache=True)
def transport_analysis(E, Y, HX, ystar, R, domains, cfg, draws, stats_out):  # pragma: no cover
    """Localised transport analysis (one domain per block), parallel over blocks.

    ``domains = (block_ptr, indptr, indices, sqrtc)`` are the local domains of
    :func:`~geobayes.filters._localization.local_obs_sets`; ``cfg`` and ``draws``
    as in :func:`transport_local`.  With a single block holding every component
    and every observation (coefficients 1) this is the global analysis.
    ``stats_out`` (n_blocks, 4) receives each block's statistics.  Blocks
    without observations keep the forecast.
    """
    block_ptr, indptr, indices, sqrtc = domains
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
        st = np.empty(4)
        Xa = transport_local(Xl, Yl, Hl, yl, cl, Rl, cfg, draws, st)
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

#: ``cfg`` of :func:`transport_local`.
CFG = types.Tuple(
    (int64, int64, float64, float64, float64, int64, float64, float64, int64, int64, int64)
)
#: ``domains`` of :func:`transport_analysis`.
DOMAINS = types.Tuple((_I, _I, _I, _V))

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
    DOMAINS,
    CFG,
    int64,  # n_pairings
    float64,  # inflation
    types.UniTuple(_M2, 4),  # moments: pred_mean, pred_sd, filt_mean, filt_sd
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
    domains,
    cfg,
    n_pairings,
    inflation,
    moments,
    ens_out,
    stats,
):  # pragma: no cover
    """Run cycles ``k0 .. k1-1`` of the transport filter, updating ``E`` in place.

    ``domains`` and ``cfg`` as in :func:`transport_analysis`; ``moments`` the
    output rows ``(pred_mean, pred_sd, filt_mean, filt_sd)``.
    ``stats[k]`` receives the domain means of ``mmd2_initial``, ``mmd2_final``,
    ``mmd2_null`` and ``n_flow_steps``.  Random numbers per analysis, in this
    order: synthetic-observation noise (N x noise_dim), ``n_pairings + 1``
    derangements, injected flow noise when ``noise_scale > 0``.
    """
    N, d = E.shape
    m = Yobs.shape[1]
    block_ptr = domains[0]
    gain = cfg[0]
    max_steps = cfg[5]
    noise_scale = cfg[7]
    n_blocks = block_ptr.shape[0] - 1
    dx_max = 0
    for b in range(n_blocks):
        dx_max = max(dx_max, block_ptr[b + 1] - block_ptr[b])
    empty2 = np.zeros((0, 0))
    for k in range(k0, k1):
        for s in range(4):
            stats[k, s] = 0.0
        if not forecast_cycle(
            rng, E, k, t0, dt, n_steps, step, step_data, Qchol, observed, moments, ens_out
        ):
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
        Rg = R if gain == GAIN_ANALYTIC else empty2
        Ea = transport_analysis(E, Ys, HX, Yobs[k], Rg, domains, cfg, (perms, perm_null, noise), st)
        for s in range(4):
            acc = 0.0
            for b in range(n_blocks):
                acc += st[b, s]
            stats[k, s] = acc / n_blocks
        finish_cycle(E, post_process(Ea, inflation, empty2), k, moments, ens_out)
