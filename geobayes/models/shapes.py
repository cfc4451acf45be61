"""Classic hard shapes: Rosenbrock banana, Neal's funnel, double well.

* ``banana``: hybrid Rosenbrock ``log p = -a (x1 - mu)^2 - b (x2 - x1^2)^2``
  (Pagani et al. 2022), so ``x1 ~ N(mu, 1/(2a))`` and ``x2 | x1 ~ N(x1^2, 1/(2b))``:
  ``E[x1] = mu``, ``E[x2] = mu^2 + 1/(2a)``.
* ``funnel``: Neal (2003): ``v ~ N(0, 3^2)``, ``x_i | v ~ N(0, exp(v))`` for
  ``i = 1..dim-1`` (standard deviation ``exp(v/2)``).
* ``double_well``: ``log p = -h (x1^2 - 1)^2 - |x_{2:}|^2 / 2``, two modes at ``x1 = +-1``
  separated by a barrier of ``h`` nats.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from geobayes.models.base import Model

__all__ = ["banana", "funnel", "double_well"]


@njit(cache=True)
def banana_lpg(theta, fdata, idata):
    """Hybrid Rosenbrock; ``fdata = [a, b, mu]``."""
    a, b, mu = fdata[0], fdata[1], fdata[2]
    x1, x2 = theta[0], theta[1]
    r = x2 - x1 * x1
    g = np.empty(2)
    g[0] = -2.0 * a * (x1 - mu) + 4.0 * b * r * x1
    g[1] = -2.0 * b * r
    return -a * (x1 - mu) ** 2 - b * r * r, g


def banana(a: float = 0.05, b: float = 5.0, mu: float = 1.0) -> Model:
    """Rosenbrock banana in 2-D (see module docstring); ``a``, ``b`` > 0."""
    if not (a > 0 and b > 0):
        raise ValueError(f"banana needs a > 0 and b > 0, got a={a}, b={b}")
    m = Model(
        banana_lpg,
        {"x": (2,)},
        name="banana",
        data=(np.array([a, b, mu], dtype=float), np.zeros(0, np.int64)),
        description="Rosenbrock banana (hybrid Rosenbrock), 2-D",
    )
    m.true_mean = np.array([mu, mu * mu + 0.5 / a])
    return m


@njit(cache=True)
def funnel_lpg(theta, fdata, idata):
    """Neal's funnel; ``fdata = [scale of v]``; ``theta = (v, x_1..x_{d-1})``."""
    s = fdata[0]
    v = theta[0]
    n = theta.shape[0] - 1
    ev = math.exp(-v)
    g = np.empty(theta.shape[0])
    ss = 0.0
    for i in range(n):
        xi = theta[i + 1]
        ss += xi * xi
        g[i + 1] = -xi * ev
    lp = -0.5 * v * v / (s * s) - 0.5 * n * v - 0.5 * ss * ev
    g[0] = -v / (s * s) - 0.5 * n + 0.5 * ss * ev
    return lp, g


def funnel(dim: int = 10, scale: float = 3.0) -> Model:
    """Neal's funnel of dimension ``dim`` (``v`` and ``dim - 1`` coordinates ``x``)."""
    dim = int(dim)
    if dim < 2 or not scale > 0:
        raise ValueError(f"funnel needs dim >= 2 and scale > 0, got dim={dim}, scale={scale}")
    m = Model(
        funnel_lpg,
        {"v": (), "x": (dim - 1,)},
        name="funnel",
        data=(np.array([scale], dtype=float), np.zeros(0, np.int64)),
        description=f"Neal's funnel, dim {dim}",
    )
    m.true_mean = np.zeros(dim)
    return m


@njit(cache=True)
def double_well_lpg(theta, fdata, idata):
    """Double well; ``fdata = [h]``."""
    h = fdata[0]
    x1 = theta[0]
    q = x1 * x1 - 1.0
    g = -theta.copy()
    g[0] = -4.0 * h * q * x1
    rest = 0.0
    for i in range(1, theta.shape[0]):
        rest += theta[i] * theta[i]
    return -h * q * q - 0.5 * rest, g


def double_well(dim: int = 2, barrier: float = 4.0) -> Model:
    """Double well with modes at ``x1 = +-1`` and a barrier of ``barrier`` nats."""
    dim = int(dim)
    if dim < 1 or not barrier > 0:
        raise ValueError(f"double_well needs dim >= 1 and barrier > 0, got {dim}, {barrier}")
    m = Model(
        double_well_lpg,
        {"x": (dim,)},
        name="double_well",
        data=(np.array([barrier], dtype=float), np.zeros(0, np.int64)),
        description=f"double well, dim {dim}, barrier {barrier:g} nats",
    )
    m.true_mean = np.zeros(dim)
    return m
