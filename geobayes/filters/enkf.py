r"""Ensemble Kalman filters: stochastic EnKF, ETKF and LETKF (filters spec §3-§4).

Notation (row convention, as in DAPPER): ensemble ``E`` (N x d), mean
:math:`\bar x`, anomalies ``A = E - 1 \bar x^\top``, observed ensemble
``Eo = h(E)`` with anomalies ``Y``, ``N1 = N - 1``.

Stochastic EnKF (Burgers et al. 1998; DAPPER ``PertObs``)
    ``C = Y^T Y + N1 R``, perturbations ``D ~ N(0, R)`` centred over members,
    :math:`E^a = E + (y - D - E_o)\, C^{-1} Y^\top A`.

ETKF (Hunt et al. 2007; DAPPER ``Sqrt``), whitened by the symmetric
:math:`R^{-1/2}`: ``S = Y R^{-1/2}`` and ``s = R^{-1/2}(y - \bar y)``,
``G = S S^T + N1 I``, mean weights ``w = G^{-1} S s``, symmetric transform
``T = sqrt(N1) G^{-1/2}``, :math:`E^a = 1\bar x^\top + (1 w^\top + T) A`.
When fewer observations than members are used, the same ``w`` and ``T`` are
computed from the ``m x m`` eigendecomposition ``S^T S = W diag(lambda) W^T``:

.. math::

    w = S W \operatorname{diag}\!\left(\tfrac{1}{\lambda + N_1}\right) W^\top s, \qquad
    T = I + S W \operatorname{diag}(g) W^\top S^\top, \quad
    g = \frac{-1}{(\lambda + N_1)\,(1 + \sqrt{N_1 / (\lambda + N_1)})},

which follow from the push-through identity and need no threshold on small
eigenvalues.  ``T 1 = 1`` because ``S^T 1 = 0``, so the transform preserves the
mean.

LETKF (Hunt et al. 2007)
    for each state component ``l`` the ETKF in ensemble space with the local
    observations, whose whitened rows are multiplied by ``sqrt(rho(dist/r))``
    (R-localisation with the taper of :mod:`geobayes.filters._localization`),
    updating only column ``l``.  Local analyses run in parallel (``prange``),
    each writing its own column, so the result does not depend on the number
    of threads.

Post-processing (DAPPER ``post_process``): optional random rotation of the
analysis anomalies by a Haar orthogonal matrix fixing the ones vector, then
multiplicative inflation ``E <- 1 \bar x^\top + infl (E - 1 \bar x^\top)``.

All random numbers (perturbations, rotations, process noise) are drawn
serially from one ``numpy.random.Generator``; members and local domains are
then processed in parallel doing arithmetic only.
"""

from __future__ import annotations

import math

import numpy as np
from numba import boolean, float64, int64, njit, prange, types

from ..types import GENERATOR
from ._lazy import lazy_njit
from ._types import OBSERVE, STEP

__all__ = [
    "PERTURBED_OBS",
    "ETKF_VARIANT",
    "LETKF_VARIANT",
    "etkf_transform",
    "etkf_update",
    "etkf_update_space",
    "use_observation_space",
    "SPACE_AUTO",
    "SPACE_ENSEMBLE",
    "SPACE_OBSERVATION",
    "etkf_analysis",
    "enkf_analysis",
    "letkf_analysis",
    "letkf_analysis_space",
    "post_process",
    "random_rotation",
    "rotate_anomalies",
    "haar_orthogonal",
    "ones_complement_basis",
    "ensemble_chunk",
    "gaussian_log_evidence",
]

#: Kernel variant codes (the front classes map onto these).
PERTURBED_OBS = 0
ETKF_VARIANT = 1
LETKF_VARIANT = 2


# ---------------------------------------------------------------- building blocks
@njit(parallel=True, cache=True)
def forecast_members(E, k, t0, dt, n_steps, step, step_data):  # pragma: no cover
    """Integrate every member over cycle ``k`` in place (parallel over members)."""
    for i in prange(E.shape[0]):
        x = E[i].copy()
        for s in range(n_steps):
            x = step(x, t0 + (k * n_steps + s) * dt, dt, step_data)
        E[i] = x


@njit(cache=True)
def add_process_noise(rng, E, Qchol):  # pragma: no cover
    """``E += Z Qchol^T`` with ``Z`` standard normal drawn serially (no-op if empty)."""
    if Qchol.shape[0] > 0:
        Z = rng.standard_normal((E.shape[0], E.shape[1]))
        E += Z @ Qchol.T


@njit(parallel=True, cache=True)
def observe_members(E, observe, observe_data, m):  # pragma: no cover
    """``h`` applied to every member, shape ``(N, m)``."""
    Eo = np.empty((E.shape[0], m))
    for i in prange(E.shape[0]):
        Eo[i] = observe(E[i].copy(), observe_data)
    return Eo


@njit(cache=True)
def ensemble_moments(E, mean_out, sd_out):  # pragma: no cover
    """Mean and standard deviation (``ddof = 1``) over members."""
    N, d = E.shape
    for j in range(d):
        acc = 0.0
        for i in range(N):
            acc += E[i, j]
        mu = acc / N
        ss = 0.0
        for i in range(N):
            ss += (E[i, j] - mu) ** 2
        mean_out[j] = mu
        sd_out[j] = math.sqrt(ss / (N - 1))


@njit(cache=True)
def forecast_cycle(
    rng, E, k, t0, dt, n_steps, step, step_data, Qchol, observed, moments, ens_out
):  # pragma: no cover
    """Forecast of cycle ``k`` for every ensemble filter, in place.

    Integrates the members, adds process noise and writes the forecast
    moments ``moments = (pred_mean, pred_sd, filt_mean, filt_sd)`` of row ``k``.
    Returns ``True`` when cycle ``k`` has an observation to assimilate;
    otherwise the analysis is the forecast (written by
    :func:`finish_cycle`) and ``False`` is returned.
    """
    forecast_members(E, k, t0, dt, n_steps, step, step_data)
    add_process_noise(rng, E, Qchol)
    ensemble_moments(E, moments[0][k], moments[1][k])
    if observed[k] != 0:
        return True
    _store_analysis(E, k, moments, ens_out)
    return False


@njit(cache=True)
def _store_analysis(E, k, moments, ens_out):  # pragma: no cover
    ensemble_moments(E, moments[2][k], moments[3][k])
    if ens_out.shape[0] > 0:
        ens_out[k] = E


@njit(cache=True)
def finish_cycle(E, Ea, k, moments, ens_out):  # pragma: no cover
    """``E <- Ea``, then the analysis moments of row ``k`` and the stored ensemble."""
    E[:] = Ea
    _store_analysis(E, k, moments, ens_out)


@njit(cache=True)
def _center(E):
    N = E.shape[0]
    mu = np.zeros(E.shape[1])
    for i in range(N):
        mu += E[i]
    mu /= N
    A = E - mu
    return mu, A


@njit(cache=True)
def _small_m_factors(S, s, N1):
    """For ``m < N``: ``S W`` (eigenvectors ``W`` of ``S^T S``, eigenvalues ``lam``), the mean
    weights ``w = S W (lam + N1)^-1 W^T s`` and the square-root factors
    ``g = -1 / ((lam + N1) (1 + sqrt(N1 / (lam + N1))))`` so that ``T = I + S W diag(g) W^T S^T``.
    """
    m = S.shape[1]
    lam, W = np.linalg.eigh(np.ascontiguousarray(S.T) @ S)
    SW = S @ W
    inv = np.empty(m)
    g = np.empty(m)
    for i in range(m):
        li = max(lam[i], 0.0)
        inv[i] = 1.0 / (li + N1)
        g[i] = -1.0 / ((li + N1) * (1.0 + math.sqrt(N1 / (li + N1))))
    w = SW @ (inv * (np.ascontiguousarray(W.T) @ s))
    return SW, w, g


@njit(cache=True)
def etkf_transform(S, s, N1):
    """Mean weights ``w`` (N,) and symmetric transform ``T`` (N, N) of the ETKF.

    Parameters
    ----------
    S : ndarray of shape (N, m)
        Whitened observed anomalies ``Y R^{-1/2}`` (localised if need be).
    s : ndarray of shape (m,)
        Whitened innovation ``R^{-1/2} (y - mean(h(E)))``.
    N1 : float
        ``N - 1``.
    """
    N, m = S.shape
    if m < N:
        SW, w, g = _small_m_factors(S, s, N1)
        T = np.eye(N) + (SW * g) @ SW.T
    else:
        G = S @ S.T
        for i in range(N):
            G[i, i] += N1
        lam, V = np.linalg.eigh(G)
        Pw = (V / lam) @ V.T
        T = ((V / np.sqrt(lam)) @ V.T) * math.sqrt(N1)
        w = Pw @ (S @ s)
    return w, T


#: Factorization of a (local) ETKF analysis: the cheaper one by flop count,
#: the ``N x N`` ensemble-space one, or the ``m x m`` observation-space one.
SPACE_AUTO = 0
SPACE_ENSEMBLE = 1
SPACE_OBSERVATION = 2

#: Flops of a symmetric eigendecomposition with vectors of an ``n x n`` matrix,
#: in units of ``n^3`` (LAPACK tridiagonalisation + QR/D&C + back-transform).
EIGH_FLOPS = 9.0


@njit(cache=True, nogil=True)
def use_observation_space(N, m, nb, space):
    """Whether the ``m x m`` factorization is used for an analysis of ``nb`` columns.

    ``space`` is :data:`SPACE_AUTO` (the cheaper by flop count),
    :data:`SPACE_ENSEMBLE` or :data:`SPACE_OBSERVATION`.  Counted: the Gram
    matrix, its eigendecomposition and the products applied to the ``nb``
    updated columns; both give the same analysis to round-off.
    """
    if space == SPACE_ENSEMBLE:
        return False
    if space == SPACE_OBSERVATION:
        return True
    obs = EIGH_FLOPS * m * m * m + 1.0 * N * m * m + 4.0 * m * nb * (N + m)
    ens = EIGH_FLOPS * N * N * N + 1.0 * N * N * m + 4.0 * N * N * nb
    return obs < ens


@njit(cache=True)
def etkf_update_space(S, s, N1, A, space):
    """ETKF increment ``(dmu, Aa)`` with the factorization chosen by ``space``.

    ``dmu = w @ A`` (mean increment) and ``Aa = T @ A`` (analysis anomalies),
    computed without forming ``T``: observation space (``m x m``,
    eigenvectors ``W`` of ``S^T S``) ``Aa = A + S W diag(g) W^T (S^T A)``;
    ensemble space (``N x N``, ``S S^T + N1 I = V diag(lam) V^T``)
    ``Aa = sqrt(N1) V diag(lam^{-1/2}) (V^T A)``.  See
    :func:`use_observation_space`.
    """
    return _etkf_core(S, np.ascontiguousarray(S.T), s, N1, A, space)


@njit(cache=True, nogil=True)
def _etkf_core(S, St, s, N1, A, space):
    """:func:`etkf_update_space` given ``S`` and its transpose ``St`` (both C-contiguous)."""
    N, m = S.shape
    nb = A.shape[1]
    if use_observation_space(N, m, nb, space):
        lam, W = np.linalg.eigh(St @ S)
        Wt = np.ascontiguousarray(W.T)
        B = Wt @ (St @ A)  # W^T S^T A, (m, nb)
        ws = Wt @ s  # W^T s
        dmu = np.zeros(nb)
        for i in range(m):
            li = max(lam[i], 0.0)
            inv = 1.0 / (li + N1)
            g = -1.0 / ((li + N1) * (1.0 + math.sqrt(N1 / (li + N1))))
            c = ws[i] * inv
            for q in range(nb):
                dmu[q] += c * B[i, q]
                B[i, q] *= g
        return dmu, A + S @ (W @ B)
    G = S @ St
    for i in range(N):
        G[i, i] += N1
    lam, V = np.linalg.eigh(G)
    Vt = np.ascontiguousarray(V.T)
    C = Vt @ A  # (N, nb)
    z = Vt @ (S @ s)
    sq = math.sqrt(N1)
    for i in range(N):
        z[i] /= lam[i]
        f = sq / math.sqrt(lam[i])
        for q in range(nb):
            C[i, q] *= f
    w = V @ z
    return w @ A, V @ C


@njit(cache=True)
def etkf_update(S, s, N1, A):
    """ETKF increment without forming ``T`` (factorization chosen by flop count).

    Returns ``(dmu, Aa)`` with ``dmu = w @ A`` (the mean increment) and
    ``Aa = T @ A`` (the analysis anomalies); cost ``O(N m d + m^3)`` in
    observation space, ``O(N^2 d + N^3)`` in ensemble space, whichever is
    cheaper (:func:`etkf_update_space`).
    """
    return etkf_update_space(S, s, N1, A, SPACE_AUTO)


@njit(cache=True)
def etkf_analysis_space(E, Eo, y, Rm12, space):
    """Global ETKF analysis of one cycle (no inflation/rotation); returns ``E^a``."""
    N = E.shape[0]
    mu, A = _center(E)
    yo, Y = _center(Eo)
    S = Y @ Rm12.T
    s = Rm12 @ (y - yo)
    dmu, Aa = etkf_update_space(S, s, N - 1.0, A, space)
    return (mu + dmu) + Aa


@njit(cache=True)
def etkf_analysis(E, Eo, y, Rm12):
    """Global ETKF analysis of one cycle (no inflation/rotation); returns ``E^a``."""
    return etkf_analysis_space(E, Eo, y, Rm12, SPACE_AUTO)


@njit(cache=True)
def enkf_analysis(E, Eo, y, R, Rchol, Z):
    """Stochastic EnKF analysis with standard-normal draws ``Z`` (N, m); returns ``E^a``."""
    N = E.shape[0]
    _, A = _center(E)
    _, Y = _center(Eo)
    D = Z @ Rchol.T
    _, D = _center(D)
    C = Y.T @ Y + (N - 1.0) * R
    innov = y - D - Eo  # (N, m)
    W = np.linalg.solve(C, np.ascontiguousarray(innov.T))  # C^{-1} innov^T, (m, N)
    return E + np.ascontiguousarray(W.T) @ (np.ascontiguousarray(Y.T) @ A)


@njit(cache=True, nogil=True)
def letkf_block(E, mu, A, St, s, N1, l0, nb, idx, sqc, space, Ea):  # pragma: no cover
    """One local analysis: columns ``l0 .. l0+nb-1`` of ``Ea`` from the local
    observations ``idx`` (whitened rows of ``St`` scaled by ``sqc``)."""
    N = E.shape[0]
    nl = idx.shape[0]
    if nl == 0:
        for i in range(N):
            for q in range(nb):
                Ea[i, l0 + q] = E[i, l0 + q]
        return
    Slt = np.empty((nl, N))
    Sl = np.empty((N, nl))
    sl = np.empty(nl)
    for jj in range(nl):
        j = idx[jj]
        c = sqc[jj]
        sl[jj] = s[j] * c
        for i in range(N):
            v = St[j, i] * c
            Slt[jj, i] = v
            Sl[i, jj] = v
    cols = np.empty((N, nb))
    for i in range(N):
        for q in range(nb):
            cols[i, q] = A[i, l0 + q]
    dmu, Acols = _etkf_core(Sl, Slt, sl, N1, cols, space)
    for i in range(N):
        for q in range(nb):
            Ea[i, l0 + q] = mu[l0 + q] + dmu[q] + Acols[i, q]


@njit(cache=True)
def whitening_diagonal(Rm12):
    """The diagonal of ``Rm12`` when every off-diagonal entry is zero, else an empty array."""
    m = Rm12.shape[0]
    for i in range(m):
        for j in range(m):
            if i != j and Rm12[i, j] != 0.0:
                return np.zeros(0)
    out = np.empty(m)
    for i in range(m):
        out[i] = Rm12[i, i]
    return out


@njit(cache=True)
def _whiten(Eo, y, Rm12, rdiag):
    """``St = (Y Rm12^T)^T`` (m, N, C-contiguous) and ``s = Rm12 (y - mean(Eo))``.

    With a diagonal ``Rm12`` (``rdiag`` its diagonal, see :func:`whitening_diagonal`)
    by scaling rows, the same numbers as the matrix products (the dropped terms are
    exact zeros) without their ``N m^2`` flops.
    """
    yo, Y = _center(Eo)
    if rdiag.shape[0] == 0:
        return np.ascontiguousarray((Y @ Rm12.T).T), Rm12 @ (y - yo)
    N, m = Y.shape
    St = np.empty((m, N))
    s = np.empty(m)
    for j in range(m):
        r = rdiag[j]
        s[j] = r * (y[j] - yo[j])
        for i in range(N):
            St[j, i] = Y[i, j] * r
    return St, s


@njit(parallel=True, cache=True)
def _letkf_analysis(
    E, Eo, y, Rm12, rdiag, block_ptr, indptr, indices, sqrtc, space
):  # pragma: no cover
    N, d = E.shape
    N1 = N - 1.0
    mu, A = _center(E)
    St, s = _whiten(Eo, y, Rm12, rdiag)
    Ea = np.empty((N, d))
    n_blocks = block_ptr.shape[0] - 1
    for b in prange(n_blocks):
        l0 = block_ptr[b]
        a = indptr[b]
        e = indptr[b + 1]
        letkf_block(
            E, mu, A, St, s, N1, l0, block_ptr[b + 1] - l0, indices[a:e], sqrtc[a:e], space, Ea
        )
    return Ea


@njit(cache=True)
def letkf_analysis_space(
    E, Eo, y, Rm12, block_ptr, indptr, indices, sqrtc, space
):  # pragma: no cover
    """LETKF analysis of one cycle (no inflation/rotation); returns ``E^a``.

    State components ``block_ptr[b] .. block_ptr[b+1]-1`` share one local
    analysis (DAPPER's state batches), with the local observations
    ``indices[indptr[b]:indptr[b+1]]`` whose whitened rows are scaled by
    ``sqrtc`` (see :func:`geobayes.filters._localization.local_obs_sets`);
    ``space`` chooses the factorization of each (:func:`use_observation_space`).
    Each block writes only its own columns, so the result does not depend on
    the number of threads.
    """
    return _letkf_analysis(
        E, Eo, y, Rm12, whitening_diagonal(Rm12), block_ptr, indptr, indices, sqrtc, space
    )


@njit(cache=True)
def letkf_analysis(E, Eo, y, Rm12, block_ptr, indptr, indices, sqrtc):  # pragma: no cover
    """:func:`letkf_analysis_space` with the factorization chosen by flop count."""
    return letkf_analysis_space(E, Eo, y, Rm12, block_ptr, indptr, indices, sqrtc, SPACE_AUTO)


@njit(cache=True)
def _forward_substitution(L, b):  # pragma: no cover
    """``L^{-1} b`` for a lower-triangular ``L``."""
    n = b.shape[0]
    z = np.empty(n)
    for i in range(n):
        acc = b[i]
        for j in range(i):
            acc -= L[i, j] * z[j]
        z[i] = acc / L[i, i]
    return z


@njit(cache=True)
def gaussian_log_evidence(Eo, y, Rm12, log_norm):  # pragma: no cover
    """Gaussian log-evidence increment ``log N(y; mean(h(E)), C_hh + R)`` of one cycle.

    ``C_hh`` is the sample covariance of the observed forecast ensemble ``Eo``
    (N, m).  With the whitened anomalies ``S = Y R^{-1/2} / sqrt(N - 1)`` and
    ``s = R^{-1/2} d``: ``log det(C) = log det R + log det(I + G)`` and
    ``d^T C^{-1} d = s^T (I_m + S^T S)^{-1} s``, computed from one Cholesky
    factor in the smaller of the two spaces: ``G = S^T S`` (``m x m``) when
    ``m <= N``, else ``G = S S^T`` (``N x N``, matrix determinant lemma) with
    ``d^T C^{-1} d = s^T s - (S s)^T (I_N + S S^T)^{-1} (S s)`` (Woodbury).
    ``log_norm = (m log(2 pi) + log det R) / 2``.
    """
    N, m = Eo.shape
    yo, Y = _center(Eo)
    S = (Y @ Rm12.T) / math.sqrt(N - 1.0)
    s = Rm12 @ (y - yo)
    if m <= N:
        G = np.ascontiguousarray(S.T) @ S
        n = m
    else:
        G = S @ np.ascontiguousarray(S.T)
        n = N
    for i in range(n):
        G[i, i] += 1.0
    L = np.linalg.cholesky(G)
    logdet = 0.0
    for i in range(n):
        logdet += 2.0 * math.log(L[i, i])
    if m <= N:
        z = _forward_substitution(L, s)
        quad = z @ z
    else:
        z = _forward_substitution(L, S @ s)
        quad = s @ s - z @ z
    return -0.5 * quad - 0.5 * logdet - log_norm


def ones_complement_basis(N: int) -> np.ndarray:
    """Orthonormal basis (N, N-1) of the complement of the ones vector."""
    M = np.eye(N)
    M[:, 0] = 1.0
    Q, _ = np.linalg.qr(M)
    return np.ascontiguousarray(Q[:, 1:])


@njit(cache=True, nogil=True)
def _reflect(B, r0, c0, v, vtv, c):
    """``B[r0:, c0:] <- (I - 2 v v^T / (v^T v)) B[r0:, c0:]`` in place (``v`` of length
    ``B.shape[0] - r0``; ``c`` scratch of length at least ``B.shape[1] - c0``)."""
    w = B.shape[1] - c0
    if vtv == 0.0:
        return
    for q in range(w):
        c[q] = 0.0
    for i in range(v.shape[0]):  # row views: the inner loops vectorize
        vi = v[i]
        row = B[r0 + i, c0:]
        for q in range(w):
            c[q] += vi * row[q]
    f = 2.0 / vtv
    for q in range(w):
        c[q] *= f
    for i in range(v.shape[0]):
        vi = v[i]
        row = B[r0 + i, c0:]
        for q in range(w):
            row[q] -= vi * c[q]


@njit(cache=True)
def haar_orthogonal(rng, n):
    """Haar-random ``n x n`` orthogonal matrix from ``n (n + 1) / 2`` normal draws.

    The orthogonal factor, with a positive diagonal of ``R``, of the
    Householder QR factorization ``Z = P_1 ... P_{n-1} R`` of an ``n x n``
    standard normal matrix, ``Q = P_1 ... P_{n-1} D`` with
    ``D = sign(diag(R))``, is exactly Haar (Stewart 1980; Mezzadri 2007).
    ``Z`` is never drawn: the vector each reflector ``P_k`` maps onto
    ``beta_k e_k`` is, by the rotation invariance of the normal law, a fresh
    standard normal vector of length ``n - k + 1``, and ``R``'s last diagonal
    entry a fresh standard normal; so each ``P_k`` is drawn directly and
    accumulated backwards (``P_k`` acts on the trailing block only: about
    ``4 n^3 / 3`` flops instead of QR's ``8 n^3 / 3`` and ``n^2`` draws).
    """
    Q = np.eye(n)
    sgn = np.ones(n)
    if n == 0:
        return Q
    z = rng.standard_normal(n * (n + 1) // 2)  # one call: x_{n-1}, x_{n-2}, ..., x_0
    if z[0] < 0.0:
        sgn[n - 1] = -1.0
    p = 1
    c = np.empty(n)  # the reflections' scratch, one allocation per draw
    for k in range(n - 2, -1, -1):
        x = z[p : p + n - k]
        p += n - k
        xn = math.sqrt(x @ x)
        beta = -xn if x[0] >= 0.0 else xn  # P_k x = beta e_k (LAPACK's sign choice)
        if beta < 0.0:
            sgn[k] = -1.0
        x[0] -= beta
        _reflect(Q, k, k, x, x @ x, c)
    for i in range(n):
        for j in range(n):
            Q[i, j] *= sgn[j]
    return Q


@njit(cache=True)
def rotate_anomalies(rng, A):
    """``R A`` for a Haar-random mean-preserving rotation ``R`` (``R 1 = 1``), not formed.

    ``R = H0 diag(1, Q) H0``: ``H0`` is the Householder reflector that maps
    ``e_1`` to ``1 / sqrt(N)`` (its last ``N - 1`` columns are an orthonormal
    basis of the complement of the ones vector) and ``Q`` is
    :func:`haar_orthogonal` of order ``N - 1``; so ``R`` is Haar on the
    complement of the ones vector, whatever the basis.  Cost: two rank-one
    updates and one ``(N - 1)^2 d`` product for ``A`` of shape ``(N, d)``.
    """
    N = A.shape[0]
    B = A.copy()
    if N < 2:
        return B
    sq = math.sqrt(N)
    u = np.full(N, -1.0 / sq)  # H0 = I - 2 u u^T / (u^T u), u = e_1 - 1 / sqrt(N)
    u[0] += 1.0
    utu = u @ u
    c = np.empty(B.shape[1])
    _reflect(B, 0, 0, u, utu, c)
    Q = haar_orthogonal(rng, N - 1)
    B[1:] = Q @ B[1:]
    _reflect(B, 0, 0, u, utu, c)
    return B


@njit(cache=True)
def random_rotation(rng, N):
    """The ``N x N`` matrix ``R`` of :func:`rotate_anomalies` for the same draws.

    Haar-random orthogonal with the ones vector as eigenvector (eigenvalue 1).
    """
    return rotate_anomalies(rng, np.eye(N))


@njit(cache=True)
def post_process(E, inflation, rotation):
    """Rotate (if ``rotation`` is non-empty) then inflate the anomalies."""
    mu, A = _center(E)
    if rotation.shape[0] > 0:
        A = rotation @ A
    if inflation != 1.0:
        A = inflation * A
    return mu + A


@njit(cache=True)
def post_process_random_rotation(E, inflation, rng):
    """:func:`post_process` with the rotation of :func:`random_rotation` (same draws),
    applied by :func:`rotate_anomalies` without forming the ``N x N`` matrix."""
    mu, A = _center(E)
    A = rotate_anomalies(rng, A)
    if inflation != 1.0:
        A = inflation * A
    return mu + A


# ---------------------------------------------------------------- chunk driver
_M2 = float64[:, ::1]
_M3 = float64[:, :, ::1]
_V = float64[::1]

CHUNK_SIG = types.void(
    GENERATOR,
    _M2,
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
    _M2,
    _M2,
    int64,
    float64,
    boolean,
    int64[::1],
    int64[::1],
    int64[::1],
    _V,
    _M2,
    _M2,
    _M2,
    _M2,
    _M3,
    float64,
    _V,
    int64,
)


@lazy_njit(CHUNK_SIG, cache=True)
def ensemble_chunk(
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
    Y,
    observed,
    R,
    Rchol,
    Rm12,
    Qchol,
    variant,
    inflation,
    rotate,
    block_ptr,
    indptr,
    indices,
    sqrtc,
    pred_mean,
    pred_sd,
    filt_mean,
    filt_sd,
    ens_out,
    log_norm,
    lei_out,
    space,
):  # pragma: no cover
    """Run cycles ``k0 .. k1-1`` of an EnKF/ETKF/LETKF, updating ``E`` in place.

    Writes the forecast and analysis moments of each cycle into the output
    rows ``k``, and the analysis ensemble into ``ens_out[k]`` when
    ``ens_out`` is non-empty.  Cycles with ``observed[k] == 0`` have no
    analysis (nor inflation or rotation): the analysis is the forecast.
    When ``lei_out`` is non-empty, ``lei_out[k]`` receives the Gaussian
    log-evidence increment of the forecast ensemble (:func:`gaussian_log_evidence`;
    0 for unobserved cycles).  ``space`` chooses the factorization of the
    (local) ETKF analyses (:data:`SPACE_AUTO` ...).
    """
    N = E.shape[0]
    m = Y.shape[1]
    no_rotation = np.zeros((0, 0))
    rdiag = whitening_diagonal(Rm12) if variant == LETKF_VARIANT else np.zeros(0)
    moments = (pred_mean, pred_sd, filt_mean, filt_sd)
    for k in range(k0, k1):
        if not forecast_cycle(
            rng, E, k, t0, dt, n_steps, step, step_data, Qchol, observed, moments, ens_out
        ):
            continue
        Eo = observe_members(E, observe, observe_data, m)
        y = Y[k]
        if lei_out.shape[0] > 0:
            lei_out[k] = gaussian_log_evidence(Eo, y, Rm12, log_norm)
        if variant == PERTURBED_OBS:
            Z = rng.standard_normal((N, m))
            Ea = enkf_analysis(E, Eo, y, R, Rchol, Z)
        elif variant == ETKF_VARIANT:
            Ea = etkf_analysis_space(E, Eo, y, Rm12, space)
        else:
            Ea = _letkf_analysis(E, Eo, y, Rm12, rdiag, block_ptr, indptr, indices, sqrtc, space)
        if rotate:
            Ea = post_process_random_rotation(Ea, inflation, rng)
        else:
            Ea = post_process(Ea, inflation, no_rotation)
        finish_cycle(E, Ea, k, moments, ens_out)
