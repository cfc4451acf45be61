"""Distance-based localisation: tapers and local observation sets.

The taper functions follow DAPPER's ``dist2coeff``: each is scaled so that the
coefficient is about ``exp(-1/2)`` at ``dist = radius`` (Gaspari-Cohn: 0.63,
with the curvature at 0 of the Gaussian ``exp(-dist^2 / (2 radius^2))``).

* Gaspari-Cohn (1999, eq. 4.10), the fifth-order piecewise rational function
  with half-width ``c = 1.82 * radius`` (DAPPER's constant, ``~ sqrt(10/3)``),
  zero beyond ``2c``;
* Gauss, ``exp(-dist^2 / (2 radius^2))``, cut at ``4 radius`` (coefficient
  ``< 3.4e-4``) so that local sets stay small;
* Step, 1 for ``dist <= radius`` and 0 beyond.

:func:`local_obs_sets` returns, for every state component, the observations
with a non-zero coefficient in compressed-row form ``(indptr, indices,
coeffs)`` so that the jitted LETKF needs no Python objects.
"""

from __future__ import annotations

import enum

import numpy as np

__all__ = ["Taper", "taper_coefficients", "periodic_distance", "local_obs_sets"]

#: DAPPER's Gaspari-Cohn half-width factor (``sqrt(10/3) = 1.826`` rounded).
GC_FACTOR = 1.82


class Taper(enum.Enum):
    """Localisation taper shape."""

    GASPARI_COHN = "gc"
    GAUSS = "gauss"
    STEP = "step"


def taper_coefficients(dist, radius: float, taper: Taper = Taper.GASPARI_COHN) -> np.ndarray:
    """Taper coefficients ``rho(dist; radius)`` in ``[0, 1]``.

    Examples
    --------
    >>> float(taper_coefficients(0.0, 4.0)[()])
    1.0
    """
    dist = np.abs(np.asarray(dist, dtype=float))
    taper = Taper(taper)
    if radius <= 0:
        raise ValueError(f"localization radius must be positive, got {radius}")
    out = np.zeros(dist.shape)
    if taper is Taper.STEP:
        out[dist <= radius] = 1.0
    elif taper is Taper.GAUSS:
        inside = dist <= 4.0 * radius
        out[inside] = np.exp(-0.5 * (dist[inside] / radius) ** 2)
    else:
        c = GC_FACTOR * radius
        r = dist / c
        i1 = dist <= c
        r1 = r[i1]
        out[i1] = -0.25 * r1**5 + 0.5 * r1**4 + 0.625 * r1**3 - (5.0 / 3.0) * r1**2 + 1.0
        i2 = (dist > c) & (dist <= 2 * c)
        r2 = r[i2]
        out[i2] = (
            r2**5 / 12.0
            - 0.5 * r2**4
            + 0.625 * r2**3
            + (5.0 / 3.0) * r2**2
            - 5.0 * r2
            + 4.0
            - (2.0 / 3.0) / r2
        )
        out = np.clip(out, 0.0, 1.0)
    return out


def periodic_distance(a, b, period: float) -> np.ndarray:
    """``|a - b|``, or the periodic distance ``min(|a-b|, L-|a-b|)`` when ``period > 0``."""
    diff = np.abs(np.asarray(a, float)[:, None] - np.asarray(b, float)[None, :])
    if period > 0:
        diff = np.mod(diff, period)
        diff = np.minimum(diff, period - diff)
    return diff


def local_obs_sets(
    state_coords,
    obs_coords,
    period: float,
    radius: float,
    taper: Taper = Taper.GASPARI_COHN,
    batch_size: int = 1,
):
    """Local observation sets of blocks of state components.

    Consecutive components ``b * batch_size .. (b+1) * batch_size - 1`` form
    block ``b`` and share one local analysis (DAPPER's state batches); the
    distance to an observation is measured from the block's centre (the mean
    of its coordinates, taken on the circle when periodic).

    Returns
    -------
    block_ptr : ndarray of shape (n_blocks + 1,), int64
        Block ``b`` holds components ``block_ptr[b] .. block_ptr[b+1] - 1``.
    indptr : ndarray of shape (n_blocks + 1,), int64
    indices : ndarray of shape (nnz,), int64
        Observation indices of block ``b`` are ``indices[indptr[b]:indptr[b+1]]``.
    sqrt_coeffs : ndarray of shape (nnz,), float64
        Square roots of the taper coefficients (they scale the whitened rows).
    """
    coords = np.asarray(state_coords, float)
    d = coords.shape[0]
    bs = int(batch_size)
    if bs < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    block_ptr = np.append(np.arange(0, d, bs), d).astype(np.int64)
    centres = np.empty(block_ptr.size - 1)
    for b in range(centres.size):
        c = coords[block_ptr[b] : block_ptr[b + 1]]
        if period > 0:  # circular mean, robust to blocks across the wrap
            ang = 2 * np.pi * c / period
            centres[b] = (np.angle(np.mean(np.exp(1j * ang))) % (2 * np.pi)) * period / (2 * np.pi)
        else:
            centres[b] = c.mean()
    dist = periodic_distance(centres, obs_coords, period)
    coeff = taper_coefficients(dist, radius, taper)
    mask = coeff > 0
    indptr = np.zeros(dist.shape[0] + 1, dtype=np.int64)
    indptr[1:] = np.cumsum(mask.sum(axis=1))
    rows, cols = np.nonzero(mask)
    return (
        block_ptr,
        indptr,
        np.ascontiguousarray(cols.astype(np.int64)),
        np.ascontiguousarray(np.sqrt(coeff[rows, cols])),
    )
