"""Gaussian targets: standard (any dimension) and correlated with a chosen condition number.

Data layout: ``idata = [dim, dense]``; ``fdata = [mean (dim), precision]`` where the
precision is ``dim`` inverse variances (``dense == 0``) or a ``dim x dim`` matrix,
row-major (``dense == 1``).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from geobayes.models.base import Model

__all__ = ["gaussian", "correlated_gaussian", "gaussian_from_moments"]


@njit(cache=True)
def gaussian_lpg(theta, fdata, idata):
    """Gaussian log density (up to a constant) and gradient; see the module docstring."""
    d = idata[0]
    r = theta - fdata[:d]
    if idata[1] == 0:
        g = -fdata[d : 2 * d] * r
    else:
        prec = fdata[d : d + d * d].reshape((d, d))
        g = -(prec @ r)
    return 0.5 * (r @ g), g


def gaussian_from_moments(mean, cov, name="gaussian", description="") -> Model:
    """A Gaussian model N(mean, cov); ``cov`` may be a vector of variances or a matrix.

    The model object carries the true moments as ``model.true_mean`` and ``model.true_cov``.

    Examples
    --------
    >>> from geobayes.models.gaussian import gaussian_from_moments
    >>> m = gaussian_from_moments([0.0, 1.0], [[1.0, 0.5], [0.5, 2.0]])
    >>> m.dim
    2
    """
    mean = np.asarray(mean, dtype=np.float64).ravel()
    d = mean.size
    cov = np.asarray(cov, dtype=np.float64)
    if cov.ndim == 1:
        if cov.shape != (d,) or np.any(cov <= 0):
            raise ValueError("variances must be a positive vector of the same length as mean")
        fdata = np.concatenate([mean, 1.0 / cov])
        dense = 0
        full = np.diag(cov)
    else:
        if cov.shape != (d, d) or not np.allclose(cov, cov.T):
            raise ValueError(f"cov must be a symmetric ({d}, {d}) matrix")
        try:
            np.linalg.cholesky(cov)
        except np.linalg.LinAlgError:
            raise ValueError("cov must be positive definite") from None
        fdata = np.concatenate([mean, np.linalg.inv(cov).ravel()])
        dense = 1
        full = cov
    m = Model(
        gaussian_lpg,
        {"x": (d,)},
        name=name,
        data=(fdata, np.array([d, dense])),
        description=description or f"Gaussian, dim {d}",
    )
    m.true_mean = mean.copy()
    m.true_cov = full.copy()
    m.gaussian_mixture = (np.ones(1), mean[None].copy(), full[None].copy())  # closed forms (MSIP)
    return m


def gaussian(dim: int = 10) -> Model:
    """Standard Gaussian N(0, I) of dimension ``dim``."""
    dim = int(dim)
    if dim < 1:
        raise ValueError(f"dim must be >= 1, got {dim}")
    return gaussian_from_moments(
        np.zeros(dim), np.ones(dim), name="gaussian", description=f"standard Gaussian, dim {dim}"
    )


def correlated_gaussian(dim: int = 10, condition_number: float = 1e4, seed: int = 0) -> Model:
    """Correlated Gaussian with covariance ``Q diag(lam) Q^T``.

    ``lam`` is log-spaced between ``condition_number**-0.5`` and ``condition_number**0.5``
    and ``Q`` is a random rotation drawn from ``seed`` (Haar measure via QR).
    """
    dim = int(dim)
    if dim < 2:
        raise ValueError(f"dim must be >= 2 for a correlated Gaussian, got {dim}")
    if not condition_number >= 1.0:
        raise ValueError(f"condition_number must be >= 1, got {condition_number}")
    rng = np.random.default_rng(seed)
    q, r = np.linalg.qr(rng.standard_normal((dim, dim)))
    q = q * np.sign(np.diag(r))
    lam = np.logspace(-0.5, 0.5, dim) ** np.log10(condition_number)
    cov = (q * lam) @ q.T
    cov = 0.5 * (cov + cov.T)
    return gaussian_from_moments(
        np.zeros(dim),
        cov,
        name="correlated_gaussian",
        description=f"correlated Gaussian, dim {dim}, condition number {condition_number:g}",
    )
