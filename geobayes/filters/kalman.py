r"""Exact Kalman filter, the oracle for linear-Gaussian models.

For :math:`x_k = F x_{k-1} + \eta_k`, :math:`\eta_k \sim N(0, Q)`,
:math:`y_k = H x_k + \varepsilon_k`, :math:`\varepsilon_k \sim N(0, R)`
(filters spec §6):

.. math::

    m_k^- = F m_{k-1}, \quad P_k^- = F P_{k-1} F^\top + Q, \\
    S_k = H P_k^- H^\top + R, \quad K_k = P_k^- H^\top S_k^{-1}, \\
    m_k = m_k^- + K_k (y_k - H m_k^-), \quad
    P_k = (I - K_k H) P_k^- (I - K_k H)^\top + K_k R K_k^\top \;\text{(Joseph form)},

and the log-evidence increment :math:`\log N(y_k; H m_k^-, S_k)`.  ``S`` is
factored by Cholesky; no explicit inverse is formed.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import float64, types

from ._lazy import lazy_njit

__all__ = ["KalmanResult", "kalman_filter"]


class KalmanResult(NamedTuple):
    """Output of :func:`kalman_filter`.

    Attributes
    ----------
    predicted_mean : ndarray of shape (K, d)
    predicted_cov : ndarray of shape (K, d, d)
    filtered_mean : ndarray of shape (K, d)
    filtered_cov : ndarray of shape (K, d, d)
    log_evidence_increment : ndarray of shape (K,)
    """

    predicted_mean: np.ndarray
    predicted_cov: np.ndarray
    filtered_mean: np.ndarray
    filtered_cov: np.ndarray
    log_evidence_increment: np.ndarray


_M2 = float64[:, ::1]
_M3 = float64[:, :, ::1]


@lazy_njit(
    types.void(
        _M2,
        _M2,
        _M2,
        _M2,
        float64[::1],
        _M2,
        _M2,
        types.uint8[::1],
        _M2,
        _M3,
        _M2,
        _M3,
        float64[::1],
    ),
    cache=True,
)
def _kalman_kernel(F, Q, H, R, m0, P0, Y, observed, pm, pP, fm, fP, lei):  # pragma: no cover
    d = F.shape[0]
    mobs = H.shape[0]
    m = m0.copy()
    P = P0.copy()
    eye = np.eye(d)
    for k in range(Y.shape[0]):
        m = F @ m
        P = F @ P @ F.T + Q
        P = 0.5 * (P + P.T)
        pm[k] = m
        pP[k] = P
        if observed[k] == 0:  # no observation: the analysis is the forecast
            lei[k] = 0.0
            fm[k] = m
            fP[k] = P
            continue
        S = H @ P @ H.T + R
        S = 0.5 * (S + S.T)
        L = np.linalg.cholesky(S)
        innov = Y[k] - H @ m
        # K = P H^T S^{-1}: solve S K^T = H P
        KT = np.linalg.solve(S, H @ P)
        K = KT.T.copy()
        z = np.linalg.solve(L, innov)
        logdet = 0.0
        for i in range(mobs):
            logdet += 2.0 * math.log(L[i, i])
        lei[k] = -0.5 * (mobs * math.log(2.0 * math.pi) + logdet + z @ z)
        m = m + K @ innov
        IKH = eye - K @ H
        P = IKH @ P @ IKH.T + K @ R @ K.T
        P = 0.5 * (P + P.T)
        fm[k] = m
        fP[k] = P


def kalman_filter(F, Q, H, R, m0, P0, observations, observed=None) -> KalmanResult:
    """Run the Kalman filter on validated float64 arrays.

    Parameters
    ----------
    F, Q : ndarray of shape (d, d)
    H : ndarray of shape (m, d)
    R : ndarray of shape (m, m)
    m0 : ndarray of shape (d,)
    P0 : ndarray of shape (d, d)
        Law of ``x_0`` (before the first forecast).
    observations : ndarray of shape (K, m)
    observed : ndarray of shape (K,), optional
        0 for cycles without an observation (their row of ``observations`` is
        ignored); default all observed.

    Returns
    -------
    KalmanResult

    Examples
    --------
    >>> import numpy as np
    >>> r = kalman_filter(np.eye(1), np.eye(1), np.eye(1), np.eye(1), np.zeros(1), np.eye(1),
    ...                   np.ones((1, 1)))
    >>> float(r.filtered_mean[0, 0])  # prior var 2, obs var 1: gain 2/3
    0.6666666666666666
    """
    c = np.ascontiguousarray
    F, Q, H, R, P0, Y = (c(np.asarray(a, float)) for a in (F, Q, H, R, P0, observations))
    m0 = c(np.asarray(m0, float))
    K, d = Y.shape[0], F.shape[0]
    pm, fm = np.empty((K, d)), np.empty((K, d))
    pP, fP = np.empty((K, d, d)), np.empty((K, d, d))
    lei = np.empty(K)
    obs = np.ones(K, np.uint8) if observed is None else np.ascontiguousarray(observed, np.uint8)
    _kalman_kernel(F, Q, H, R, m0, P0, np.where(obs[:, None] > 0, Y, 0.0), obs, pm, pP, fm, fP, lei)
    return KalmanResult(pm, pP, fm, fP, lei)
