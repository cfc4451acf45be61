"""Slow, obvious NumPy twins of the filter kernels (no Numba, no cleverness).

Each follows the equations of ../shared/specs/filters.md literally, in the
textbook form (explicit inverses and eigendecompositions in ensemble space),
so that a disagreement with a jitted kernel points at the kernel.
"""

from __future__ import annotations

import numpy as np


def kalman(F, Q, H, R, m0, P0, Y):
    """Kalman filter, spec §6 (Joseph form); returns filtered means, covs, log-evidence terms."""
    m, P = m0.copy(), P0.copy()
    ms, Ps, lls = [], [], []
    for y in Y:
        m = F @ m
        P = F @ P @ F.T + Q
        S = H @ P @ H.T + R
        K = P @ H.T @ np.linalg.inv(S)
        v = y - H @ m
        lls.append(
            -0.5
            * (len(y) * np.log(2 * np.pi) + np.log(np.linalg.det(S)) + v @ np.linalg.inv(S) @ v)
        )
        m = m + K @ v
        IKH = np.eye(len(m)) - K @ H
        P = IKH @ P @ IKH.T + K @ R @ K.T
        ms.append(m)
        Ps.append(P)
    return np.array(ms), np.array(Ps), np.array(lls)


def joint_loglik(F, Q, H, R, m0, P0, Y, observed=None):
    """log p(y_1..y_K) by brute force: the stacked observations are jointly Gaussian.

    With ``observed`` (K,) booleans, the marginal likelihood of the observed rows only.
    """
    K, d = Y.shape[0], F.shape[0]
    # x_k = F^k x_0 + sum_{j<=k} F^{k-j} eta_j ; mean and cross-covariances of the states
    means = []
    m = m0.copy()
    for _ in range(K):
        m = F @ m
        means.append(m)
    Fp = [np.linalg.matrix_power(F, k) for k in range(K + 1)]
    cov = np.zeros((K * d, K * d))
    for a in range(1, K + 1):
        for b in range(1, K + 1):
            c = Fp[a] @ P0 @ Fp[b].T
            for j in range(1, min(a, b) + 1):
                c = c + Fp[a - j] @ Q @ Fp[b - j].T
            cov[(a - 1) * d : a * d, (b - 1) * d : b * d] = c
    Hb = np.kron(np.eye(K), H)
    mu = Hb @ np.concatenate(means)
    S = Hb @ cov @ Hb.T + np.kron(np.eye(K), R)
    v = Y.ravel() - mu
    if observed is not None:
        keep = np.repeat(np.asarray(observed, bool), Y.shape[1])
        S, v = S[np.ix_(keep, keep)], v[keep]
    sign, logdet = np.linalg.slogdet(S)
    return -0.5 * (len(v) * np.log(2 * np.pi) + logdet + v @ np.linalg.solve(S, v))


def _sym_inv_sqrt(M):
    vals, vecs = np.linalg.eigh(M)
    return vecs @ np.diag(vals**-0.5) @ vecs.T


def etkf(E, Eo, y, R):
    """ETKF, spec §4.1, in ensemble space with an explicit inverse."""
    N = E.shape[0]
    mu = E.mean(0)
    A = E - mu
    Y = Eo - Eo.mean(0)
    Rinv = np.linalg.inv(R)
    G = Y @ Rinv @ Y.T + (N - 1) * np.eye(N)
    Pw = np.linalg.inv(G)
    w = Pw @ Y @ Rinv @ (y - Eo.mean(0))
    T = np.sqrt(N - 1) * _sym_inv_sqrt(G)
    return mu + w @ A + T @ A


def enkf(E, Eo, y, R, Z):
    """Stochastic EnKF, spec §3, with standard-normal draws Z (N, m)."""
    N = E.shape[0]
    A = E - E.mean(0)
    Y = Eo - Eo.mean(0)
    D = Z @ np.linalg.cholesky(R).T
    D = D - D.mean(0)
    C = Y.T @ Y + (N - 1) * R
    K = A.T @ Y @ np.linalg.inv(C)
    return E + (K @ (y - D - Eo).T).T


def letkf(E, Eo, y, R, dist, coeff_fn):
    """LETKF, spec §4.2, one state component at a time; ``dist`` (d, m) distances."""
    N, d = E.shape
    mu = E.mean(0)
    A = E - mu
    Rm12 = _sym_inv_sqrt(R)
    Y = (Eo - Eo.mean(0)) @ Rm12.T
    dy = Rm12 @ (y - Eo.mean(0))
    out = np.empty_like(E)
    for l in range(d):
        c = coeff_fn(dist[l])
        jj = np.nonzero(c > 0)[0]
        if jj.size == 0:
            out[:, l] = E[:, l]
            continue
        Yl = Y[:, jj] * np.sqrt(c[jj])
        dl = dy[jj] * np.sqrt(c[jj])
        G = Yl @ Yl.T + (N - 1) * np.eye(N)
        w = np.linalg.inv(G) @ Yl @ dl
        T = np.sqrt(N - 1) * _sym_inv_sqrt(G)
        out[:, l] = mu[l] + w @ A[:, l] + T @ A[:, l]
    return out


def gaspari_cohn(dist, radius):
    """Gaspari-Cohn (1999) eq. 4.10 with half-width c = 1.82 radius, written per segment."""
    c = 1.82 * radius
    out = np.zeros_like(dist, dtype=float)
    for i, z in np.ndenumerate(np.abs(dist)):
        r = z / c
        if z <= c:
            out[i] = -0.25 * r**5 + 0.5 * r**4 + 5 / 8 * r**3 - 5 / 3 * r**2 + 1
        elif z <= 2 * c:
            out[i] = r**5 / 12 - 0.5 * r**4 + 5 / 8 * r**3 + 5 / 3 * r**2 - 5 * r + 4 - 2 / (3 * r)
    return out


def systematic(weights, u):
    """Systematic resampling, spec §5: smallest i with cumsum_i > (u + k) / N."""
    N = len(weights)
    c = np.cumsum(weights / weights.sum())
    c[np.nonzero(weights > 0)[0][-1] :] = 1.0  # exact 1 from the last positive weight on
    points = np.minimum((u + np.arange(N)) / N, np.nextafter(1.0, 0.0))
    return np.array([int(np.searchsorted(c, p, side="right")) for p in points])
