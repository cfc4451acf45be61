"""Loss surfaces whose minimum sets are known in closed form (targets for DIMS).

Each is a :class:`~geobayes.models.Model` whose log density is the negative loss, so
``model.loss_and_grad`` is the loss view.  The loss has no probabilistic meaning (it
need not be integrable); use these with loss-based samplers (``method="dims"``).

* ``ring``: ``L = (|theta|^2 - R^2)^2 / 4``; minimum set the sphere ``|theta| = R``
  (the unit circle in 2-D), ``L_min = 0``; curvature across it ``2 R^2``.
* ``hyperbola``: ``L(a, b) = (a b - 1)^2``, the squared error of the linear model
  ``f(x) = a b x`` fitted to ``y = x``; minimum set the hyperbola ``a b = 1`` (two
  branches, separated by the barrier ``L(0, 0) = 1``); the rescaling ``(a, b) -> (c a, b/c)``
  is the reparameterization symmetry.
* ``flat_valley``: ``L = curvature * |theta_{flat:}|^2 / 2``; minimum set the subspace
  spanned by the first ``flat`` coordinates.

Every model carries ``minimum_loss`` and ``distance_to_minimum_set(theta_batch)`` (a
residual that is zero exactly on the minimum set: ``| |theta| - R |``, ``|a b - 1|``,
``|theta_{flat:}|``).

Examples
--------
>>> from geobayes.models.loss_surfaces import ring
>>> m = ring()
>>> m.loss_and_grad([1.0, 0.0])[0]
0.0
>>> float(m.distance_to_minimum_set([[0.0, 2.0]])[0])
1.0
"""

from __future__ import annotations

import numpy as np
from numba import njit

from geobayes.models.base import Model

__all__ = ["ring", "hyperbola", "flat_valley"]


@njit(cache=True)
def ring_lpg(theta, fdata, idata):
    """``-(|theta|^2 - R^2)^2 / 4``; ``fdata = [R]``."""
    r2 = fdata[0] * fdata[0]
    s = 0.0
    for i in range(theta.shape[0]):
        s += theta[i] * theta[i]
    e = s - r2
    g = np.empty(theta.shape[0])
    for i in range(theta.shape[0]):
        g[i] = -e * theta[i]
    return -0.25 * e * e, g


@njit(cache=True)
def hyperbola_lpg(theta, fdata, idata):
    """``-(a b - 1)^2``."""
    a, b = theta[0], theta[1]
    r = a * b - 1.0
    g = np.empty(2)
    g[0] = -2.0 * r * b
    g[1] = -2.0 * r * a
    return -r * r, g


@njit(cache=True)
def flat_valley_lpg(theta, fdata, idata):
    """``-c |theta_{k:}|^2 / 2``; ``fdata = [c]``, ``idata = [k]``."""
    c = fdata[0]
    k = idata[0]
    g = np.zeros(theta.shape[0])
    s = 0.0
    for i in range(k, theta.shape[0]):
        s += theta[i] * theta[i]
        g[i] = -c * theta[i]
    return -0.5 * c * s, g


def _positive(name, value):
    value = float(value)
    if not (np.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive finite number, got {value}")
    return value


def _dim(dim, minimum):
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or dim < minimum:
        raise ValueError(f"dim must be an integer >= {minimum}, got {dim!r}")
    return int(dim)


def ring(dim: int = 2, radius: float = 1.0) -> Model:
    """Ring (sphere) of minima ``|theta| = radius`` in ``dim`` >= 2 dimensions.

    The initial point is ``(radius, 0, ..., 0)``, a point of the minimum set.
    """
    dim = _dim(dim, 2)
    radius = _positive("radius", radius)
    x0 = np.zeros(dim)
    x0[0] = radius
    m = Model(
        ring_lpg,
        {"theta": (dim,)},
        name="ring",
        data=(np.array([radius]), np.zeros(0, np.int64)),
        initial_point=lambda rng: x0.copy(),
        description=f"ring of minima |theta| = {radius:g} in {dim}-D, L = (|theta|^2 - R^2)^2 / 4",
    )
    m.minimum_loss = 0.0
    m.distance_to_minimum_set = lambda th: np.abs(
        np.linalg.norm(np.atleast_2d(np.asarray(th, float)), axis=1) - radius
    )
    return m


def hyperbola() -> Model:
    """Hyperbola of minima ``a b = 1`` of ``L(a, b) = (a b - 1)^2``; initial point (1, 1)."""
    m = Model(
        hyperbola_lpg,
        {"a": (), "b": ()},
        name="hyperbola",
        initial_point=lambda rng: np.array([1.0, 1.0]),
        description="hyperbola of minima a b = 1, L = (a b - 1)^2 (barrier 1 at the origin)",
    )
    m.minimum_loss = 0.0
    m.barrier = 1.0

    def dist(th):
        th = np.atleast_2d(np.asarray(th, float))
        return np.abs(th[:, 0] * th[:, 1] - 1.0)

    m.distance_to_minimum_set = dist
    return m


def flat_valley(dim: int = 2, flat: int = 1, curvature: float = 1.0) -> Model:
    """Flat valley: ``L = curvature |theta_{flat:}|^2 / 2``, free along the first ``flat`` axes."""
    dim = _dim(dim, 2)
    if isinstance(flat, bool) or not isinstance(flat, (int, np.integer)) or not 1 <= flat < dim:
        raise ValueError(f"flat must be an integer in [1, dim - 1] = [1, {dim - 1}], got {flat!r}")
    curvature = _positive("curvature", curvature)
    m = Model(
        flat_valley_lpg,
        {"theta": (dim,)},
        name="flat_valley",
        data=(np.array([curvature]), np.array([int(flat)], dtype=np.int64)),
        initial_point=lambda rng: np.zeros(dim),
        description=f"flat valley in {dim}-D, flat along {int(flat)} axes",
    )
    m.minimum_loss = 0.0
    k = int(flat)
    m.distance_to_minimum_set = lambda th: np.linalg.norm(
        np.atleast_2d(np.asarray(th, float))[:, k:], axis=1
    )
    return m
